import type { Logger } from '../logger.ts';
import { SpanKind, traceHeaders, withSpan } from '../tracing.ts';
import { encodeMessages, type EncodedMessage } from './codec.ts';
import type { SubscribeSpec } from './deliver.ts';
import type { RetryPolicy } from './retry.ts';
import {
  broadcastGroupId,
  DEFAULT_MAX_BATCH,
  workGroupId,
  type BatchHandler,
  type ConsumeBatchOptions,
  type ConsumeOptions,
  type DeadLetter,
  type Handler,
  type Queue,
  type QueueMessage,
  type Subscription,
  type TopicName,
} from './types.ts';

/** The options both queues take (createQueue fills them in from QueueOptions). */
export interface BaseQueueOptions {
  topicPrefix: string;
  instanceId: string;
  logger: Logger;
  partitions: number;
  retry: RetryPolicy;
  shutdownGraceMs: number;
  onDeadLetter?: (deadLetter: DeadLetter) => void;
}

/**
 * What the Kafka and the in-process queue share: publishing (encoding, the closed check), the
 * three ways to subscribe (group ids, defaults) and dead-letter reporting. An implementation
 * stores encoded messages (`send`), starts a subscription (`subscribe`) and parks dead letters (`park`).
 */
export abstract class BaseQueue implements Queue {
  abstract readonly kind: Queue['kind'];
  protected closed = false;
  private broadcastCount = 0;

  constructor(
    private readonly base: BaseQueueOptions,
    protected readonly log: Logger,
  ) {}

  abstract ready(): Promise<boolean>;
  abstract close(): Promise<void>;
  /** Stores a non-empty, already encoded batch on the topic. */
  protected abstract send(topic: TopicName, messages: EncodedMessage[]): Promise<void>;
  protected abstract subscribe(topic: TopicName, groupId: string, spec: SubscribeSpec): Promise<Subscription> | Subscription;
  /** Keeps a dead letter; a rejection leaves the message uncommitted (it is delivered again). */
  protected abstract park(deadLetter: DeadLetter): Promise<void> | void;

  async publish(topic: TopicName, key: string, value: unknown): Promise<void> {
    await this.publishBatch(topic, [{ key, value }]);
  }

  async publishBatch(topic: TopicName, messages: { key: string; value: unknown }[]): Promise<void> {
    if (this.closed) throw new Error('queue is closed');
    const encoded = encodeMessages(messages);
    if (encoded.length === 0) return;
    const attributes = { 'messaging.system': this.kind === 'kafka' ? 'kafka' : 'memory', 'messaging.destination.name': topic, 'messaging.batch.message_count': encoded.length };
    await withSpan(`${topic} publish`, { kind: SpanKind.PRODUCER, attributes }, async () => {
      // the consumer's span continues this one (a no-op without tracing: no headers)
      const headers = traceHeaders();
      await this.send(topic, Object.keys(headers).length > 0 ? encoded.map((m) => ({ ...m, headers })) : encoded);
    });
  }

  async consume(topic: TopicName, group: string, handler: Handler, opts?: ConsumeOptions): Promise<Subscription> {
    return this.open(topic, workGroupId(this.base.topicPrefix, group), { handler, concurrency: opts?.concurrency ?? 1, fromLatest: false });
  }

  async consumeBatch(topic: TopicName, group: string, handler: BatchHandler, opts?: ConsumeBatchOptions): Promise<Subscription> {
    const batch = { handler, maxBatch: Math.max(1, opts?.maxBatch ?? DEFAULT_MAX_BATCH) };
    const spec = { handler: (m: QueueMessage) => handler([m]), concurrency: opts?.concurrency ?? 1, fromLatest: false, batch };
    return this.open(topic, workGroupId(this.base.topicPrefix, group), spec);
  }

  async broadcast(topic: TopicName, handler: Handler): Promise<Subscription> {
    const groupId = broadcastGroupId(this.base.topicPrefix, this.base.instanceId, ++this.broadcastCount);
    return this.open(topic, groupId, { handler, concurrency: 1, fromLatest: true });
  }

  /** Parks a dead letter, then logs it and calls onDeadLetter. */
  async deadLetter(deadLetter: DeadLetter, error: Error): Promise<void> {
    await this.park(deadLetter);
    const { topic, key, partition, offset, group, attempts } = deadLetter;
    this.log.error({ topic, key, partition, offset, group, attempts, err: error }, 'queue message dead-lettered after retries');
    try {
      this.base.onDeadLetter?.(deadLetter);
    } catch (err) {
      this.log.error({ err }, 'onDeadLetter callback threw');
    }
  }

  private async open(topic: TopicName, groupId: string, spec: SubscribeSpec): Promise<Subscription> {
    if (this.closed) throw new Error('queue is closed');
    return this.subscribe(topic, groupId, { ...spec, concurrency: Math.max(1, spec.concurrency) });
  }
}
