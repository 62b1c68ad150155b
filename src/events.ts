// Events every replica hears (the amo.events topic) and feeds to its own
// websocket subscribers through an in-process pub/sub.
import { createPubSub } from 'graphql-yoga';
import { TOPICS, type Queue, type Subscription } from './queue/index.ts';
import type { DeliveryStatus } from './generated/prisma/enums.ts';

export type AmoEvent =
  | { type: 'token.stale'; quizAccountId: string; accountId: string }
  | { type: 'sync.completed'; quizAccountId: string; accountId: string; jobId: string }
  | { type: 'delivery.updated'; quizAccountId: string; deliveryId: string; quizId: string; status: DeliveryStatus };

export type AmoEventType = AmoEvent['type'];
type EventOf<T extends AmoEventType> = Extract<AmoEvent, { type: T }>;

export type GatewayPubSub = ReturnType<typeof createGatewayPubSub>;

export function createGatewayPubSub() {
  // Channels are keyed by the tenant, so a subscriber only ever hears its own events.
  return createPubSub<{
    'token.stale': [quizAccountId: string, event: EventOf<'token.stale'>];
    'sync.completed': [quizAccountId: string, event: EventOf<'sync.completed'>];
    'delivery.updated': [quizAccountId: string, event: EventOf<'delivery.updated'>];
  }>();
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
    (pubsub.publish as (type: string, id: string, payload: AmoEvent) => void)(event.type, event.quizAccountId, event);
  });
}
