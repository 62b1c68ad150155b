// Shared subscription executions (src/server/shared-subscriptions.ts) against a real gateway over
// graphql-ws: subscribers of one tenant with the same document and variables share one
// execution; another tenant with the same document, or the same tenant with other variables,
// has its own, and each receives exactly its own events. An execution ends with its last subscriber.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { untilListening } from './helpers/stack.ts';
import { startSubscriptionStage, untilSeen as until, type SubscriptionStage } from './subscriptions.kit.ts';

let stage: SubscriptionStage;

before(async () => {
  stage = await startSubscriptionStage({ a: 'share-a', b: 'share-b' });
});
after(() => stage?.stop());

const PLAIN = 'subscription { deliveryUpdated { resultId quizId } }';
const OF_QUIZ = 'subscription($quizId: ID) { deliveryUpdated(quizId: $quizId) { resultId quizId } }';

/** A subscriber on a websocket of its own; what it receives lands in the list (`resultId`, or the error). */
const subscriber = (tenant: SubscriptionStage['a'], query: string, variables?: Record<string, unknown>) =>
  stage.subscribe(tenant, query, (data) => data.deliveryUpdated.resultId, variables);
const emit = (tenant: SubscriptionStage['a'], quizId: string, label: string) => stage.emitDelivery(tenant, quizId, label);

describe('subscriptions: one execution per tenant and operation, never across tenants or variables', () => {
  test('same tenant, document and variables share; another tenant or other variables do not', async () => {
    const { app } = stage.stack.gw;
    const { a, b } = stage;
    const plainA = await Promise.all([subscriber(a, PLAIN), subscriber(a, PLAIN), subscriber(a, PLAIN)]);
    const quiz2A = await subscriber(a, OF_QUIZ, { quizId: 'quiz-2' });
    const quiz1A = await subscriber(a, OF_QUIZ, { quizId: 'quiz-1' });
    const plainB = await subscriber(b, PLAIN);
    // 6 subscribers, 4 executions: A's plain one (3), A's of quiz-2, A's of quiz-1, B's plain one
    await until(
      () => `4 executions for 6 subscribers (${JSON.stringify(app.subscriptionStats())})`,
      () => {
        const s = app.subscriptionStats();
        return s.executions === 4 && s.subscribers === 6;
      },
    );
    const pubsub = app.services.pubsub;
    await untilListening(() => pubsub.listening('delivery.updated', a.quizAccountId) === 3 && pubsub.listening('delivery.updated', b.quizAccountId) === 1);

    // A(quiz-1), B(quiz-1), A(quiz-2), B(quiz-2) in one partition: once each list has its last
    // event, every event published before it was handed out, so a leaked one would be in it
    const a1 = await emit(a, 'quiz-1', 'a1');
    const b1 = await emit(b, 'quiz-1', 'b1');
    const a2 = await emit(a, 'quiz-2', 'a2');
    const b2 = await emit(b, 'quiz-2', 'b2');
    const lists = () => ({ plainA: plainA.map((s) => s.got), quiz1A: quiz1A.got, quiz2A: quiz2A.got, plainB: plainB.got });
    await until(
      () => `every subscriber's last event (${JSON.stringify(lists())})`,
      () => plainA.every((s) => s.got.length >= 2) && quiz2A.got.length >= 1 && quiz1A.got.length >= 1 && plainB.got.length >= 2,
    );
    for (const s of plainA) assert.deepEqual(s.got, [a1, a2], "A's plain subscribers: A's events, each once");
    assert.deepEqual(quiz1A.got, [a1], "A's quiz-1 subscriber: A's quiz-1 event only");
    assert.deepEqual(quiz2A.got, [a2], "A's quiz-2 subscriber: A's quiz-2 event only");
    assert.deepEqual(plainB.got, [b1, b2], "B's subscriber: B's events only");
  });

  test('a subscriber leaving does not end the others; the last one ends the execution', async () => {
    const { app } = stage.stack.gw;
    const { b } = stage;
    const before = app.subscriptionStats();
    const [s1, s2] = await Promise.all([subscriber(b, PLAIN), subscriber(b, PLAIN)]);
    await until(
      () => 'the two new subscribers joined',
      () => app.subscriptionStats().subscribers === before.subscribers + 2,
    );
    // B's plain execution of the first test serves them too
    assert.equal(app.subscriptionStats().executions, before.executions);
    s1.stop();
    await until(
      () => 'the first one left',
      () => app.subscriptionStats().subscribers === before.subscribers + 1,
    );
    const r = await emit(b, 'quiz-1', 'after-leave');
    await until(
      () => `the one left gets it (${JSON.stringify(s2.got)})`,
      () => s2.got.length >= 1,
    );
    assert.deepEqual(s2.got, [r]);
    assert.deepEqual(s1.got, [], 'the one that left receives nothing');

    // every subscriber of B's plain execution leaves: it ends, and its pub/sub listener with it
    const ofB = stage.clients.filter((_, i) => i >= 5);
    await Promise.all(ofB.map((c) => c.dispose()));
    await until(
      () => 'B has no execution left',
      () => app.subscriptionStats().executions === before.executions - 1,
    );
    await untilListening(() => app.services.pubsub.listening('delivery.updated', b.quizAccountId) === 0);
  });
});
