// consumeBatch against both implementations (test/helpers/queue.ts): messages published together
// arrive together and in order, a throwing batch falls back to one by one, and a batch unfinished at
// stop() is not committed.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TOPICS, type DeadLetter, type QueueMessage } from '../src/platform/queue/index.ts';
import { IMPLS, waitFor, waitForCommit } from './helpers/queue.ts';

for (const q of IMPLS) {
  describe(`queue: ${q.name}`, { skip: q.skip }, () => {
    test('consumeBatch: messages published together arrive together, in order, each once', async (t) => {
      const prefix = q.prefix();
      const queue = await q.open(t, prefix, { partitions: 1 });
      const batches: QueueMessage[][] = [];
      await queue.consumeBatch(
        TOPICS.quizResults,
        'workers',
        async (messages) => {
          batches.push(messages);
        },
        { maxBatch: 7 },
      );
      const total = 20;
      await queue.publishBatch(
        TOPICS.quizResults,
        Array.from({ length: total }, (_, n) => ({ key: `acc-${n % 3}`, value: { n } })),
      );
      await waitFor(`${total} handled`, () => batches.flat().length >= total);
      await waitForCommit(queue, prefix, 'workers', TOPICS.quizResults); // nothing of it comes again
      const all = batches.flat();
      assert.deepEqual(
        all.map((m) => (m.value as { n: number }).n),
        Array.from({ length: total }, (_, n) => n),
        'each once, in order',
      );
      assert.ok(
        batches.some((b) => b.length > 1),
        `some batch holds several messages (${batches.map((b) => b.length).join(',')})`,
      );
      assert.ok(
        batches.every((b) => b.length <= 7),
        'at most maxBatch per call',
      );
      assert.equal(all[0]!.topic, TOPICS.quizResults);
      assert.equal(typeof all[0]!.offset, 'string');
      assert.equal(all[0]!.key, 'acc-0');
    });

    test('consumeBatch: a throwing batch is handled one by one, only the poison message is dead-lettered', async (t) => {
      const parked: DeadLetter[] = [];
      const prefix = q.prefix();
      const queue = await q.open(t, prefix, { partitions: 1, onDeadLetter: (d) => parked.push(d) });
      const handled: string[] = [];
      const calls: number[] = [];
      await queue.consumeBatch(TOPICS.quizResults, 'workers', async (messages) => {
        calls.push(messages.length);
        if (messages.some((m) => (m.value as { poison?: boolean }).poison)) throw new Error('cannot handle the batch');
        for (const m of messages) handled.push((m.value as { id: string }).id);
      });
      await queue.publishBatch(TOPICS.quizResults, [
        { key: 'acc-1', value: { id: 'a' } },
        { key: 'acc-1', value: { id: 'bad', poison: true } },
        { key: 'acc-2', value: { id: 'b' } },
      ]);
      await waitFor('good ones handled and the poison parked', () => handled.includes('a') && handled.includes('b') && parked.length === 1);
      await queue.publish(TOPICS.quizResults, 'acc-1', { id: 'after' });
      await waitFor('the consumer goes on', () => handled.includes('after'));
      await waitForCommit(queue, prefix, 'workers', TOPICS.quizResults); // no poison retried, nothing parked again
      assert.equal(parked.length, 1);
      assert.deepEqual(parked[0]!.value, { id: 'bad', poison: true });
      assert.equal(parked[0]!.attempts, 3);
      assert.deepEqual(handled.filter((id) => id !== 'after').sort(), ['a', 'b']);
      assert.ok(calls.includes(1), 'fell back to single messages');
    });

    test('consumeBatch: a batch unfinished at stop() is not committed, the next consumer gets it again', async (t) => {
      const prefix = q.prefix();
      const queue = await q.open(t, prefix, { partitions: 1 });
      let release!: () => void;
      const blocked = new Promise<void>((resolve) => {
        release = resolve;
      });
      t.after(() => release());
      const firstGot: string[] = [];
      const first = await queue.consumeBatch(TOPICS.amoTasks, 'workers', async (messages) => {
        for (const m of messages) firstGot.push((m.value as { id: string }).id);
        await blocked;
      });
      await queue.publishBatch(TOPICS.amoTasks, [
        { key: 'acc-1', value: { id: 'job-1' } },
        { key: 'acc-1', value: { id: 'job-2' } },
      ]);
      await waitFor('first consumer started', () => firstGot.length >= 1);
      await first.stop();
      const secondGot: string[] = [];
      const replica = q.name === 'kafka' ? await q.open(t, prefix, { partitions: 1 }) : queue;
      await replica.consumeBatch(TOPICS.amoTasks, 'workers', async (messages) => {
        for (const m of messages) secondGot.push((m.value as { id: string }).id);
      });
      await waitFor('both redelivered', () => secondGot.length >= 2);
      assert.deepEqual(secondGot, ['job-1', 'job-2']);
    });
  });
}
