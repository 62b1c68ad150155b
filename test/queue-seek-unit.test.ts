// A subscription "from latest" seeks to the partition ends it read before joining; kafkajs' run()
// may resolve on a crashed first join and refuse seek() until its own restart: the seek waits for it.
import { mock, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Consumer } from 'kafkajs';
import { seekOnceRunning } from '../src/platform/queue/kafka.ts';

const target = { topic: 't', partition: 0, offset: '42' };
const notInitialized = () => new Error('Consumer group was not initialized, consumer#run must be called first');

function consumer(refusals: number, error: () => Error = notInitialized) {
  const seeks: unknown[] = [];
  let left = refusals;
  const fake = {
    seek: (t: unknown) => {
      if (left-- > 0) throw error();
      seeks.push(t);
    },
  };
  return { consumer: fake as unknown as Consumer, seeks };
}

test('a seek refused while the consumer restarts is made once it runs', async () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    const c = consumer(2);
    const done = seekOnceRunning(c.consumer, target);
    for (let i = 0; i < 2; i++) {
      await new Promise((r) => setImmediate(r));
      mock.timers.tick(500);
    }
    await done;
    assert.deepEqual(c.seeks, [target]);
  } finally {
    mock.timers.reset();
  }
});

test('any other seek error is thrown at once', async () => {
  const c = consumer(1, () => new Error('bad offset'));
  await assert.rejects(seekOnceRunning(c.consumer, target), /bad offset/);
  assert.deepEqual(c.seeks, []);
});
