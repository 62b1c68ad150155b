// Shared subscription executions (src/server/shared-subscriptions.ts) against a real gateway over
// graphql-ws: subscribers of one tenant with the same document and variables share one
// execution; another tenant with the same document, or the same tenant with other variables,
// has its own, and each receives exactly its own events. An execution ends with its last subscriber.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Client } from 'graphql-ws';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { connectSimAccount, testAmoConfig, type ConnectedAccount } from './helpers/amo.ts';
import { tokenFor } from './helpers/app.ts';
import { startStack, untilListening, wsClient, type Stack } from './helpers/stack.ts';

let testDb: TestDatabase;
let stack: Stack;
let a: ConnectedAccount;
let b: ConnectedAccount;
const clients: Client[] = [];

before(async () => {
  testDb = await createTestDatabase();
  // the in-process queue: amo.events has one partition, so events reach a subscriber in publish order
  stack = await startStack(testDb);
  a = await connectSimAccount(testDb.db, stack.sim, testAmoConfig(), { quizAccountId: 'share-a' });
  b = await connectSimAccount(testDb.db, stack.sim, testAmoConfig(), { quizAccountId: 'share-b' });
});

after(async () => {
  await Promise.all(clients.map((c) => c.dispose()));
  await stack?.stop();
  await testDb?.drop();
});

const PLAIN = 'subscription { deliveryUpdated { resultId quizId } }';
const OF_QUIZ = 'subscription($quizId: ID) { deliveryUpdated(quizId: $quizId) { resultId quizId } }';

/** A subscriber on a websocket of its own; what it receives lands in the list (`resultId`, or the error). */
async function subscriber(tenant: ConnectedAccount, query: string, variables?: Record<string, unknown>) {
  const client = wsClient(stack.gw.url, await tokenFor(tenant.quizAccountId));
  clients.push(client);
  const got: string[] = [];
  const stop = client.subscribe(
    { query, variables },
    {
      next: (r) => void got.push(r.errors ? `error: ${JSON.stringify(r.errors)}` : (r.data as any).deliveryUpdated.resultId),
      error: (err) => void got.push(`error: ${String(err)}`),
      complete: () => {},
    },
  );
  return { got, stop, client };
}

async function emit(tenant: ConnectedAccount, quizId: string, label: string): Promise<string> {
  const resultId = `${label}-${randomBytes(3).toString('hex')}`;
  const row = await testDb.db.delivery.create({
    data: { quizAccountId: tenant.quizAccountId, accountId: tenant.accountId, quizId, resultId, payload: {}, status: 'DELIVERED' },
  });
  await stack.gw.app.services.events.deliveryUpdated({ id: row.id, quizAccountId: tenant.quizAccountId, quizId, status: 'DELIVERED' });
  return resultId;
}

/** Waits for `cond`; `what` (read when it times out) says what was awaited and what there was. */
async function until(what: () => string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('subscriptions: one execution per tenant and operation, never across tenants or variables', () => {
  test('same tenant, document and variables share; another tenant or other variables do not', async () => {
    const app = stack.gw.app;
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
    const app = stack.gw.app;
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
    const ofB = clients.filter((_, i) => i >= 5);
    await Promise.all(ofB.map((c) => c.dispose()));
    await until(
      () => 'B has no execution left',
      () => app.subscriptionStats().executions === before.executions - 1,
    );
    await untilListening(() => app.services.pubsub.listening('delivery.updated', b.quizAccountId) === 0);
  });
});
