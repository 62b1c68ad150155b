// Unit tests of what the Kafka and the in-process queue share (src/platform/queue/codec.ts, base.ts,
// retry.ts, kafka-admin.ts' topicEnds), with small fakes. The delivery loop (deliver.ts):
// queue-deliver.test.ts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLogger } from '../src/platform/logger.ts';
import { BaseQueue } from '../src/platform/queue/base.ts';
import { decodeRecord, encodeMessages, type EncodedMessage } from '../src/platform/queue/codec.ts';
import type { SubscribeSpec } from '../src/platform/queue/deliver.ts';
import { backoffDelay } from '../src/platform/queue/retry.ts';
import { topicEnds } from '../src/platform/queue/kafka-admin.ts';
import type { Admin } from 'kafkajs';
import { at, only } from './helpers/narrow.ts';
import { TOPICS, type BatchHandler, type DeadLetter, type Handler, type QueueMessage, type Subscription, type TopicName } from '../src/platform/queue/types.ts';

const log = createLogger({ level: 'silent', name: 'queue-shared-test' });

describe('codec: the message encoding of both queues', () => {
  test('encodeMessages: JSON text, a Date as its ISO string, all or nothing', () => {
    assert.deepEqual(encodeMessages([{ key: 'a', value: { at: new Date(0), n: 1 } }]), [{ key: 'a', value: '{"at":"1970-01-01T00:00:00.000Z","n":1}' }]);
    assert.throws(
      () =>
        encodeMessages([
          { key: 'a', value: 1 },
          { key: 2 as unknown as string, value: 1 },
        ]),
      /key must be a string/,
    );
    assert.throws(() => encodeMessages([{ key: 'a', value: undefined }]), /not JSON-serializable/);
    assert.throws(() => encodeMessages([{ key: 'a', value: () => 1 }]), /not JSON-serializable/);
    assert.deepEqual(encodeMessages([]), []);
  });

  test('decodeRecord: Buffers or strings; no key is "", no value is null; not JSON is kept as text', () => {
    const fromBuffer = decodeRecord(TOPICS.amoTasks, 1, { key: Buffer.from('acc-1'), value: Buffer.from('{"x":[1]}'), offset: '7' });
    assert.deepEqual(fromBuffer, { ok: true, partition: 1, offset: '7', message: { topic: TOPICS.amoTasks, key: 'acc-1', value: { x: [1] }, partition: 1, offset: '7' } });
    const empty = decodeRecord(TOPICS.amoTasks, 0, { key: null, value: null, offset: '0' });
    assert.ok(empty.ok);
    assert.equal(empty.message.key, '');
    assert.equal(empty.message.value, null);
    const bad = decodeRecord(TOPICS.amoTasks, 0, { key: 'k', value: 'not json', offset: '3' });
    assert.equal(bad.ok, false);
    assert.ok(!bad.ok && bad.text === 'not json' && bad.key === 'k' && bad.offset === '3' && bad.error instanceof SyntaxError);
  });

  test('a round trip gives a fresh copy of the value for every decode', () => {
    const encoded = only(encodeMessages([{ key: 'k', value: { list: [1, 'x', null] } }]), 'encoded message');
    const a = decodeRecord(TOPICS.quizResults, 0, { ...encoded, offset: '0' });
    const b = decodeRecord(TOPICS.quizResults, 0, { ...encoded, offset: '0' });
    assert.ok(a.ok && b.ok);
    assert.deepEqual(a.message.value, { list: [1, 'x', null] });
    assert.notEqual(a.message.value, b.message.value);
  });
});

describe('retry: backoff', () => {
  test('doubles per failed attempt up to the cap', () => {
    const policy = { maxAttempts: 9, initialBackoffMs: 500, maxBackoffMs: 30_000 };
    assert.deepEqual(
      [1, 2, 3, 6, 7, 8].map((n) => backoffDelay(policy, n)),
      [500, 1_000, 2_000, 16_000, 30_000, 30_000],
    );
  });
});

/** BaseQueue with recording fakes for what an implementation supplies. */
class FakeQueue extends BaseQueue {
  readonly kind = 'memory' as const;
  readonly sent: { topic: TopicName; messages: EncodedMessage[] }[] = [];
  readonly subscribed: { topic: TopicName; groupId: string; spec: SubscribeSpec }[] = [];
  readonly parked: DeadLetter[] = [];
  constructor(onDeadLetter?: (d: DeadLetter) => void) {
    const retry = { maxAttempts: 1, initialBackoffMs: 1, maxBackoffMs: 1 };
    super({ topicPrefix: 'pfx.', instanceId: 'replica', logger: log, partitions: 1, retry, shutdownGraceMs: 1, onDeadLetter }, log);
  }
  async ready() {
    return !this.closed;
  }
  async close() {
    this.closed = true;
  }
  protected async send(topic: TopicName, messages: EncodedMessage[]) {
    this.sent.push({ topic, messages });
  }
  protected subscribe(topic: TopicName, groupId: string, spec: SubscribeSpec): Subscription {
    this.subscribed.push({ topic, groupId, spec });
    return { stop: async () => undefined };
  }
  protected park(deadLetter: DeadLetter) {
    this.parked.push(deadLetter);
  }
}

