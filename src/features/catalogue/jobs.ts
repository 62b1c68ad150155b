// Sync jobs: queueing (`requestSync`), running (`runSyncJob`) and recovering (`recoverStuckJobs`).
//
// Life of a job: QUEUED (created, `{type: "sync"}` published on amo.tasks) → RUNNING (a worker
// claimed it: started_at, attempts + 1) → SUCCEEDED | FAILED (finished_at; `sync.completed`
// published on amo.events). The partial unique index `sync_job_one_active_per_account` allows one
// QUEUED/RUNNING job per account. Every final transition is guarded by `status = 'RUNNING'`, so
// however many times a job's message is delivered or its run repeated, it finishes (and announces
// it) once.
import { AmoBlockedError, AmoError, AmoNotConnectedError, AmoPaymentRequiredError, isAmoStaleError } from '../../platform/amo/index.ts';
import { Prisma } from '../../platform/db.ts';
import type { SyncJob } from '../../generated/prisma/client.ts';
import { SyncScope } from '../../generated/prisma/enums.ts';
import { TOPICS } from '../../platform/queue/index.ts';
import type { Services } from '../../platform/services.ts';
import type { AmoClientOverrides } from '../../platform/amo/clients.ts';
import { SYNC_ENTITIES, fetchFields, fetchPipelines, fetchTags, fetchUsers } from './fetch.ts';
import { writeFields, writePipelines, writeTags, writeUsers, type FieldRow, type PipelineRow, type TagRow, type UserRow } from './store.ts';

export type { SyncJob };
export { SyncScope };

/** Every scope, in the order a sync runs them. */
export const ALL_SYNC_SCOPES: readonly SyncScope[] = ['USERS', 'PIPELINES', 'FIELDS', 'TAGS'];

/** A job is FAILED once it has been tried this many times (each claim by a worker is a try). */
export const DEFAULT_SYNC_MAX_ATTEMPTS = 5;

/** `{ type: "sync", … }` on amo.tasks (key: the quiz account id). */
export interface SyncTask {
  type: 'sync';
  jobId: string;
  quizAccountId: string;
  scopes: SyncScope[];
}

/** Human messages a FAILED job carries in `error` (shown to the account's owner). */
export const SYNC_ERRORS = {
  blocked: 'amoCRM blocked this integration (403) for exceeding its API limits: requests to this account are stopped until it is connected again',
  stale: 'the amoCRM tokens were revoked: connect the account again',
  notConnected: 'the amoCRM account is not connected: connect it again',
  notPaid: 'amoCRM refused the request (402): the amoCRM account is not paid or this feature is off',
  died: 'the sync stopped without finishing too many times (its worker was restarted); try again',
} as const;

export interface SyncCounts {
  users: number;
  pipelines: number;
  steps: number;
  fields: number;
  tags: number;
}

export interface RunSyncOptions {
  /** tries before a retryable failure (429/5xx/network after the client's own retries) is final (default 5) */
  maxAttempts?: number;
  /** amoCRM client options (tests shorten the backoff) */
  client?: AmoClientOverrides;
}

/** The account does not exist or was disconnected (soft-deleted). */
export class SyncAccountNotFoundError extends Error {
  constructor(readonly accountId: string) {
    super(`amoCRM account ${accountId} is not connected`);
    this.name = 'SyncAccountNotFoundError';
  }
}

/** Deduplicated scopes in sync order; none (or an empty list) means all of them. Unknown names throw. */
export function normalizeScopes(scopes?: readonly string[] | null): SyncScope[] {
  if (!scopes || scopes.length === 0) return [...ALL_SYNC_SCOPES];
  for (const s of scopes) {
    if (!ALL_SYNC_SCOPES.includes(s as SyncScope)) throw new TypeError(`unknown sync scope "${String(s)}"`);
  }
  return ALL_SYNC_SCOPES.filter((s) => scopes.includes(s));
}

function isUniqueViolation(err: unknown): boolean {
  return err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002';
}

function activeJob(services: Pick<Services, 'db'>, accountId: string): Promise<SyncJob | null> {
  return services.db.syncJob.findFirst({ where: { accountId, status: { in: ['QUEUED', 'RUNNING'] } }, orderBy: { queuedAt: 'desc' } });
}

