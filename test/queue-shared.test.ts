// Unit tests of what the Kafka and the in-process queue share (src/platform/queue/codec.ts, deliver.ts,
// base.ts, retry.ts), with small fakes: records are plain objects, commits and dead letters are
// recorded, backoff and grace waits run on node:test's mock timers.
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { createLogger } from '../src/platform/logger.ts';
import { BaseQueue } from '../src/platform/queue/base.ts';
import { decodeRecord, encodeMessages, type EncodedMessage, type EncodedRecord } from '../src/platform/queue/codec.ts';
import { deliver, StopSignals, type Delivery, type Position, type SubscribeSpec } from '../src/platform/queue/deliver.ts';
import { backoffDelay, type RetryPolicy } from '../src/platform/queue/retry.ts';
import { topicEnds } from '../src/platform/queue/kafka-admin.ts';
import type { Admin } from 'kafkajs';
import { at, only } from './helpers/narrow.ts';
import { TOPICS, type BatchHandler, type DeadLetter, type Handler, type QueueMessage, type Subscription, type TopicName } from '../src/platform/queue/types.ts';

const log = createLogger({ level: 'silent', name: 'queue-shared-test' });
/** Lets every pending promise callback run (setImmediate is not mocked). */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** JSON-encoded records at offsets 0, 1, … (a string is taken as the raw value text). */
function records(...values: unknown[]): EncodedRecord[] {
  return values.map((v, i) => ({ key: `k${i}`, value: typeof v === 'string' ? v : JSON.stringify(v), offset: String(i) }));
}

const valueOf = (m: QueueMessage) => m.value as { id: string; poison?: boolean };

/** A subscription's delivery side and a partition position, recording what happens in `events`. */
function fake(opts: { handler?: Handler; batch?: BatchHandler; maxBatch?: number; retry?: Partial<RetryPolicy>; parkFails?: boolean }) {
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

describe('deliver: one message at a time', () => {
  test('each message is handled once with attempt 1 and committed after its handler, in order', async () => {
    const seen: string[] = [];
    const f = fake({
      handler: async (m) => {
        f.events.push(`handle ${m.offset}`);
        seen.push(`${valueOf(m).id}@${m.attempt}/${m.partition}/${m.key}`);
      },
    });
    assert.equal(await f.run(records({ id: 'a' }, { id: 'b' })), true);
    assert.deepEqual(seen, ['a@1/2/k0', 'b@1/2/k1']);
    assert.deepEqual(f.events, ['handle 0', 'commit 0', 'handle 1', 'commit 1']);
    assert.equal(f.wrapped(), 2, 'every handler run is wrapped (Kafka heartbeats)');
  });

  test('a failing handler is retried after 100 then 150 ms (capped), then succeeds', async (t: TestContext) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const attempts: number[] = [];
    const f = fake({
      handler: async (m) => {
        attempts.push(m.attempt!);
        if (m.attempt! < 3) throw new Error('not yet');
      },
    });
    const done = f.run(records({ id: 'a' }));
    await flush();
    assert.deepEqual(attempts, [1]);
    t.mock.timers.tick(99);
    await flush();
    assert.deepEqual(attempts, [1], 'no retry before the backoff is over');
    t.mock.timers.tick(1);
    await flush();
    assert.deepEqual(attempts, [1, 2]);
    t.mock.timers.tick(149);
    await flush();
    assert.deepEqual(attempts, [1, 2]);
    t.mock.timers.tick(1);
    assert.equal(await done, true);
    assert.deepEqual(attempts, [1, 2, 3]);
    assert.deepEqual(f.commits, ['0']);
    assert.deepEqual(f.parked, []);
  });

  test('after maxAttempts failures the message is parked, then committed, and the next one goes on', async (t: TestContext) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const f = fake({
      handler: async (m) => {
        if (valueOf(m).poison) throw new Error(`cannot handle ${valueOf(m).id}`);
        f.events.push(`handle ${m.offset}`);
      },
    });
    const done = f.run(records({ id: 'bad', poison: true }, { id: 'good' }));
    for (let i = 0; i < 2; i++) {
      await flush();
      t.mock.timers.tick(150);
    }
    assert.equal(await done, true);
    assert.deepEqual(f.events, ['park 0', 'commit 0', 'handle 1', 'commit 1']);
    const dead = at(f.parked, 0, 'dead letter');
    assert.equal(dead.topic, TOPICS.quizResults);
    assert.equal(dead.group, 'pfx.workers');
    assert.equal(dead.key, 'k0');
    assert.deepEqual(dead.value, { id: 'bad', poison: true });
    assert.equal(dead.partition, 2);
    assert.equal(dead.attempts, 3);
    assert.match(dead.error.message, /cannot handle bad/);
    assert.ok(!Number.isNaN(Date.parse(dead.failedAt)));
  });

  test('a value that is not JSON is parked at once (attempts 1, raw text), its handler never runs', async () => {
    let calls = 0;
    const f = fake({
      handler: async () => {
        calls++;
      },
    });
    assert.equal(await f.run(records('{oops', { id: 'ok' })), true);
    assert.equal(calls, 1);
    const dead = at(f.parked, 0, 'dead letter');
    assert.equal(dead.value, '{oops');
    assert.equal(dead.attempts, 1);
    assert.equal(dead.error.name, 'SyntaxError');
    assert.deepEqual(f.commits, ['0', '1']);
  });

  test('when parking fails, deliver rejects and the message stays uncommitted', async () => {
    const f = fake({ handler: async () => Promise.reject(new Error('no')), retry: { maxAttempts: 1 }, parkFails: true });
    await assert.rejects(f.run(records({ id: 'a' })), /dlq unavailable/);
    assert.deepEqual(f.commits, []);
  });

  test('not alive: nothing starts, nothing is committed', async () => {
    let calls = 0;
    const f = fake({
      handler: async () => {
        calls++;
        f.kill();
      },
    });
    assert.equal(await f.run(records({ id: 'a' }, { id: 'b' })), false);
    assert.equal(calls, 1, 'the second message does not start once the position is gone');
    assert.deepEqual(f.commits, ['0'], 'what finished is still committed');
  });

  test('stopping during a backoff: no further attempt, no dead letter, not committed', async (t: TestContext) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const attempts: number[] = [];
    const f = fake({
      handler: async (m) => {
        attempts.push(m.attempt!);
        throw new Error('fails');
      },
    });
    const done = f.run(records({ id: 'a' }));
    await flush();
    f.signals.stopping.fire();
    assert.equal(await done, false);
    assert.deepEqual(attempts, [1]);
    assert.deepEqual(f.parked, []);
    assert.deepEqual(f.commits, []);
  });

  test('stopWithin: a handler that outlives the grace period is abandoned, not committed', async (t: TestContext) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const f = fake({ handler: () => new Promise<void>(() => undefined) });
    const done = f.run(records({ id: 'stuck' }, { id: 'next' }));
    await flush();
    let stopped = false;
    const stop = f.signals
      .stopWithin(500, () => done)
      .then(() => {
        stopped = true;
      });
    t.mock.timers.tick(499);
    await flush();
    assert.equal(stopped, false, 'stop waits for the handler during the grace period');
    t.mock.timers.tick(1);
    await stop;
    assert.equal(await done, false);
    assert.deepEqual(f.commits, []);
  });
});

