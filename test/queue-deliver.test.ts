// Unit tests of the delivery loop both queues share (src/platform/queue/deliver.ts): one message at
// a time and in batches, retries, dead letters and stopping, with the fakes of
// test/helpers/queue-fakes.ts; backoff and grace waits run on node:test's mock timers.
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { TOPICS, type BatchHandler, type QueueMessage } from '../src/platform/queue/types.ts';
import { at } from './helpers/narrow.ts';
import { fake, flush, records, valueOf } from './helpers/queue-fakes.ts';

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