/** Publishes a job's task on amo.tasks. */
export function publishSyncTask(services: Pick<Services, 'queue'>, job: Pick<SyncJob, 'id' | 'scopes'>, quizAccountId: string): Promise<void> {
  const task: SyncTask = { type: 'sync', jobId: job.id, quizAccountId, scopes: normalizeScopes(job.scopes) };
  return services.queue.publish(TOPICS.amoTasks, quizAccountId, task);
}

/**
 * Queues a sync of the account (`AmoAccount.id`): all scopes when none are given. When the account
 * already has a QUEUED or RUNNING job, that job is returned (whatever its scopes) and nothing is
 * queued. Otherwise a QUEUED job is created and `{type: "sync", jobId, quizAccountId, scopes}` is
 * published on amo.tasks, keyed by the quiz account id. Resolves at once with the job.
 *
 * A lost publish (the process dies between the commit and the publish, or the broker refuses it)
 * leaves a QUEUED job that `recoverStuckJobs` publishes again. Throws SyncAccountNotFoundError
 * for a missing or disconnected account, TypeError for an unknown scope.
 */
export async function requestSync(services: Services, accountId: string, scopes?: readonly SyncScope[] | null): Promise<SyncJob> {
  const wanted = normalizeScopes(scopes);
  const account = await services.db.amoAccount.findUnique({ where: { id: accountId }, select: { quizAccountId: true, deletedAt: true } });
  if (!account || account.deletedAt) throw new SyncAccountNotFoundError(accountId);

  for (let tries = 0; tries < 5; tries++) {
    const existing = await activeJob(services, accountId);
    if (existing) return existing;
    let job: SyncJob;
    try {
      job = await services.db.syncJob.create({ data: { accountId, scopes: wanted, status: 'QUEUED' } });
    } catch (err) {
      // another request won the race (partial unique index): answer with its job
      if (isUniqueViolation(err)) continue;
      throw err;
    }
    try {
      await publishSyncTask(services, job, account.quizAccountId);
    } catch (err) {
      services.logger.error({ jobId: job.id, accountId, err: (err as Error)?.message }, 'could not publish the sync task; recoverStuckJobs will publish it again');
    }
    return job;
  }
  // the active job kept finishing between our insert and our read: a new one is due, but say so
  throw new Error("could not queue the sync: the account's sync jobs changed too quickly; try again");
}

// ---------------------------------------------------------------------------------- running

const NO_COUNTS: SyncCounts = { users: 0, pipelines: 0, steps: 0, fields: 0, tags: 0 };

/** Fetches the scopes from amoCRM (all of them first), then writes each kind in its transaction. */
export async function syncCatalogue(
  services: Pick<Services, 'db'>,
  client: Parameters<typeof fetchUsers>[0],
  accountId: string,
  scopes: readonly SyncScope[],
): Promise<SyncCounts> {
  const has = (s: SyncScope) => scopes.includes(s);
  let users: UserRow[] | undefined;
  let pipelines: PipelineRow[] | undefined;
  let fields: FieldRow[] | undefined;
  let tags: TagRow[] | undefined;
  if (has('USERS')) users = await fetchUsers(client);
  if (has('PIPELINES')) pipelines = await fetchPipelines(client);
  if (has('FIELDS')) fields = await fetchFields(client);
  if (has('TAGS')) tags = await fetchTags(client);

  const counts: SyncCounts = { ...NO_COUNTS };
  const entities = SYNC_ENTITIES.map((e) => e.entity);
  if (users) counts.users = await writeUsers(services.db, accountId, users);
  if (pipelines) Object.assign(counts, await writePipelines(services.db, accountId, pipelines));
  if (fields) counts.fields = await writeFields(services.db, accountId, entities, fields);
  if (tags) counts.tags = await writeTags(services.db, accountId, entities, tags);
  return counts;
}

