// Events every replica hears (the amo.events topic) and feeds to its own
// websocket subscribers through an in-process pub/sub.
import { createPubSub } from 'graphql-yoga';
import { TOPICS, type Queue, type Subscription } from './queue/index.ts';
import type { DeliveryStatus } from '../generated/prisma/enums.ts';

export type AmoEvent =
  | { type: 'token.stale'; quizAccountId: string; accountId: string }
  | { type: 'sync.completed'; quizAccountId: string; accountId: string; jobId: string }
  | { type: 'delivery.updated'; quizAccountId: string; deliveryId: string; quizId: string; status: DeliveryStatus };

export type AmoEventType = AmoEvent['type'];
type EventOf<T extends AmoEventType> = Extract<AmoEvent, { type: T }>;

type Channels = {
  'token.stale': [quizAccountId: string, event: EventOf<'token.stale'>];
  'sync.completed': [quizAccountId: string, event: EventOf<'sync.completed'>];
  'delivery.updated': [quizAccountId: string, event: EventOf<'delivery.updated'>];
};

export interface GatewayPubSub {
  publish<T extends AmoEventType>(type: T, quizAccountId: string, event: EventOf<T>): void;
  subscribe<T extends AmoEventType>(type: T, quizAccountId: string): AsyncIterableIterator<EventOf<T>>;
  /** Subscribers now listening on a channel (for tests that must not publish too early, and metrics). */
  listening(type: AmoEventType, quizAccountId: string): number;
}

export function createGatewayPubSub(): GatewayPubSub {
  // Channels are keyed by the tenant, so a subscriber only ever hears its own events.
  const pubsub = createPubSub<Channels>();
  const listeners = new Map<string, number>();
  const count = (key: string, delta: number) => listeners.set(key, (listeners.get(key) ?? 0) + delta);
  return {
    publish: (type, quizAccountId, event) => (pubsub.publish as (t: string, id: string, e: unknown) => void)(type, quizAccountId, event),
    subscribe<T extends AmoEventType>(type: T, quizAccountId: string) {
      const source = (pubsub.subscribe as (t: string, id: string) => AsyncIterable<EventOf<T>>)(type, quizAccountId)[Symbol.asyncIterator]();
      const key = `${type}:${quizAccountId}`;
      let state: 'new' | 'listening' | 'done' = 'new';
      const release = () => {
        if (state === 'listening') count(key, -1);
        state = 'done';
      };
      const iterator: AsyncIterableIterator<EventOf<T>> = {
        [Symbol.asyncIterator]: () => iterator,
        next: () => {
          const next = source.next();
          // The source attaches its listener on the first next(): only then is the subscriber listening.
          if (state === 'new') {
            state = 'listening';
            count(key, 1);
          }
          return next.then((r) => (r.done && release(), r));
        },
        return: async (value?: unknown) => {
          release();
          return (await source.return?.(value)) ?? { done: true, value: undefined };
        },
        throw: async (err?: unknown) => {
          release();
          if (source.throw) return source.throw(err);
          throw err;
        },
      };
      return iterator;
    },
    listening: (type, quizAccountId) => listeners.get(`${type}:${quizAccountId}`) ?? 0,
  };
}

/** Tells every replica (this one included) about an event. */
export function publishEvent(queue: Queue, event: AmoEvent): Promise<void> {
  return queue.publish(TOPICS.amoEvents, event.quizAccountId, event);
}

const EVENT_TYPES: readonly AmoEventType[] = ['token.stale', 'sync.completed', 'delivery.updated'];

/** Feeds amo.events into this replica's pub/sub. */
export function bridgeEvents(queue: Queue, pubsub: GatewayPubSub): Promise<Subscription> {
  return queue.broadcast(TOPICS.amoEvents, async (message) => {
    const event = message.value as AmoEvent;
    if (!event || !EVENT_TYPES.includes(event.type) || typeof event.quizAccountId !== 'string') return;
    pubsub.publish(event.type, event.quizAccountId, event as never);
  });
}
