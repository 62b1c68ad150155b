import type { Logger } from '../logger.ts';

/** Logical topic names; the real Kafka topic is `topicPrefix + name`. */
export const TOPICS = { quizResults: 'quiz.results', amoTasks: 'amo.tasks', amoEvents: 'amo.events' } as const;
export type TopicName = (typeof TOPICS)[keyof typeof TOPICS];
export const ALL_TOPICS: readonly TopicName[] = Object.values(TOPICS);

/** Suffix of the dead-letter topic of every topic (`<prefix>quiz.results.dlq`). */
export const DLQ_SUFFIX = '.dlq';

export interface QueueMessage {
  topic: TopicName;
  /** The quiz account id (the partitioning key: same key, same order). */
  key: string;
  /** The JSON-decoded value. */
  value: unknown;
  partition?: number;
  /** Kafka offset (decimal string); in memory the position in the partition. */
  offset?: string;
  /** 1 for the first try, then 2, 3 … while a throwing handler is retried (addition). */
  attempt?: number;
  /** The record's headers (the producer's trace context: `traceparent`, `tracestate`). */
  headers?: Record<string, string>;
}

export type Handler = (message: QueueMessage) => Promise<void>;

/** Handles consecutive messages of one partition at once (in partition order). */
export type BatchHandler = (messages: QueueMessage[]) => Promise<void>;

export interface Subscription {
  /**
   * Stops fetching, waits up to `shutdownGraceMs` for the handlers in flight, commits
   * what finished and leaves the group. A message whose handler had not finished is
   * not committed, so the group's next consumer gets it again (at-least-once).
   */
  stop(): Promise<void>;
}

export interface Queue {
  readonly kind: 'kafka' | 'memory';
  publish(topic: TopicName, key: string, value: unknown): Promise<void>;
  publishBatch(topic: TopicName, messages: { key: string; value: unknown }[]): Promise<void>;
  /** Work sharing: each message is handled by one consumer of the group (all replicas share `group`). */
  consume(topic: TopicName, group: string, handler: Handler, opts?: ConsumeOptions): Promise<Subscription>;
  /**
   * Work sharing like `consume`, but the handler gets up to `maxBatch` consecutive messages of a
   * partition at once. Same guarantees: offsets are committed only after the handler finished. If
   * the batch handler throws, that batch's messages are handled one by one (`handler([message])`)
   * with the usual retries and dead-lettering, so a poison message only parks itself.
   */
  consumeBatch(topic: TopicName, group: string, handler: BatchHandler, opts?: ConsumeBatchOptions): Promise<Subscription>;
  /** Fan-out: every replica gets every message published after it subscribed (own group per replica). */
  broadcast(topic: TopicName, handler: Handler): Promise<Subscription>;
  /** For /readyz: broker reachable (memory: not closed). */
  ready(): Promise<boolean>;
  close(): Promise<void>;
}

export interface ConsumeOptions {
  /** Partitions handled at the same time by this consumer (default 1). Same key: always one at a time, in order. */
  concurrency?: number;
}

export interface ConsumeBatchOptions extends ConsumeOptions {
  /** Most messages per handler call (default 100). */
  maxBatch?: number;
}

/** Default of ConsumeBatchOptions.maxBatch. */
export const DEFAULT_MAX_BATCH = 100;

/** A message whose handler failed `maxAttempts` times (or whose value is not JSON). */
export interface DeadLetter {
  topic: TopicName;
  key: string;
  /** Decoded value; the raw string when the value was not valid JSON. */
  value: unknown;
  partition?: number;
  offset?: string;
  /** The consumer group that gave up (the full group id, prefix included). */
  group: string;
  error: { name: string; message: string; stack?: string };
  attempts: number;
  failedAt: string;
}

export interface QueueOptions {
  /** Kafka brokers (`host:port`); empty or missing: the in-process queue. */
  brokers?: string[];
  /** Put in front of every topic and group id (KAFKA_TOPIC_PREFIX). */
  topicPrefix?: string;
  clientId?: string;
  /** Identifies this replica; names its broadcast group. Default: hostname-pid-random (unique per process). */
  instanceId?: string;
  logger?: Logger;
  /** Partitions of quiz.results and amo.tasks when the queue creates them (default 6; amo.events always 1). */
  partitions?: number;
  /** Tries per message before it is dead-lettered (default 5). */
  maxAttempts?: number;
  /** Called when a consumer crashed for good (kafkajs CRASH with restart: false). Default: log fatal, exit(1). */
  onFatal?: (err: Error) => void;
  // ---- additions
  /** First retry delay, doubled per attempt (default 500 ms). */
  retryBackoffMs?: number;
  /** Upper bound of the retry delay (default 30 s). */
  maxRetryBackoffMs?: number;
  /** How long Subscription.stop()/close() wait for handlers in flight before abandoning them (default 10 s). */
  shutdownGraceMs?: number;
  /** Called (after it is parked) for every dead-lettered message. */
  onDeadLetter?: (deadLetter: DeadLetter) => void;
}

/** The Kafka group of a work-sharing consumer: the same for every replica. */
export const workGroupId = (topicPrefix: string, group: string) => `${topicPrefix}${group}`;

/** The Kafka group of this replica's n-th broadcast subscription: its own, so it hears everything. */
export const broadcastGroupId = (topicPrefix: string, instanceId: string, n: number) => `${topicPrefix}gateway-events-${instanceId}${n === 1 ? '' : `-${n}`}`;