/** The human error of a failure that no retry can fix, or null when trying again may succeed. */
export function definitiveSyncError(err: unknown): string | null {
  if (err instanceof AmoBlockedError) return SYNC_ERRORS.blocked;
  if (isAmoStaleError(err)) return SYNC_ERRORS.stale;
  if (err instanceof AmoNotConnectedError) return SYNC_ERRORS.notConnected;
  if (err instanceof AmoPaymentRequiredError) return SYNC_ERRORS.notPaid;
  if (err instanceof AmoError && !err.retryable) return `amoCRM refused the sync: ${err.message}`;
  return null;
}

/** A failure's message as the owner may see it (amoCRM errors carry no secrets; others stay in the log). */
function describe(err: unknown): string {
  if (err instanceof AmoError) return err.message;
  return 'an internal error interrupted the sync';
}

/**
 * Moves a RUNNING job to its final status (counts, finished_at, error; the account's last_sync_at
 * on success) and publishes `sync.completed`. Does nothing and returns false when the job is no
 * longer RUNNING (another run or a recovery finished it first).
 */
async function finishJob(services: Services, job: Pick<SyncJob, 'id' | 'accountId'>, status: 'SUCCEEDED' | 'FAILED', counts: SyncCounts, error: string | null): Promise<boolean> {
  const finished = await services.db.$transaction(async (tx) => {
    const n = await tx.$executeRaw`
      UPDATE sync_job
      SET status = ${status}::"JobStatus", finished_at = now(), error = ${error},
          users = ${counts.users}, pipelines = ${counts.pipelines}, steps = ${counts.steps}, fields = ${counts.fields}, tags = ${counts.tags}
      WHERE id = ${job.id}::uuid AND status = 'RUNNING'`;
    if (n === 0) return false;
    if (status === 'SUCCEEDED') {
      await tx.$executeRaw`UPDATE amo_account SET last_sync_at = now(), updated_at = now() WHERE id = ${job.accountId}::uuid`;
    }
    return true;
  });
  if (!finished) return false;
  const account = await services.db.amoAccount.findUnique({ where: { id: job.accountId }, select: { quizAccountId: true } });
  if (account) await services.events.syncCompleted({ quizAccountId: account.quizAccountId, accountId: job.accountId, jobId: job.id });
  return true;
}

/**
 * Runs a sync job. Idempotent and crash-safe:
 * - a SUCCEEDED/FAILED job is not run again (resolves with it); an unknown id resolves null;
 * - a QUEUED or RUNNING job is claimed (RUNNING, started_at, attempts + 1) and run: a RUNNING job
 *   seen again (redelivery after a crash) simply runs again, the sync being an idempotent upsert;
 * - success: SUCCEEDED with counts, the account's last_sync_at, `sync.completed`;
 * - blocked (403), stale (revoked tokens), disconnected, or another amoCRM refusal that no retry
 *   can fix: FAILED with a human `error`, `sync.completed`; resolves;
 * - a retryable failure (429/5xx/network after the client's own retries, a database error):
 *   rethrown so the queue delivers the message again; once the job has been tried `maxAttempts`
 *   times it is FAILED instead (and this resolves).
 */
export async function runSyncJob(services: Services, jobId: string, options: RunSyncOptions = {}): Promise<SyncJob | null> {
  const { db, logger } = services;
  const maxAttempts = Math.max(1, options.maxAttempts ?? DEFAULT_SYNC_MAX_ATTEMPTS);
  const found = await db.syncJob.findUnique({ where: { id: jobId } });
  if (!found) {
    logger.warn({ jobId }, 'sync job not found; task ignored');
    return null;
  }
  if (found.status === 'SUCCEEDED' || found.status === 'FAILED') return found;

  const claimed = await db.$executeRaw`
    UPDATE sync_job SET status = 'RUNNING', started_at = now(), finished_at = NULL, error = NULL, attempts = attempts + 1
    WHERE id = ${jobId}::uuid AND status IN ('QUEUED', 'RUNNING')`;
  const job = await db.syncJob.findUnique({ where: { id: jobId } });
  if (!job) return null;
  if (claimed === 0 || job.status !== 'RUNNING') return job; // finished in between

  const log = logger.child({ jobId, accountId: job.accountId, attempt: job.attempts });
  const scopes = normalizeScopes(job.scopes);
  const started = Date.now();
  try {
    const account = await db.amoAccount.findUnique({ where: { id: job.accountId }, select: { deletedAt: true } });
    if (!account || account.deletedAt) throw new AmoNotConnectedError('The amoCRM account is not connected', { accountId: job.accountId });
    const client = services.amo.client(job.accountId, options.client);
    const counts = await syncCatalogue(services, client, job.accountId, scopes);
    await finishJob(services, job, 'SUCCEEDED', counts, null);
    log.info({ scopes, ...counts, ms: Date.now() - started }, 'amoCRM catalogue synced');
  } catch (err) {
    const definitive = definitiveSyncError(err);
    if (definitive !== null) {
      log.warn({ err: (err as Error)?.message }, 'sync failed');
      await finishJob(services, job, 'FAILED', NO_COUNTS, definitive);
    } else if (job.attempts >= maxAttempts) {
      log.error({ err }, 'sync failed; giving up');
      await finishJob(services, job, 'FAILED', NO_COUNTS, `the sync failed ${job.attempts} times; last error: ${describe(err)}`);
    } else {
      log.warn({ err: (err as Error)?.message }, 'sync failed; it will be retried');
      throw err;
    }
  }
  return db.syncJob.findUnique({ where: { id: jobId } });
}

