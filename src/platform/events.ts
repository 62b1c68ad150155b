// Events every replica hears (the amo.events topic) and feeds to its own
// websocket subscribers through an in-process pub/sub.
import { createPubSub } from 'graphql-yoga';
import { TOPICS, type Queue, type Subscription } from './queue/index.ts';
import type { DeliveryStatus } from '../generated/prisma/enums.ts';
import type { Db } from './db.ts';
import type { Logger } from './logger.ts';

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

/** A Delivery as its `delivery.updated` event tells it. */
export interface DeliveryUpdate {
  id: string;
  quizAccountId: string;
  quizId: string;
  status: DeliveryStatus;
}

/**
 * The one publisher of amo.events (`services.events`): every replica (this one included) hears
 * each event and feeds it to its subscribers. A failure to publish is logged, never thrown: the
 * database is the truth, an event lost is only a late screen.
 */
export interface EventPublisher {
  /** `token.stale` of a gateway account (its tenant looked up; nothing when it is gone). */
  tokenStale(accountId: string): Promise<void>;
  syncCompleted(event: { quizAccountId: string; accountId: string; jobId: string }): Promise<void>;
  deliveryUpdated(delivery: DeliveryUpdate): Promise<void>;
  /** `delivery.updated` of many Deliveries in one publish. */
  deliveriesUpdated(deliveries: readonly DeliveryUpdate[]): Promise<void>;
}

export interface EventPublisherDeps {
  db: Pick<Db, 'amoAccount'>;
  queue: Pick<Queue, 'publish' | 'publishBatch'>;
  logger: Logger;
}

const deliveryEvent = (d: DeliveryUpdate): EventOf<'delivery.updated'> => ({
  type: 'delivery.updated',
  quizAccountId: d.quizAccountId,
  deliveryId: d.id,
  quizId: d.quizId,
  status: d.status,
});

export function createEventPublisher({ db, queue, logger }: EventPublisherDeps): EventPublisher {
  const publish = (event: AmoEvent) => queue.publish(TOPICS.amoEvents, event.quizAccountId, event);
  return {
    async tokenStale(accountId) {
      try {
        const account = await db.amoAccount.findUnique({ where: { id: accountId }, select: { quizAccountId: true } });
        if (!account) return;
        await publish({ type: 'token.stale', quizAccountId: account.quizAccountId, accountId });
      } catch (err) {
        logger.error({ accountId, err: (err as Error)?.message }, 'could not publish token.stale');
      }
    },
    async syncCompleted({ quizAccountId, accountId, jobId }) {
      try {
        await publish({ type: 'sync.completed', quizAccountId, accountId, jobId });
      } catch (err) {
        logger.error({ jobId, err: (err as Error)?.message }, 'could not publish sync.completed');
      }
    },
    async deliveryUpdated(d) {
      try {
        await publish(deliveryEvent(d));
      } catch (err) {
        logger.warn({ err: (err as Error)?.message, deliveryId: d.id }, 'could not publish delivery.updated');
      }
    },
    async deliveriesUpdated(list) {
      if (list.length === 0) return;
      try {
        await queue.publishBatch(
          TOPICS.amoEvents,
          list.map((d) => ({ key: d.quizAccountId, value: deliveryEvent(d) })),
        );
      } catch (err) {
        logger.warn({ err: (err as Error)?.message, count: list.length }, 'could not publish delivery.updated');
      }
    },
  };
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
