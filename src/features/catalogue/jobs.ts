// Sync jobs: what a job is, queueing one (`requestSync`), and its final transition (`finishJob`).
// Running a job is run.ts (`runSyncJob`), recovering stuck ones recover.ts (`recoverStuckJobs`).
//
// Life of a job: QUEUED (created, `{type: "sync"}` published on amo.tasks) → RUNNING (a worker
// claimed it: started_at, attempts + 1) → SUCCEEDED | FAILED (finished_at; `sync.completed`
// written to amo.events' outbox in the same transaction, and relayed). The partial unique index `sync_job_one_active_per_account` allows one
// QUEUED/RUNNING job per account. Every final transition is guarded by `status = 'RUNNING'`, so
// however many times a job's message is delivered or its run repeated, it finishes (and announces
// it) once.
import { Prisma } from '../../platform/db.ts';
import { enqueueEvents } from '../../platform/event-outbox.ts';
import type { SyncJob } from '../../generated/prisma/client.ts';
import { SyncScope } from '../../generated/prisma/enums.ts';
import { TOPICS } from '../../platform/queue/index.ts';
import type { Services } from '../../platform/services.ts';

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

/** The counts of a job that wrote nothing (a failed one). */
export const NO_COUNTS: SyncCounts = { users: 0, pipelines: 0, steps: 0, fields: 0, tags: 0 };

/**
 * Moves a RUNNING job to its final status (counts, finished_at, error; the account's last_sync_at
 * on success) and, in the same transaction, writes `sync.completed` to amo.events' outbox; then
 * relays it (waiting at most FLUSH_WAIT_MS: a broker outage holds up neither the caller nor the
 * event, which the relay publishes once the broker is back). Does nothing and returns false when
 * the job is no longer RUNNING (another run or a recovery finished it first).
 */
export async function finishJob(
  services: Services,
  job: Pick<SyncJob, 'id' | 'accountId'>,
  status: 'SUCCEEDED' | 'FAILED',
  counts: SyncCounts,
  error: string | null,
): Promise<boolean> {
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
    const account = await tx.amoAccount.findUnique({ where: { id: job.accountId }, select: { quizAccountId: true } });
    if (account) await enqueueEvents(tx, [{ type: 'sync.completed', quizAccountId: account.quizAccountId, accountId: job.accountId, jobId: job.id }]);
    return true;
  });
  if (!finished) return false;
  await services.events.flush();
  return true;
}
