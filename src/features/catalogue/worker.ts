// The amo.tasks consumer. One consumer per process reads amo.tasks in the shared group
// `gateway-workers` (each task goes to exactly one member of the group), so every task type is
// dispatched from here: `sync` runs the sync job, other types (e.g. `rule.changed`) go to the
// handlers given in `options.handlers`; a type nobody handles is acknowledged and ignored.
import { TOPICS, type QueueMessage } from '../../platform/queue/index.ts';
import type { Services } from '../../platform/services.ts';
import { AMO_TASKS_GROUP } from '../../platform/queue/groups.ts';
import type { AmoClientOverrides } from '../../platform/amo/clients.ts';
import { DEFAULT_SYNC_MAX_ATTEMPTS, type SyncTask } from './jobs.ts';
import { recoverStuckJobs } from './recover.ts';
import { runSyncJob } from './run.ts';

export { AMO_TASKS_GROUP };

/** A task as it arrived on amo.tasks (its `type` says which shape). */
export type AmoTask = { type: string; quizAccountId?: string; [k: string]: unknown };

/**
 * Handles one task type. Throwing makes the queue deliver the message again (then dead-letter it).
 * `signal` aborts when the worker stops: amoCRM calls made for the task should take it.
 */
export type AmoTaskHandler = (task: AmoTask, message: QueueMessage, signal?: AbortSignal) => Promise<void>;

/** Handlers by task type (`'rule.changed'`, …); a `sync` entry replaces the built-in one. */
export type AmoTaskHandlers = Partial<Record<string, AmoTaskHandler>>;

export interface AmoTaskOptions {
  handlers?: AmoTaskHandlers;
  /** tries of a sync job before a retryable failure is final (default 5) */
  maxAttempts?: number;
  /** amoCRM client options for sync runs (tests) */
  client?: AmoClientOverrides;
  /** given to every handler (startSyncWorker's: aborted when it stops) */
  signal?: AbortSignal;
}

/** The built-in `sync` handler: runs the job named by the task. */
export function syncTaskHandler(services: Services, options: Omit<AmoTaskOptions, 'handlers'> = {}): AmoTaskHandler {
  return async (task, _message, signal) => {
    const jobId = (task as Partial<SyncTask>).jobId;
    if (typeof jobId !== 'string' || !jobId) {
      services.logger.warn({ task }, 'sync task without a jobId; ignored');
      return;
    }
    await runSyncJob(services, jobId, { maxAttempts: options.maxAttempts, client: options.client, signal });
  };
}

/**
 * Dispatches one amo.tasks message by its `type`: `sync` → runSyncJob (unless `handlers.sync` is
 * given), any other type → `handlers[type]`; a malformed or unhandled task is ignored (logged).
 */
export async function handleAmoTask(services: Services, message: QueueMessage, options: AmoTaskOptions = {}): Promise<void> {
  const task = message.value as AmoTask | null;
  if (!task || typeof task !== 'object' || typeof task.type !== 'string') {
    services.logger.warn({ key: message.key, offset: message.offset }, 'amo.tasks message without a type; ignored');
    return;
  }
  const handler = options.handlers?.[task.type] ?? (task.type === 'sync' ? syncTaskHandler(services, options) : undefined);
  if (!handler) {
    services.logger.debug({ type: task.type }, 'amo.tasks message of a type this worker does not handle; ignored');
    return;
  }
  await handler(task, message, options.signal);
}

export interface SyncWorkerOptions extends AmoTaskOptions {
  /** consumer group (default `gateway-workers`) */
  group?: string;
  /** partitions (hence accounts) handled at once (default 4) */
  concurrency?: number;
  /** how often stuck jobs are recovered, ms (default 60 000; 0 turns it off) */
  recoverEveryMs?: number;
  /** a QUEUED job not picked up for this long has its task published again (default 120 000) */
  queuedStuckAfterMs?: number;
  /** a RUNNING job not finished after this long is run again or failed (default 900 000) */
  runningStuckAfterMs?: number;
}

export interface SyncWorker {
  stop(): Promise<void>;
}

/**
 * Consumes amo.tasks in `gateway-workers`, runs `sync` tasks (and `options.handlers` for other
 * types), and recovers stuck jobs every `recoverEveryMs` (unref'd timer; first pass right away).
 */
export async function startSyncWorker(services: Services, options: SyncWorkerOptions = {}): Promise<SyncWorker> {
  const recoverEveryMs = options.recoverEveryMs ?? 60_000;
  const queuedStuckAfterMs = options.queuedStuckAfterMs ?? 120_000;
  const runningStuckAfterMs = options.runningStuckAfterMs ?? 900_000;
  const maxAttempts = options.maxAttempts ?? DEFAULT_SYNC_MAX_ATTEMPTS;

  // Aborted as the worker stops, so a task's amoCRM calls do not hold the shutdown up (the message is redelivered).
  const stopping = new AbortController();
  const subscription = await services.queue.consume(
    TOPICS.amoTasks,
    options.group ?? AMO_TASKS_GROUP,
    (message) => handleAmoTask(services, message, { ...options, signal: stopping.signal }),
    { concurrency: options.concurrency ?? 4 },
  );

  let stopped = false;
  let recovering: Promise<unknown> | null = null;
  const recover = () => {
    if (stopped || recovering) return;
    recovering = recoverStuckJobs(services, queuedStuckAfterMs, { runningOlderThanMs: runningStuckAfterMs, maxAttempts })
      .catch((err) => services.logger.error({ err: (err as Error)?.message }, 'stuck sync job recovery failed'))
      .finally(() => {
        recovering = null;
      });
  };
  let timer: NodeJS.Timeout | undefined;
  let first: NodeJS.Timeout | undefined;
  if (recoverEveryMs > 0) {
    first = setTimeout(recover, 0);
    first.unref();
    timer = setInterval(recover, recoverEveryMs);
    timer.unref();
  }

  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      clearTimeout(first);
      clearInterval(timer);
      // stop() marks the subscription stopping at once, so a handler cut short is not retried but left for redelivery
      const draining = subscription.stop();
      stopping.abort(new Error('amo.tasks worker stopping'));
      await draining;
      await recovering;
    },
  };
}
