import type { Logger } from '../logger.ts';
import { contextOf, linksTo, SpanKind, SpanStatusCode, withSpan } from '../tracing.ts';
import { decodeRecord, type Decoded, type EncodedRecord } from './codec.ts';
import { handleWithRetries, Latch, type RetryPolicy } from './retry.ts';
import type { BatchHandler, DeadLetter, Handler, QueueMessage, TopicName } from './types.ts';

/** consumeBatch: the batch handler and its largest batch. */
export interface BatchSpec {
  handler: BatchHandler;
  maxBatch: number;
}

/** What consume/consumeBatch/broadcast ask of an implementation's subscribe(). */
export interface SubscribeSpec {
  /** The one-message handler (for consumeBatch `batch.handler([m])`, used when a batch failed). */
  handler: Handler;
  concurrency: number;
  /** broadcast: only messages published after subscribing. */
  fromLatest: boolean;
  batch?: BatchSpec;
}

/** The two signals of a subscription being stopped. */
export class StopSignals {
  /** No new message (or attempt) starts. */
  readonly stopping = new Latch();
  /** The grace period is over: stop waiting for the handler in flight (it is not committed). */
  readonly abandon = new Latch();

  /** Fires `stopping`, runs `drain` and fires `abandon` if it takes longer than `graceMs`. */
  async stopWithin(graceMs: number, drain: () => Promise<unknown>): Promise<void> {
    this.stopping.fire();
    const timer = setTimeout(() => this.abandon.fire(), graceMs);
    try {
      await drain();
    } finally {
      clearTimeout(timer);
    }
  }
}

/** One subscription's side of delivery: the same for every partition it reads. */
export interface Delivery {
  topic: TopicName;
  /** The full group id (reported in dead letters and logs). */
  group: string;
  handler: Handler;
  batch?: BatchSpec;
  retry: RetryPolicy;
  signals: StopSignals;
  log: Logger;
  /** Parks a dead letter and reports it; a rejection leaves the message uncommitted (redelivered). */
  deadLetter(deadLetter: DeadLetter, error: Error): Promise<void>;
}

/** One call's side: where the records come from and how their offsets are committed. */
export interface Position {
  partition: number;
  /** false: stop before the next message (stopping, rebalanced away, stale). */
  alive(): boolean;
  /** The record at `offset` and everything before it in the partition is done with. */
  commit(offset: string): Promise<void> | void;
  /** Wraps every handler run (Kafka: heartbeats while it runs). */
  whileHandling?<T>(work: () => Promise<T>): Promise<T>;
}

export function deadLetterOf(
  topic: TopicName,
  group: string,
  message: { key: string; value: unknown; partition?: number; offset?: string },
  error: Error,
  attempts: number,
): DeadLetter {
  return {
    topic,
    key: message.key,
    value: message.value,
    partition: message.partition,
    offset: message.offset,
    group,
    error: { name: error.name, message: error.message, stack: error.stack },
    attempts,
    failedAt: new Date().toISOString(),
  };
}

/**
 * Hands consecutive records of one partition to the subscription's handler, committing after
 * each finished. consumeBatch: up to `maxBatch` records per batch handler call, the last offset
 * committed once it finished; a failing batch (or one holding a value that is not JSON) is
 * handled one message at a time. One message: retried with backoff, then dead-lettered (a value
 * that is not JSON at once), then committed. true when every record is done with; false when it
 * stopped early (not alive, or aborted at stop): what is not committed is delivered again.
 */
export async function deliver(records: readonly EncodedRecord[], d: Delivery, at: Position): Promise<boolean> {
  const decoded = records.map((r) => decodeRecord(d.topic, at.partition, r));
  if (!d.batch) return oneByOne(decoded, d, at);
  for (let i = 0; i < decoded.length; i += d.batch.maxBatch) {
    if (!at.alive()) return false;
    const chunk = decoded.slice(i, i + d.batch.maxBatch);
    const messages = chunk.flatMap((m) => (m.ok ? [{ ...m.message, attempt: 1 }] : []));
    const outcome = messages.length === chunk.length ? await run(at, () => tryBatch(messages, d.batch!.handler, d)) : 'failed';
    if (outcome === 'aborted') return false;
    if (outcome === 'ok') {
      const last = chunk[chunk.length - 1];
      if (last) await at.commit(last.offset);
      continue;
    }
    if (!(await oneByOne(chunk, d, at))) return false;
  }
  return true;
}

async function oneByOne(decoded: readonly Decoded[], d: Delivery, at: Position): Promise<boolean> {
  for (const m of decoded) {
    if (!at.alive()) return false;
    const finished = await run(at, () => handleOne(m, d));
    if (!finished) return false; // abandoned at stop: not committed, so redelivered
    await at.commit(m.offset);
  }
  return true;
}

const run = <T>(at: Position, work: () => Promise<T>): Promise<T> => (at.whileHandling ? at.whileHandling(work) : work());

/** true when the message is done with (handled or dead-lettered). */
async function handleOne(m: Decoded, d: Delivery): Promise<boolean> {
  if (!m.ok) {
    // Not JSON: retrying cannot help.
    await d.deadLetter(deadLetterOf(d.topic, d.group, { key: m.key, value: m.text, partition: m.partition, offset: m.offset }, m.error, 1), m.error);
    return true;
  }
  const message = m.message;
  // A child of the producer's span (its traceparent header), however many tries it takes.
  const outcome = await withSpan(
    `${d.topic} process`,
    { kind: SpanKind.CONSUMER, parent: contextOf(message.headers), attributes: consumeAttributes(d, [message]) },
    async (span) => {
      const outcome = await handleWithRetries(d.handler, message, d.retry, d.signals, d.log);
      if (outcome.kind === 'failed') span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.error.message });
      return outcome;
    },
  );
  if (outcome.kind === 'aborted') return false;
  if (outcome.kind === 'failed') await d.deadLetter(deadLetterOf(d.topic, d.group, m.message, outcome.error, outcome.attempts), outcome.error);
  return true;
}

function consumeAttributes(d: Delivery, messages: QueueMessage[]) {
  return {
    'messaging.destination.name': d.topic,
    'messaging.consumer.group.name': d.group,
    'messaging.destination.partition.id': String(messages[0]?.partition ?? ''),
    'messaging.batch.message_count': messages.length,
  };
}

/** One try of the batch handler: 'failed' sends the batch down the one-by-one path. */
async function tryBatch(messages: QueueMessage[], handler: BatchHandler, d: Delivery): Promise<'ok' | 'failed' | 'aborted'> {
  let error: unknown;
  // One span for the batch: a child of its first message's producer, linked to every message's.
  const spanOptions = {
    kind: SpanKind.CONSUMER,
    parent: contextOf(messages[0]?.headers),
    links: linksTo(messages.map((m) => m.headers?.traceparent)),
    attributes: consumeAttributes(d, messages),
  };
  const run = withSpan(`${d.topic} process`, spanOptions, async () => handler(messages)).then(
    () => true,
    (err: unknown) => {
      error = err;
      return false;
    },
  );
  const done = await Promise.race([run.then(() => true), d.signals.abandon.promise.then(() => false)]);
  if (!done) return 'aborted';
  if (await run) return 'ok';
  if (d.signals.stopping.fired) return 'aborted'; // not committed: delivered again
  d.log.warn(
    { topic: d.topic, partition: messages[0]?.partition, offset: messages[0]?.offset, count: messages.length, err: error, groupId: d.group },
    'queue batch handler failed, handling its messages one by one',
  );
  return 'failed';
}