describe('deliver: consumeBatch', () => {
  test('chunks of maxBatch, each committed once at its last offset, every message with attempt 1', async () => {
    const calls: string[][] = [];
    const f = fake({
      batch: async (ms) => {
        calls.push(ms.map((m) => `${valueOf(m).id}@${m.attempt}`));
      },
      maxBatch: 2,
    });
    assert.equal(await f.run(records({ id: 'a' }, { id: 'b' }, { id: 'c' })), true);
    assert.deepEqual(calls, [['a@1', 'b@1'], ['c@1']]);
    assert.deepEqual(f.commits, ['1', '2']);
    assert.equal(f.wrapped(), 2);
  });

  test('a failing batch falls back to one by one: retries with backoff, only the poison is parked', async (t: TestContext) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const calls: string[][] = [];
    const f = fake({
      batch: async (ms) => {
        calls.push(ms.map((m) => `${valueOf(m).id}@${m.attempt}`));
        if (ms.some((m) => valueOf(m).poison)) throw new Error('cannot handle the batch');
        f.events.push(`handled ${ms.map((m) => m.offset).join(',')}`);
      },
      retry: { maxAttempts: 2 },
    });
    const done = f.run(records({ id: 'a' }, { id: 'bad', poison: true }, { id: 'b' }));
    await flush();
    t.mock.timers.tick(100);
    assert.equal(await done, true);
    assert.deepEqual(calls, [['a@1', 'bad@1', 'b@1'], ['a@1'], ['bad@1'], ['bad@2'], ['b@1']]);
    assert.deepEqual(f.events, ['handled 0', 'commit 0', 'park 1', 'commit 1', 'handled 2', 'commit 2']);
    assert.equal(at(f.parked, 0, 'dead letter').attempts, 2);
  });

  test('a chunk holding a value that is not JSON skips the batch handler and goes one by one', async () => {
    const calls: string[][] = [];
    const f = fake({
      batch: async (ms) => {
        calls.push(ms.map((m) => valueOf(m).id));
      },
      maxBatch: 2,
    });
    assert.equal(await f.run(records({ id: 'a' }, 'nope', { id: 'b' })), true);
    assert.deepEqual(calls, [['a'], ['b']], 'chunk [a, nope] one by one, then chunk [b] as a batch');
    assert.equal(f.parked.length, 1);
    assert.equal(f.parked[0]!.value, 'nope');
    assert.deepEqual(f.commits, ['0', '1', '2']);
  });

  test('a batch that fails after stop() began is not committed and not retried one by one', async () => {
    let fail!: () => void;
    let calls = 0;
    const f = fake({
      batch: () => {
        if (++calls > 1) return Promise.resolve();
        return new Promise<void>((_, reject) => {
          fail = () => reject(new Error('interrupted'));
        });
      },
    });
    const done = f.run(records({ id: 'a' }, { id: 'b' }));
    await flush();
    f.signals.stopping.fire();
    fail();
    assert.equal(await done, false);
    assert.equal(calls, 1);
    assert.deepEqual(f.commits, []);
    assert.deepEqual(f.parked, []);
  });

  test('a batch handler that throws synchronously counts as a failed batch', async () => {
    const calls: number[] = [];
    const f = fake({
      batch: ((ms: QueueMessage[]) => {
        calls.push(ms.length);
        if (ms.length > 1) throw new Error('sync throw');
        return Promise.resolve();
      }) as BatchHandler,
    });
    assert.equal(await f.run(records({ id: 'a' }, { id: 'b' })), true);
    assert.deepEqual(calls, [2, 1, 1]);
    assert.deepEqual(f.commits, ['0', '1']);
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
