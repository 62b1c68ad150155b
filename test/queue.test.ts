// Behavioural tests of src/platform/queue, run against both implementations (test/helpers/queue.ts):
// publishing, consumer groups, broadcast. Dead letters, per-key order and stop():
// queue-consumers.test.ts; consumeBatch: queue-batch.test.ts.
// The broker-restart test runs only with KAFKA_RESTART_TEST=1 (it stops and starts the
// broker of scripts/kafka.sh, which must be the one KAFKA_BROKERS points at).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { createQueue, MemoryQueue, TOPICS, type QueueMessage } from '../src/platform/queue/index.ts';
import { brokers, IMPLS, log, runId, sleep, waitFor, waitForCommit } from './helpers/queue.ts';

/** the value of the end marks a test publishes after its messages */
const END = -99;
const repoDir = join(dirname(fileURLToPath(import.meta.url)), '..');

for (const q of IMPLS) {
  describe(`queue: ${q.name}`, { skip: q.skip }, () => {
    test('kind and ready()', async (t) => {
      const queue = await q.open(t, q.prefix());
      assert.equal(queue.kind, q.name);
      assert.equal(await queue.ready(), true);
      await queue.close();
      assert.equal(await queue.ready(), false);
      await assert.rejects(queue.publish(TOPICS.quizResults, 'a', {}), /closed/);
    });

    test('publish and publishBatch are consumed with key, topic and JSON value', async (t) => {
      const prefix = q.prefix();
      const queue = await q.open(t, prefix);
      const got: QueueMessage[] = [];
      await queue.consume(TOPICS.quizResults, 'workers', async (m) => {
        got.push(m);
      });
      await queue.publish(TOPICS.quizResults, 'acc-1', { resultId: 'r1', at: new Date(0), n: 1 });
      await queue.publishBatch(TOPICS.quizResults, [
        { key: 'acc-2', value: { resultId: 'r2' } },
        { key: 'acc-3', value: { resultId: 'r3', nested: { list: [1, 'x', null] } } },
      ]);
      await waitFor('3 messages', () => got.length >= 3);
      const byId = new Map(got.map((m) => [(m.value as { resultId: string }).resultId, m]));
      assert.deepEqual(byId.get('r1')?.value, { resultId: 'r1', at: '1970-01-01T00:00:00.000Z', n: 1 });
      assert.equal(byId.get('r1')?.key, 'acc-1');
      assert.equal(byId.get('r1')?.topic, TOPICS.quizResults);
      assert.equal(byId.get('r1')?.attempt, 1);
      assert.equal(typeof byId.get('r2')?.partition, 'number');
      assert.equal(typeof byId.get('r2')?.offset, 'string');
      assert.deepEqual(byId.get('r3')?.value, { resultId: 'r3', nested: { list: [1, 'x', null] } });
      await waitForCommit(queue, prefix, 'workers', TOPICS.quizResults); // nothing of it comes again
      assert.equal(got.length, 3, 'each message once');
    });

    test('two consumers of one group share the work: each message handled once', async (t) => {
      const prefix = q.prefix();
      const queueA = await q.open(t, prefix);
      const queueB = q.name === 'kafka' ? await q.open(t, prefix) : queueA; // memory: one process
      const seenA: number[] = [];
      const seenB: number[] = [];
      await queueA.consume(TOPICS.amoTasks, 'workers', async (m) => {
        seenA.push((m.value as { n: number }).n);
      });
      await queueB.consume(TOPICS.amoTasks, 'workers', async (m) => {
        seenB.push((m.value as { n: number }).n);
      });
      const total = 60;
      await queueA.publishBatch(
        TOPICS.amoTasks,
        Array.from({ length: total }, (_, n) => ({ key: `acc-${n % 12}`, value: { n } })),
      );
      await waitFor(`${total} handled`, () => seenA.length + seenB.length >= total);
      await waitForCommit(queueA, prefix, 'workers', TOPICS.amoTasks); // nothing of it comes again
      const all = [...seenA, ...seenB].sort((x, y) => x - y);
      assert.deepEqual(
        all,
        Array.from({ length: total }, (_, n) => n),
        'every message exactly once',
      );
      assert.ok(seenA.length > 0 && seenB.length > 0, `both members worked (${seenA.length}/${seenB.length})`);
    });

    test('broadcast reaches every replica, only what was published after it subscribed', async (t) => {
      const prefix = q.prefix();
      const replica1 = await q.open(t, prefix, { instanceId: 'replica-1' });
      // Memory queues are independent (no broker), so there the "replicas" are two
      // broadcast subscriptions of one queue; with Kafka they are two queues.
      const replica2 = q.name === 'kafka' ? await q.open(t, prefix, { instanceId: 'replica-2' }) : replica1;
      await replica1.publish(TOPICS.amoEvents, 'acc-1', { type: 'sync.completed', n: -1 });
      const got1: number[] = [];
      const got2: number[] = [];
      await replica1.broadcast(TOPICS.amoEvents, async (m) => {
        got1.push((m.value as { n: number }).n);
      });
      await replica2.broadcast(TOPICS.amoEvents, async (m) => {
        got2.push((m.value as { n: number }).n);
      });
      for (let n = 0; n < 5; n++) await replica2.publish(TOPICS.amoEvents, `acc-${n}`, { type: 'token.stale', n });
      // then an end mark under every key used (the one before subscribing too): a key's messages
      // keep their order, so once both replicas have every mark, nothing published before is still coming
      const keys = ['acc-1', ...Array.from({ length: 5 }, (_, n) => `acc-${n}`)];
      for (const key of keys) await replica2.publish(TOPICS.amoEvents, key, { type: 'end', n: END });
      const marks = (got: number[]) => got.filter((n) => n === END).length;
      await waitFor('both replicas got every end mark', () => marks(got1) >= keys.length && marks(got2) >= keys.length);
      assert.deepEqual(
        got1.filter((n) => n !== END),
        [0, 1, 2, 3, 4],
      );
      assert.deepEqual(
        got2.filter((n) => n !== END),
        [0, 1, 2, 3, 4],
      );
      assert.equal(marks(got1), keys.length, 'each mark once');
    });

    if (q.name === 'memory') {
      test('memory: two in-process queues are independent', async (t) => {
        const queue1 = await q.open(t, 'same.');
        const queue2 = await q.open(t, 'same.');
        assert.ok(queue1 instanceof MemoryQueue);
        const got: unknown[] = [];
        await queue2.broadcast(TOPICS.amoEvents, async (m) => {
          got.push(m.value);
        });
        await queue2.consume(TOPICS.quizResults, 'workers', async (m) => {
          got.push(m.value);
        });
        // queue1's own subscribers take in its messages; queue2's take in only its own
        const own: unknown[] = [];
        await queue1.broadcast(TOPICS.amoEvents, async (m) => {
          own.push(m.value);
        });
        await queue1.consume(TOPICS.quizResults, 'workers', async (m) => {
          own.push(m.value);
        });
        await queue1.publish(TOPICS.amoEvents, 'a', { x: 1 });
        await queue1.publish(TOPICS.quizResults, 'a', { x: 2 });
        await waitFor("queue1's subscribers took both in", () => own.length >= 2);
        await waitForCommit(queue1, 'same.', 'workers', TOPICS.quizResults);
        await queue2.publish(TOPICS.amoEvents, 'a', { mark: 1 });
        await queue2.publish(TOPICS.quizResults, 'a', { mark: 2 });
        await waitFor("queue2's own marks arrived", () => got.length >= 2);
        await waitForCommit(queue2, 'same.', 'workers', TOPICS.quizResults);
        assert.deepEqual(
          got.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
          [{ mark: 1 }, { mark: 2 }],
          'none of queue1’s messages reached queue2',
        );
      });
    }
  });
}

