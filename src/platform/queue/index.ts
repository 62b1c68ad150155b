import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { logger as defaultLogger } from '../logger.ts';
import { KafkaQueue } from './kafka.ts';
import { MemoryQueue } from './memory.ts';
import type { RetryPolicy } from './retry.ts';
import type { Queue, QueueOptions } from './types.ts';

export { TOPICS, ALL_TOPICS, DLQ_SUFFIX, DEFAULT_MAX_BATCH } from './types.ts';
export type { TopicName, QueueMessage, Handler, BatchHandler, Subscription, ConsumeBatchOptions, Queue, ConsumeOptions, DeadLetter, QueueOptions } from './types.ts';
export { KafkaQueue } from './kafka.ts';
export { MemoryQueue } from './memory.ts';

/** Parses KAFKA_BROKERS ("a:9092, b:9092") into a list; empty/unset → []. */
export function parseBrokers(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * The Kafka queue when `brokers` is non-empty (topics and their `.dlq` are created
 * up front), else the in-process queue (see MemoryQueue: two in-process queues
 * never see each other's messages).
 */
export async function createQueue(opts: QueueOptions = {}): Promise<Queue> {
  const log = opts.logger ?? defaultLogger;
  const retry: RetryPolicy = {
    maxAttempts: Math.max(1, opts.maxAttempts ?? 5),
    initialBackoffMs: opts.retryBackoffMs ?? 500,
    maxBackoffMs: opts.maxRetryBackoffMs ?? 30_000,
  };
  const common = {
    topicPrefix: opts.topicPrefix ?? '',
    instanceId: opts.instanceId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
    logger: log,
    partitions: Math.max(1, opts.partitions ?? 6),
    retry,
    shutdownGraceMs: opts.shutdownGraceMs ?? 10_000,
    onDeadLetter: opts.onDeadLetter,
  };
  const brokers = (opts.brokers ?? []).filter(Boolean);
  if (brokers.length === 0) return new MemoryQueue(common);
  return KafkaQueue.create({
    ...common,
    brokers,
    clientId: opts.clientId ?? 'quiz-gateway',
    onFatal:
      opts.onFatal ??
      ((err: Error) => {
        log.fatal({ err }, 'kafka consumer crashed and will not restart; exiting');
        process.exit(1);
      }),
  });
}
