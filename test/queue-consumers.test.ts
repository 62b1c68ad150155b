// What a queue consumer guarantees, against both implementations (test/helpers/queue.ts): a poison
// message is dead-lettered and the consumer goes on, one key's messages stay in order, and stop()
// either waits for a handler or leaves its message to the next consumer of the group.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryQueue, TOPICS, type DeadLetter, type QueueMessage } from '../src/platform/queue/index.ts';
import { IMPLS, readTopic, sleep, waitFor, waitForCommit } from './helpers/queue.ts';

for (const q of IMPLS) {
  describe(`queue: ${q.name}`, { skip: q.skip }, () => {
    test('a poison message is retried, dead-lettered, and the consumer goes on', async (t) => {
      const prefix = q.prefix();
      const parked: DeadLetter[] = [];
      const queue = await q.open(t, prefix, { onDeadLetter: (d) => parked.push(d) });
      const attempts: number[] = [];
      const handled: string[] = [];
      await queue.consume(TOPICS.quizResults, 'workers', async (m) => {
        const v = m.value as { id: string; poison?: boolean };
        if (v.poison) {
          attempts.push(m.attempt ?? 0);
          throw new Error(`cannot handle ${v.id}`);
        }
        handled.push(v.id);
      });
      await queue.publish(TOPICS.quizResults, 'acc-1', { id: 'bad', poison: true });
      await queue.publish(TOPICS.quizResults, 'acc-1', { id: 'good-after' });
      await queue.publish(TOPICS.quizResults, 'acc-2', { id: 'other-key' });
      await waitFor('good messages handled', () => handled.includes('good-after') && handled.includes('other-key'));
      await waitFor('dead letter reported', () => parked.length === 1);
      assert.deepEqual(attempts, [1, 2, 3], 'maxAttempts=3 tries, then parked');
      const dead = parked[0]!;
      assert.equal(dead.topic, TOPICS.quizResults);
      assert.equal(dead.key, 'acc-1');
      assert.deepEqual(dead.value, { id: 'bad', poison: true });
      assert.equal(dead.attempts, 3);
      assert.equal(dead.group, `${prefix}workers`);
      assert.match(dead.error.message, /cannot handle bad/);

      if (queue instanceof MemoryQueue) {
        assert.deepEqual(queue.deadLetters(), parked);
      } else {
        // It really is on the dead-letter topic.
        const fromTopic = await readTopic(`${prefix}${TOPICS.quizResults}.dlq`, 1);
        assert.equal(fromTopic.length, 1);
        assert.equal(fromTopic[0]!.key, 'acc-1');
        const body = JSON.parse(fromTopic[0]!.value) as DeadLetter;
        assert.deepEqual(body.value, { id: 'bad', poison: true });
        assert.match(body.error.message, /cannot handle bad/);
      }
    });

    test('messages of one key are handled in order (concurrency across keys)', async (t) => {
      const queue = await q.open(t, q.prefix());
      const byKey = new Map<string, number[]>();
      let inFlight = 0;
      let maxInFlight = 0;
      await queue.consume(
        TOPICS.quizResults,
        'workers',
        async (m) => {
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          await sleep(Math.random() * 8);
          const list = byKey.get(m.key) ?? [];
          list.push((m.value as { seq: number }).seq);
          byKey.set(m.key, list);
          inFlight--;
        },
        { concurrency: 3 },
      );
      const keys = ['k1', 'k2', 'k3', 'k4', 'k5', 'k6'];
      const perKey = 15;
      const messages = [];
      for (let seq = 0; seq < perKey; seq++) for (const key of keys) messages.push({ key, value: { seq } });
      await queue.publishBatch(TOPICS.quizResults, messages.slice(0, 40));
      for (const m of messages.slice(40)) await queue.publish(TOPICS.quizResults, m.key, m.value);
      await waitFor('all handled', () => [...byKey.values()].reduce((s, l) => s + l.length, 0) >= keys.length * perKey);
      for (const key of keys)
        assert.deepEqual(
          byKey.get(key),
          Array.from({ length: perKey }, (_, i) => i),
          `order of ${key}`,
        );
      assert.ok(maxInFlight > 1, `partitions handled concurrently (max in flight ${maxInFlight})`);
    });

    test('a message unfinished at stop() is redelivered to the next consumer of the group', async (t) => {
      const prefix = q.prefix();
      const queue = await q.open(t, prefix);
      let release!: () => void;
      const blocked = new Promise<void>((resolve) => {
        release = resolve;
      });
      t.after(() => release());
      const firstGot: string[] = [];
      const first = await queue.consume(TOPICS.amoTasks, 'workers', async (m) => {
        firstGot.push((m.value as { id: string }).id);
        await blocked; // "crashes" mid-work: never finishes while subscribed
      });
      await queue.publish(TOPICS.amoTasks, 'acc-1', { id: 'job-1' });
      await waitFor('first consumer started job-1', () => firstGot.length === 1);
      const t0 = Date.now();
      await first.stop(); // gives up after shutdownGraceMs (500 ms)
      assert.ok(Date.now() - t0 < 15_000, 'stop() does not hang on a stuck handler');

      const secondGot: QueueMessage[] = [];
      const replica = q.name === 'kafka' ? await q.open(t, prefix) : queue;
      await replica.consume(TOPICS.amoTasks, 'workers', async (m) => {
        secondGot.push(m);
      });
      await waitFor('job-1 redelivered', () => secondGot.length >= 1);
      assert.deepEqual(secondGot[0]!.value, { id: 'job-1' });
      assert.equal(secondGot[0]!.key, 'acc-1');
      assert.deepEqual(firstGot, ['job-1']);
    });

    test('stop() waits for a handler that finishes within the grace period (no redelivery)', async (t) => {
      const prefix = q.prefix();
      const queue = await q.open(t, prefix, { shutdownGraceMs: 5_000 });
      let started = false;
      const done: string[] = [];
      const first = await queue.consume(TOPICS.amoTasks, 'workers', async (m) => {
        started = true;
        await sleep(300);
        done.push((m.value as { id: string }).id);
      });
      await queue.publish(TOPICS.amoTasks, 'acc-1', { id: 'job-1' });
      await waitFor('started', () => started);
      await first.stop();
      assert.deepEqual(done, ['job-1']);
      const again: unknown[] = [];
      await queue.consume(TOPICS.amoTasks, 'workers', async (m) => {
        again.push(m.value);
      });
      await queue.publish(TOPICS.amoTasks, 'acc-1', { id: 'job-2' });
      await waitFor('job-2', () => again.length >= 1);
      await waitForCommit(queue, prefix, 'workers', TOPICS.amoTasks); // job-1 would have come before job-2's commit
      assert.deepEqual(again, [{ id: 'job-2' }], 'job-1 was committed, only job-2 arrives');
    });
  });
}
