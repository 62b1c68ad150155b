// Events every replica hears (the amo.events topic) and feeds to its own
// websocket subscribers through an in-process pub/sub. token.stale and sync.completed go through
// the outbox (event-outbox.ts, event-relay.ts): written with their change, published by the relay,
// at least once, each under its own `id`, which bridgeEvents de-duplicates.
import { createPubSub } from 'graphql-yoga';
import { TOPICS, type Queue, type Subscription } from './queue/index.ts';
import { createEventOutboxStore, enqueueEvents, enqueueTokenStale } from './event-outbox.ts';
import { relayEvents, type EventRelay } from './event-relay.ts';
import type { DeliveryStatus } from '../generated/prisma/enums.ts';
import type { Db } from './db.ts';
import type { Logger } from './logger.ts';

export type AmoEvent =
  // `id`: the outbox row's, set by the relay (absent before it is published)
  | { type: 'token.stale'; quizAccountId: string; accountId: string; id?: string }
  | { type: 'sync.completed'; quizAccountId: string; accountId: string; jobId: string; id?: string }
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
 * each event and feeds it to its subscribers. A failure to publish is logged, never thrown.
 * token.stale and sync.completed are outbox rows: once written they are published, however long
 * the broker is down. delivery.updated is published directly: the database is the truth, and such
 * an event lost is only a late screen.
 */
export interface EventPublisher {
  /**
   * Relays the outbox now: call it after committing a transaction that wrote events (finishJob).
   * Resolves once they are published, or after FLUSH_WAIT_MS (the relay goes on retrying).
   */
  flush(): Promise<void>;
  /**
   * Writes and relays `token.stale` of a gateway account (its tenant looked up; nothing when it is
   * gone). The stale transition itself needs no call: its trigger writes the row (only `flush`).
   */
  tokenStale(accountId: string): Promise<void>;
  /** Writes and relays `sync.completed` (finishJob writes its own in its transaction). */
  syncCompleted(event: { quizAccountId: string; accountId: string; jobId: string }): Promise<void>;
  deliveryUpdated(delivery: DeliveryUpdate): Promise<void>;
  /** `delivery.updated` of many Deliveries in one publish. */
  deliveriesUpdated(deliveries: readonly DeliveryUpdate[]): Promise<void>;
}

export interface EventPublisherDeps {
  db: Pick<Db, '$queryRaw' | '$executeRaw'>;
  queue: Pick<Queue, 'publish' | 'publishBatch'>;
  logger: Logger;
  /** the outbox's relay (createServices': stopped with the services); default: one of its own, without a sweep */
  relay?: EventRelay;
}

/** How long `flush` waits for a publish before it leaves the rest to the relay's retries. */
export const FLUSH_WAIT_MS = 1_000;

const deliveryEvent = (d: DeliveryUpdate): EventOf<'delivery.updated'> => ({
  type: 'delivery.updated',
  quizAccountId: d.quizAccountId,
  deliveryId: d.id,
  quizId: d.quizId,
  status: d.status,
});

export function createEventPublisher({ db, queue, logger, relay: given }: EventPublisherDeps): EventPublisher {
  const publish = (event: AmoEvent) => queue.publish(TOPICS.amoEvents, event.quizAccountId, event);
  const relay = given ?? relayEvents({ store: createEventOutboxStore(db), queue, logger });
  const flush = async () => {
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => (timer = setTimeout(resolve, FLUSH_WAIT_MS).unref()));
    await Promise.race([relay.flush(), waited]).finally(() => clearTimeout(timer));
  };
  return {
    flush,
    async tokenStale(accountId) {
      try {
        await enqueueTokenStale(db, accountId);
      } catch (err) {
        logger.error({ accountId, err: (err as Error)?.message }, 'could not write token.stale');
        return;
      }
      await flush();
    },
    async syncCompleted({ quizAccountId, accountId, jobId }) {
      try {
        await enqueueEvents(db, [{ type: 'sync.completed', quizAccountId, accountId, jobId }]);
      } catch (err) {
        logger.error({ jobId, err: (err as Error)?.message }, 'could not write sync.completed');
        return;
      }
      await flush();
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

/** How many event ids bridgeEvents remembers: a repeat comes within seconds of its first copy. */
export const SEEN_EVENT_IDS = 10_000;

/**
 * Feeds amo.events into this replica's pub/sub, each event once: a repeat of an `id` among the
 * last SEEN_EVENT_IDS (the outbox's at-least-once) is dropped.
 */
export function bridgeEvents(queue: Queue, pubsub: GatewayPubSub): Promise<Subscription> {
  const seen = new Set<string>();
  return queue.broadcast(TOPICS.amoEvents, async (message) => {
    const event = message.value as AmoEvent;
    if (!event || !EVENT_TYPES.includes(event.type) || typeof event.quizAccountId !== 'string') return;
    const id = (event as { id?: unknown }).id;
    if (typeof id === 'string') {
      if (seen.has(id)) return;
      seen.add(id);
      // a Set iterates in insertion order: the first is the oldest
      if (seen.size > SEEN_EVENT_IDS) seen.delete(seen.values().next().value!);
    }
    pubsub.publish(event.type, event.quizAccountId, event as never);
  });
}
