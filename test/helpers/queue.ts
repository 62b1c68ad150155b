// The queue tests' two implementations (test/queue*.test.ts): memory always, Kafka when
// KAFKA_BROKERS is set (e.g. `eval "$(bash scripts/kafka.sh start)"; export KAFKA_BROKERS`). Every
// test opens queues under its own topic prefix, so runs (and tests) never see each other's messages.
import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import kafkajs from 'kafkajs';
import { createLogger } from '../../src/platform/logger.ts';
import { ALL_TOPICS, createQueue, DLQ_SUFFIX, parseBrokers, type Queue, type QueueOptions, type TopicName } from '../../src/platform/queue/index.ts';
import { brokerAdmin } from './kafka.ts';

export const brokers = parseBrokers(process.env.KAFKA_BROKERS);
/** this test process's part of every topic prefix and group id */
export const runId = `qt-${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`;
export const log = createLogger({ level: process.env.LOG_LEVEL ?? 'silent', name: 'queue-test' });
let prefixCounter = 0;

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function waitFor(what: string, cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(20);
  }
}

export interface Impl {
  name: 'memory' | 'kafka';
  skip: string | false;
  /** A fresh, unique topic prefix (one "deployment"). */
  prefix(): string;
  /** Opens a queue (a "replica") of the deployment `prefix`, closed after the test. */
  open(t: TestContext, prefix: string, extra?: Partial<QueueOptions>): Promise<Queue>;
}

function impl(name: Impl['name']): Impl {
  return {
    name,
    skip: name === 'kafka' && brokers.length === 0 ? 'KAFKA_BROKERS is not set: start a broker with `bash scripts/kafka.sh start` and export KAFKA_BROKERS=127.0.0.1:19092' : false,
    prefix: () => `${runId}-${++prefixCounter}.`,
    async open(t, prefix, extra = {}) {
      const queue = await createQueue({
        brokers: name === 'kafka' ? brokers : [],
        topicPrefix: prefix,
        logger: log,
        partitions: 3,
        maxAttempts: 3,
        retryBackoffMs: 20,
        maxRetryBackoffMs: 100,
        shutdownGraceMs: 500,
        onFatal: (err) => {
          throw new Error(`onFatal called: ${err.message}`);
        },
        ...extra,
      });
      t.after(() => queue.close());
      // the first replica of a deployment created its topics; produce or consume at once and a
      // partition without a leader yet answers UNKNOWN_TOPIC_OR_PARTITION
      if (name === 'kafka') await waitForTopicLeaders(prefix);
      return queue;
    },
  };
}

/** Waits until every topic of the deployment `prefix` (and its dead-letter topic) has a leader for each partition. */
export async function waitForTopicLeaders(prefix: string): Promise<void> {
  const admin = await brokerAdmin(brokers);
  try {
    for (const topic of ALL_TOPICS) for (const name of [`${prefix}${topic}`, `${prefix}${topic}${DLQ_SUFFIX}`]) await admin.waitForLeaders(name);
  } finally {
    await admin.close();
  }
}

/** Both implementations, to run a suite against each: `for (const q of IMPLS) describe(q.name, { skip: q.skip }, …)`. */
export const IMPLS = [impl('memory'), impl('kafka')];

/** Reads `count` records of a topic from the beginning with a plain kafkajs consumer. */
export async function readTopic(topic: string, count: number): Promise<{ key: string; value: string }[]> {
  const kafka = new kafkajs.Kafka({ clientId: 'queue-test-reader', brokers, logLevel: kafkajs.logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `${runId}-reader-${randomBytes(3).toString('hex')}`, maxWaitTimeInMs: 500 });
  const out: { key: string; value: string }[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        out.push({ key: message.key?.toString() ?? '', value: message.value?.toString() ?? '' });
      },
    });
    await waitFor(`${count} records on ${topic}`, () => out.length >= count);
  } finally {
    await consumer.disconnect();
  }
  return out;
}

/**
 * Waits until consumer group `group` of the deployment `prefix` has committed every message of
 * `topic`: from then on nothing of it is delivered to the group again, so "handled once" holds
 * for good. Kafka: the broker's committed offsets; memory: the group's committed positions
 * (both name the group with the prefix).
 */
export async function waitForCommit(queue: Queue, prefix: string, group: string, topic: TopicName, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const admin = queue.kind === 'kafka' ? await brokerAdmin(brokers) : undefined;
  try {
    for (;;) {
      if (admin ? await admin.committedThroughEnd(`${prefix}${group}`, `${prefix}${topic}`) : memoryCommittedThroughEnd(queue, `${prefix}${group}`, topic)) return;
      if (Date.now() > deadline) throw new Error(`timed out waiting for group ${group} to commit ${topic}`);
      await sleep(20);
    }
  } finally {
    await admin?.close();
  }
}

// The in-process queue keeps its topics private; this reads them, never writes.
function memoryCommittedThroughEnd(queue: Queue, group: string, topic: TopicName): boolean {
  type Store = { topics: Map<TopicName, { partitions: { end: number }[]; groups: Map<string, { committed: number[] }> }> };
  const stored = (queue as unknown as Store).topics.get(topic);
  const committed = stored?.groups.get(group)?.committed;
  if (!stored || !committed) throw new Error(`the memory queue has no group ${group} on ${topic}`);
  return stored.partitions.every((p, i) => (committed[i] ?? -1) >= p.end);
}