// ---------------------------------------------------------------------------------- recovery

export interface RecoverOptions {
  /** RUNNING jobs are stuck after this long (default: `olderThanMs`) */
  runningOlderThanMs?: number;
  /** a stuck RUNNING job tried this many times is FAILED instead of re-published (default 5) */
  maxAttempts?: number;
}

export interface RecoverReport {
  /** QUEUED and RUNNING jobs whose task was published again */
  republished: string[];
  /** RUNNING jobs given up (FAILED) */
  failed: string[];
}

/**
 * Never leaves a job waiting forever:
 * - a QUEUED job older than `olderThanMs` (its task was lost: the publish failed after the commit,
 *   or the message was dead-lettered) gets its task published again;
 * - a RUNNING job started more than `runningOlderThanMs` ago (its process died, or its message was
 *   dead-lettered between retries) gets its task published again, or is FAILED when it has been
 *   tried `maxAttempts` times already. Its started_at is bumped first, in one guarded update, so
 *   replicas recovering at the same moment publish it once.
 * A duplicate task is harmless: a finished job is skipped by runSyncJob.
 */
export async function recoverStuckJobs(services: Services, olderThanMs: number, options: RecoverOptions = {}): Promise<RecoverReport> {
  const { db, logger } = services;
  const maxAttempts = Math.max(1, options.maxAttempts ?? DEFAULT_SYNC_MAX_ATTEMPTS);
  const queuedBefore = new Date(Date.now() - olderThanMs);
  const runningBefore = new Date(Date.now() - (options.runningOlderThanMs ?? olderThanMs));
  const report: RecoverReport = { republished: [], failed: [] };

  const stuck = await db.syncJob.findMany({
    where: {
      OR: [
        { status: 'QUEUED', queuedAt: { lt: queuedBefore } },
        { status: 'RUNNING', OR: [{ startedAt: { lt: runningBefore } }, { startedAt: null }] },
      ],
    },
    include: { account: { select: { quizAccountId: true } } },
    orderBy: { queuedAt: 'asc' },
    take: 500,
  });

  for (const job of stuck) {
    try {
      if (job.status === 'RUNNING') {
        if (job.attempts >= maxAttempts) {
          if (await finishJob(services, job, 'FAILED', NO_COUNTS, SYNC_ERRORS.died)) report.failed.push(job.id);
          continue;
        }
        const n = await db.syncJob.updateMany({
          where: { id: job.id, status: 'RUNNING', startedAt: job.startedAt },
          data: { startedAt: new Date() },
        });
        if (n.count === 0) continue; // another replica recovered it, or it moved on
      }
      await publishSyncTask(services, job, job.account.quizAccountId);
      report.republished.push(job.id);
    } catch (err) {
      logger.error({ jobId: job.id, err: (err as Error)?.message }, 'could not recover a stuck sync job');
    }
  }
  if (report.republished.length || report.failed.length) logger.warn(report, 'recovered stuck sync jobs');
  return report;
}
