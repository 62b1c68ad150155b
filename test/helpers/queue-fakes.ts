// Small fakes for the tests of the queue's shared delivery loop (src/platform/queue/deliver.ts):
// records are plain objects, commits and dead letters are recorded in the order they happen.
import { createLogger } from '../../src/platform/logger.ts';
import type { EncodedRecord } from '../../src/platform/queue/codec.ts';
import { deliver, StopSignals, type Delivery, type Position } from '../../src/platform/queue/deliver.ts';
import type { RetryPolicy } from '../../src/platform/queue/retry.ts';
import { TOPICS, type BatchHandler, type DeadLetter, type Handler, type QueueMessage } from '../../src/platform/queue/types.ts';

const log = createLogger({ level: 'silent', name: 'queue-fakes' });

/** Lets every pending promise callback run (setImmediate is not mocked). */
export const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** JSON-encoded records at offsets 0, 1, … (a string is taken as the raw value text). */
export function records(...values: unknown[]): EncodedRecord[] {
  return values.map((v, i) => ({ key: `k${i}`, value: typeof v === 'string' ? v : JSON.stringify(v), offset: String(i) }));
}

export const valueOf = (m: QueueMessage) => m.value as { id: string; poison?: boolean };

/** A subscription's delivery side and a partition position, recording what happens in `events`. */
export function fake(opts: { handler?: Handler; batch?: BatchHandler; maxBatch?: number; retry?: Partial<RetryPolicy>; parkFails?: boolean }) {
  const events: string[] = [];
  const parked: DeadLetter[] = [];
  const commits: string[] = [];
  const signals = new StopSignals();
  let alive = true;
  const batch = opts.batch ? { handler: opts.batch, maxBatch: opts.maxBatch ?? 100 } : undefined;
  const delivery: Delivery = {
    topic: TOPICS.quizResults,
    group: 'pfx.workers',
    // As BaseQueue.consumeBatch builds it: one message is a batch of one.
    handler: opts.handler ?? ((m) => opts.batch!([m])),
    batch,
    retry: { maxAttempts: 3, initialBackoffMs: 100, maxBackoffMs: 150, ...opts.retry },
    signals,
    log,
    async deadLetter(deadLetter) {
      if (opts.parkFails) throw new Error('dlq unavailable');
      events.push(`park ${deadLetter.offset}`);
      parked.push(deadLetter);
    },
  };
  let wrapped = 0;
  const position: Position = {
    partition: 2,
    alive: () => alive,
    commit(offset) {
      events.push(`commit ${offset}`);
      commits.push(offset);
    },
    async whileHandling(work) {
      wrapped++;
      return work();
    },
  };
  return {
    delivery,
    position,
    events,
    parked,
    commits,
    signals,
    wrapped: () => wrapped,
    kill: () => {
      alive = false;
    },
    run: (recs: EncodedRecord[]) => deliver(recs, delivery, position),
  };
}
