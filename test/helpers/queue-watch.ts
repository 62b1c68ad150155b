// A queue that counts what its consumers finished handling, so a test that asserts "nothing more
// happened" first waits until the messages that could have made it happen were handled (instead
// of sleeping and hoping). Works over either implementation: it wraps the handlers, not the queue.
import type { BatchHandler, Handler, Queue, TopicName } from '../../src/platform/queue/index.ts';

export interface WatchedQueue {
  queue: Queue;
  /** how many messages of `topic` a consumer (not a broadcast) has finished handling without throwing */
  handled(topic: TopicName): number;
}

export function watchQueue(inner: Queue): WatchedQueue {
  const counts = new Map<TopicName, number>();
  const add = (topic: TopicName, n: number) => counts.set(topic, (counts.get(topic) ?? 0) + n);
  const consume: Queue['consume'] = (topic, group, handler: Handler, opts) =>
    inner.consume(
      topic,
      group,
      async (m) => {
        await handler(m);
        add(topic, 1);
      },
      opts,
    );
  const consumeBatch: Queue['consumeBatch'] = (topic, group, handler: BatchHandler, opts) =>
    inner.consumeBatch(
      topic,
      group,
      async (ms) => {
        await handler(ms);
        add(topic, ms.length);
      },
      opts,
    );
  // every other member is the queue's own, bound to it
  const queue = new Proxy(inner, {
    get(target, name, receiver) {
      if (name === 'consume') return consume;
      if (name === 'consumeBatch') return consumeBatch;
      const value = Reflect.get(target, name, receiver) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { queue, handled: (topic) => counts.get(topic) ?? 0 };
}