const restartSkip =
  brokers.length === 0
    ? 'KAFKA_BROKERS is not set'
    : process.env.KAFKA_RESTART_TEST !== '1'
      ? 'set KAFKA_RESTART_TEST=1 to run it (it stops and starts the broker of scripts/kafka.sh)'
      : false;

describe('queue: kafka broker restart', { skip: restartSkip }, () => {
  test('publishing and consuming across `kafka.sh stop && kafka.sh start` loses nothing', { timeout: 240_000 }, async (t) => {
    const run = promisify(execFile);
    const script = join(repoDir, 'scripts', 'kafka.sh');
    const status = await run('bash', [script, 'status']).then(
      () => true,
      () => false,
    );
    assert.ok(status, 'the broker of scripts/kafka.sh must be running');
    const scriptPort = process.env.KAFKA_PORT ?? '19092';
    assert.ok(
      brokers.some((b) => b.endsWith(`:${scriptPort}`)),
      `KAFKA_BROKERS (${brokers.join(',')}) must point at the script's broker (port ${scriptPort})`,
    );

    const fatal: Error[] = [];
    const prefix = `${runId}-restart.`;
    const queue = await createQueue({
      brokers,
      topicPrefix: prefix,
      logger: log,
      partitions: 3,
      maxAttempts: 3,
      retryBackoffMs: 20,
      shutdownGraceMs: 1_000,
      onFatal: (err) => fatal.push(err),
    });
    t.after(() => queue.close());

    const received = new Map<number, number>(); // seq -> deliveries
    await queue.consume(
      TOPICS.quizResults,
      'workers',
      async (m) => {
        const seq = (m.value as { seq: number }).seq;
        received.set(seq, (received.get(seq) ?? 0) + 1);
      },
      { concurrency: 3 },
    );

    let published = 0;
    let publishing = true;
    const publishErrors: Error[] = [];
    const publisher = (async () => {
      while (publishing) {
        const seq = published;
        try {
          await queue.publish(TOPICS.quizResults, `acc-${seq % 7}`, { seq });
          published++;
        } catch (err) {
          publishErrors.push(err as Error);
          published++; // counted as lost-by-producer; reported below
        }
        await sleep(25);
      }
    })();

    await waitFor('traffic before the restart', () => received.size >= 20);
    const beforeRestart = published;
    const restartStarted = Date.now();
    await run('bash', [script, 'stop']);
    await sleep(1_000); // publishes during the outage must wait, not fail
    await run('bash', [script, 'start']);
    const restartMs = Date.now() - restartStarted;
    await waitFor('traffic after the restart', () => published >= beforeRestart + 60, 120_000);
    publishing = false;
    await publisher;

    assert.deepEqual(publishErrors, [], 'no publish failed during the restart');
    await waitFor(`all ${published} received`, () => received.size >= published, 120_000);
    for (let seq = 0; seq < published; seq++) assert.ok(received.has(seq), `seq ${seq} received`);
    const duplicates = [...received.values()].filter((n) => n > 1).length;
    t.diagnostic(`published ${published}, restart took ${restartMs} ms, redelivered ${duplicates} (at-least-once)`);
    assert.deepEqual(fatal, [], 'no consumer crashed for good');
    assert.equal(await queue.ready(), true);
  });
});
