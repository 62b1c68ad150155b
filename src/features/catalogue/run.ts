// Running a sync job (`runSyncJob`): the catalogue fetched from amoCRM and written to the cache,
// the job finished once whatever the outcome, or its failure rethrown to be retried.
import { AmoBlockedError, AmoError, AmoNotConnectedError, AmoPaymentRequiredError, isAmoStaleError } from '../../platform/amo/index.ts';
import type { Services } from '../../platform/services.ts';
import type { AmoClientOverrides } from '../../platform/amo/clients.ts';
import { SYNC_ENTITIES, fetchFields, fetchPipelines, fetchTags, fetchUsers } from './fetch.ts';
import { DEFAULT_SYNC_MAX_ATTEMPTS, NO_COUNTS, SYNC_ERRORS, finishJob, normalizeScopes, type SyncCounts, type SyncJob, type SyncScope } from './jobs.ts';
import { fetchThenWrite, type SyncPart } from './fetch-write.ts';
import { writeFields, writePipelines, writeTags, writeUsers } from './store.ts';

export interface RunSyncOptions {
  /** tries before a retryable failure (429/5xx/network after the client's own retries) is final (default 5) */
  maxAttempts?: number;
  /** amoCRM client options (tests shorten the backoff) */
  client?: AmoClientOverrides;
  /** the worker stopping: the amoCRM calls in flight are cut short and the job is left RUNNING (run again when redelivered or recovered) */
  signal?: AbortSignal;
  /** amoCRM lists fetched at once by the sync (default 2: see fetch-write.ts) */
  concurrency?: number;
}

/** The cache writes of a sync (store.ts; unit tests pass fakes). */
export interface CatalogueWriters {
  writeUsers: typeof writeUsers;
  writePipelines: typeof writePipelines;
  writeFields: typeof writeFields;
  writeTags: typeof writeTags;
}
const STORE_WRITERS: CatalogueWriters = { writeUsers, writePipelines, writeFields, writeTags };

export interface SyncCatalogueOptions {
  /** the worker stopping: the amoCRM calls in flight are cut short */
  signal?: AbortSignal;
  /** amoCRM lists fetched at once (default DEFAULT_SYNC_CONCURRENCY, 2) */
  concurrency?: number;
  writers?: CatalogueWriters;
}

/**
 * Fetches the scopes from amoCRM — users, pipelines, then each entity's tags, then each entity's
 * fields, up to `concurrency` lists at once (fetch-write.ts), every request through the client's
 * rate limiter — and writes each kind (fields and tags: each entity's) in its transaction in that
 * order, one write after another, as soon as it and the kinds before it have arrived, while the
 * later ones are fetched. Tags before fields: the long lists (tags run to many pages, an entity's
 * fields to one or a few) first, so the lists in flight finish close together and what is written
 * after amoCRM's last answer is a short list's, not two tag lists'. Each write is a whole kind (or entity), so a fetch
 * failing halfway leaves every kind either as it was or as amoCRM has it now (the failure aborts
 * the lists in flight and starts no write); the retry syncs all of them again.
 */
export async function syncCatalogue(
  services: Pick<Services, 'db'>,
  client: Parameters<typeof fetchUsers>[0],
  accountId: string,
  scopes: readonly SyncScope[],
  options: SyncCatalogueOptions = {},
): Promise<SyncCounts> {
  const has = (s: SyncScope) => scopes.includes(s);
  const { db } = services;
  const w = options.writers ?? STORE_WRITERS;
  const counts: SyncCounts = { ...NO_COUNTS };
  const parts: SyncPart[] = [];
  if (has('USERS')) {
    parts.push(
      part(
        'users',
        (signal) => fetchUsers(client, signal),
        async (rows) => void (counts.users = await w.writeUsers(db, accountId, rows)),
      ),
    );
  }
  if (has('PIPELINES')) {
    parts.push(
      part(
        'pipelines',
        (signal) => fetchPipelines(client, signal),
        async (rows) => void Object.assign(counts, await w.writePipelines(db, accountId, rows)),
      ),
    );
  }
  if (has('TAGS')) {
    for (const e of SYNC_ENTITIES) {
      parts.push(
        part(
          `tags:${e.entity}`,
          (signal) => fetchTags(client, signal, [e]),
          async (rows) => void (counts.tags += await w.writeTags(db, accountId, [e.entity], rows)),
        ),
      );
    }
  }
  if (has('FIELDS')) {
    for (const e of SYNC_ENTITIES) {
      parts.push(
        part(
          `fields:${e.entity}`,
          (signal) => fetchFields(client, signal, [e]),
          async (rows) => void (counts.fields += await w.writeFields(db, accountId, [e.entity], rows)),
        ),
      );
    }
  }
  await fetchThenWrite(parts, { concurrency: options.concurrency, signal: options.signal });
  return counts;
}

const part = <T>(name: string, fetch: (signal: AbortSignal) => Promise<T>, write: (rows: T) => Promise<void>): SyncPart<T> => ({ name, fetch, write });

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
    const counts = await syncCatalogue(services, client, job.accountId, scopes, { signal: options.signal, concurrency: options.concurrency });
    await finishJob(services, job, 'SUCCEEDED', counts, null);
    log.info({ scopes, ...counts, ms: Date.now() - started }, 'amoCRM catalogue synced');
  } catch (err) {
    if (options.signal?.aborted) {
      // cut short by a stop, not a failure: no attempt is given up on, the job is run again
      log.info({ scopes, ms: Date.now() - started }, 'sync interrupted by the worker stopping');
      throw err;
    }
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
