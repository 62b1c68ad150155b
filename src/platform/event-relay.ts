// The relay of amo.events' outbox (event-outbox.ts holds the rows): publishes pending rows to Kafka
// and deletes them. A row stays until the broker took it: a failed or timed-out publish leaves it
// for a later pass, after a doubling delay, however long the broker is down. Delivery is
// at-least-once: a crash (or a timed-out publish the broker took after all) between the publish
// and the delete publishes the row again, under the same `id`, and bridgeEvents drops the repeat.
import { TOPICS, type Queue } from './queue/index.ts';
import type { Logger } from './logger.ts';

/** A pending event as the relay claimed it. */
export interface OutboxEvent {
  /** the row's id: the event's `id` on the topic */
  id: string;
  quizAccountId: string;
  /** the event without its id */
  payload: Record<string, unknown>;
  /** tries so far, this one included */
  attempts: number;
  createdAt: Date;
}

export interface EventOutboxStore {
  /** Claims up to `limit` due rows, oldest first, for `leaseMs` (attempts + 1): no other pass takes them meanwhile. */
  claim(limit: number, leaseMs: number): Promise<OutboxEvent[]>;
  /** The broker took them: the rows go. */
  published(ids: readonly string[]): Promise<void>;
  /** Not published: each row is due again after its delay. */
  retryLater(rows: readonly { id: string; delayMs: number }[], error: string): Promise<void>;
}

export interface RelayEventsOptions {
  store: EventOutboxStore;
  queue: Pick<Queue, 'publishBatch'>;
  logger: Logger;
  /** a sweep every this many ms for rows nobody woke the relay for (another replica's, left by a crash); 0: none */
  pollMs?: number;
  /** rows per publish (default 100) */
  batch?: number;
  /** a publish not answered in this time counts as failed (default 20 s) */
  publishTimeoutMs?: number;
  /** how long a pass owns the rows it claimed (default 3 × publishTimeoutMs) */
  leaseMs?: number;
  /** first retry delay, doubled per try (default 500 ms) */
  backoffMs?: number;
  /** longest retry delay (default 30 s) */
  maxBackoffMs?: number;
}

export interface EventRelay {
  /** Relays now: resolves when a pass that started after this call has ended (never rejects). */
  flush(): Promise<void>;
  /** Stops the sweep and the retries; waits for the pass in flight. */
  stop(): Promise<void>;
}

/** The delay before try `attempts + 1`: backoffMs, doubled per try, at most maxBackoffMs. */
export function relayBackoff(attempts: number, backoffMs: number, maxBackoffMs: number): number {
  return Math.min(maxBackoffMs, backoffMs * 2 ** Math.max(0, attempts - 1));
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the broker did not take the events within ${ms} ms`)), ms);
    timer.unref?.();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function relayEvents(options: RelayEventsOptions): EventRelay {
  const { store, queue, logger } = options;
  const batch = options.batch ?? 100;
  const publishTimeoutMs = options.publishTimeoutMs ?? 20_000;
  const leaseMs = options.leaseMs ?? publishTimeoutMs * 3;
  const backoffMs = options.backoffMs ?? 500;
  const maxBackoffMs = options.maxBackoffMs ?? 30_000;
  let stopped = false;
  let running: Promise<void> | undefined;
  let next: Promise<void> | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let retryAt = Infinity;

  const retryIn = (ms: number) => {
    // one timer, at the earliest row due again
    if (stopped || Date.now() + ms >= retryAt) return;
    clearTimeout(retryTimer);
    retryAt = Date.now() + ms;
    retryTimer = setTimeout(() => {
      retryAt = Infinity;
      void flush();
    }, ms);
    retryTimer.unref?.();
  };

  /** Claims and publishes batch after batch until none is left or a publish fails. */
  async function pass(): Promise<void> {
    while (!stopped) {
      const rows = await store.claim(batch, leaseMs);
      if (rows.length === 0) return;
      rows.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
      try {
        await withTimeout(
          queue.publishBatch(
            TOPICS.amoEvents,
            rows.map((r) => ({ key: r.quizAccountId, value: { ...r.payload, id: r.id } })),
          ),
          publishTimeoutMs,
        );
      } catch (err) {
        const error = (err as Error)?.message ?? String(err);
        const delays = rows.map((r) => ({ id: r.id, delayMs: relayBackoff(r.attempts, backoffMs, maxBackoffMs) }));
        await store.retryLater(delays, error);
        retryIn(Math.min(...delays.map((d) => d.delayMs)));
        logger.warn({ err: error, events: rows.length, attempts: Math.max(...rows.map((r) => r.attempts)) }, 'amo.events not published; the outbox keeps them for a retry');
        return;
      }
      await store.published(rows.map((r) => r.id));
      if (rows.length < batch) return;
    }
  }

  function flush(): Promise<void> {
    if (stopped) return Promise.resolve();
    if (!running) {
      running = pass()
        .catch((err) => {
          // the database failed us (the rows stay): try again later
          logger.error({ err: (err as Error)?.message }, 'event relay pass failed');
          retryIn(maxBackoffMs);
        })
        .finally(() => (running = undefined));
      return running;
    }
    // rows written while a pass runs may be past its claims: one more pass after it covers them
    next ??= running.then(() => {
      next = undefined;
      return flush();
    });
    return next;
  }

  const sweep = options.pollMs ? setInterval(() => void flush(), options.pollMs) : undefined;
  sweep?.unref?.();

  return {
    flush,
    async stop() {
      stopped = true;
      clearInterval(sweep);
      clearTimeout(retryTimer);
      await running;
    },
  };
}