describe('BaseQueue: what both queues do the same', () => {
  test('publish and publishBatch send encoded messages; an empty batch sends nothing', async () => {
    const queue = new FakeQueue();
    await queue.publish(TOPICS.amoTasks, 'a', { n: 1 });
    await queue.publishBatch(TOPICS.amoTasks, []);
    await assert.rejects(
      queue.publishBatch(TOPICS.amoTasks, [
        { key: 'b', value: 1 },
        { key: 'c', value: undefined },
      ]),
      /JSON/,
    );
    assert.deepEqual(queue.sent, [{ topic: TOPICS.amoTasks, messages: [{ key: 'a', value: '{"n":1}' }] }]);
  });

  test('consume, consumeBatch and broadcast: group ids, defaults, the batch of one', async () => {
    const queue = new FakeQueue();
    const handler: Handler = async () => undefined;
    const batches: QueueMessage[][] = [];
    await queue.consume(TOPICS.quizResults, 'workers', handler);
    await queue.consumeBatch(TOPICS.quizResults, 'batchers', async (ms) => void batches.push(ms), { concurrency: 0 });
    await queue.consumeBatch(TOPICS.quizResults, 'tiny', handler as unknown as BatchHandler, { maxBatch: 0, concurrency: 4 });
    await queue.broadcast(TOPICS.amoEvents, handler);
    await queue.broadcast(TOPICS.amoEvents, handler);
    const [consume, batch, first] = [at(queue.subscribed, 0), at(queue.subscribed, 1), at(queue.subscribed, 3)];
    assert.deepEqual(
      queue.subscribed.map((s) => [s.groupId, s.spec.concurrency, s.spec.fromLatest, s.spec.batch?.maxBatch]),
      [
        ['pfx.workers', 1, false, undefined],
        ['pfx.batchers', 1, false, 100],
        ['pfx.tiny', 4, false, 1],
        ['pfx.gateway-events-replica', 1, true, undefined],
        ['pfx.gateway-events-replica-2', 1, true, undefined],
      ],
    );
    assert.equal(consume.spec.handler, handler);
    assert.equal(first.spec.handler, handler);
    const m: QueueMessage = { topic: TOPICS.quizResults, key: 'k', value: 1 };
    await batch.spec.handler(m);
    assert.deepEqual(batches, [[m]], 'one message is handed to the batch handler as a batch of one');
  });

  test('a closed queue refuses to publish and to subscribe', async () => {
    const queue = new FakeQueue();
    await queue.close();
    await assert.rejects(queue.publish(TOPICS.quizResults, 'a', {}), /closed/);
    await assert.rejects(
      queue.consume(TOPICS.quizResults, 'w', async () => undefined),
      /closed/,
    );
    await assert.rejects(
      queue.broadcast(TOPICS.amoEvents, async () => undefined),
      /closed/,
    );
    assert.deepEqual(queue.subscribed, []);
  });

  test('deadLetter parks, then calls onDeadLetter; a throwing callback does not fail it', async () => {
    const reported: DeadLetter[] = [];
    const queue = new FakeQueue((d) => {
      reported.push(d);
      throw new Error('callback bug');
    });
    const dead = { topic: TOPICS.quizResults, key: 'k', value: 1, group: 'pfx.w', error: { name: 'Error', message: 'x' }, attempts: 1, failedAt: new Date(0).toISOString() };
    await queue.deadLetter(dead, new Error('x'));
    assert.deepEqual(queue.parked, [dead]);
    assert.deepEqual(reported, [dead]);
  });
});

describe('topicEnds: partition ends right after a topic is created', () => {
  const notLeader = Object.assign(new Error('This server is not the leader for that topic-partition'), { retriable: true });
  test('a partition without a leader yet: metadata refreshed and asked again until it answers', async () => {
    let asks = 0;
    let refreshes = 0;
    const admin = {
      fetchTopicOffsets: async () => {
        if (++asks < 3) throw notLeader;
        return [{ partition: 0, offset: '5', high: '5', low: '0' }];
      },
      fetchTopicMetadata: async () => {
        refreshes++;
        return { topics: [] };
      },
    } as unknown as Admin;
    assert.deepEqual(await topicEnds(admin, 't'), [{ partition: 0, offset: '5', high: '5', low: '0' }]);
    assert.equal(asks, 3);
    assert.equal(refreshes, 2);
  });

  test('an error that is not retriable, or one that lasts, is thrown', async () => {
    const fatal = new Error('unknown topic');
    await assert.rejects(topicEnds({ fetchTopicOffsets: async () => Promise.reject(fatal), fetchTopicMetadata: async () => ({}) } as unknown as Admin, 't'), fatal);
    let asks = 0;
    const stuck = {
      fetchTopicOffsets: async () => {
        asks++;
        throw notLeader;
      },
      fetchTopicMetadata: async () => ({}),
    } as unknown as Admin;
    await assert.rejects(topicEnds(stuck, 't', 3), notLeader);
    assert.equal(asks, 3);
  });
});
