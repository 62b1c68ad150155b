// Tenancy of the subscriptions over graphql-ws against a real gateway: tenant B's
// deliveryUpdated, syncCompleted and tokenStale never receive tenant A's events, while A's own
// subscriptions do (and the other way round). Events go the production way: services.events
// publishes to amo.events, the gateway's broadcast feeds its pub/sub, the resolvers read the rows.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Client } from 'graphql-ws';
import type { AmoEventType } from '../src/platform/events.ts';
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
  a = await connectSimAccount(testDb.db, stack.sim, testAmoConfig(), { quizAccountId: 'tenant-a' });
  b = await connectSimAccount(testDb.db, stack.sim, testAmoConfig(), { quizAccountId: 'tenant-b' });
});

after(async () => {
  await Promise.all(clients.map((c) => c.dispose()));
  await stack?.stop();
  await testDb?.drop();
});

/** Opens `query` for the tenant over its own websocket; every value's `pick` lands in the list. */
async function subscribe(tenant: ConnectedAccount, query: string, pick: (data: any) => string): Promise<string[]> {
  const client = wsClient(stack.gw.url, await tokenFor(tenant.quizAccountId));
  clients.push(client);
  const got: string[] = [];
  client.subscribe(
    { query },
    {
      next: (result) => void got.push(result.errors ? `error: ${JSON.stringify(result.errors)}` : pick(result.data)),
      error: (err) => void got.push(`error: ${String(err)}`),
      complete: () => {},
    },
  );
  return got;
}

async function until(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Case {
  type: AmoEventType;
  query: string;
  pick: (data: any) => string;
  /** makes tenant's n-th event (a row of its own) and publishes it; returns what its subscriber must see */
  emit(tenant: ConnectedAccount, label: string): Promise<string>;
}

const cases: Record<string, Case> = {
  deliveryUpdated: {
    type: 'delivery.updated',
    query: 'subscription { deliveryUpdated { resultId } }',
    pick: (d) => d.deliveryUpdated.resultId,
    async emit(tenant, label) {
      const resultId = `${label}-${randomBytes(3).toString('hex')}`;
      const row = await testDb.db.delivery.create({
        data: { quizAccountId: tenant.quizAccountId, accountId: tenant.accountId, quizId: 'quiz-1', resultId, payload: {}, status: 'DELIVERED' },
      });
      await stack.gw.app.services.events.deliveryUpdated({ id: row.id, quizAccountId: tenant.quizAccountId, quizId: 'quiz-1', status: 'DELIVERED' });
      return resultId;
    },
  },
  syncCompleted: {
    type: 'sync.completed',
    query: 'subscription { syncCompleted { error } }',
    pick: (d) => d.syncCompleted.error,
    async emit(tenant, label) {
      // the job's error field carries the label, so each subscriber's list says whose job it got
      const job = await testDb.db.syncJob.create({ data: { accountId: tenant.accountId, scopes: ['USERS'], status: 'FAILED', error: label, finishedAt: new Date() } });
      await stack.gw.app.services.events.syncCompleted({ quizAccountId: tenant.quizAccountId, accountId: tenant.accountId, jobId: job.id });
      return label;
    },
  },
  tokenStale: {
    type: 'token.stale',
    query: 'subscription { tokenStale { quizAccountId } }',
    pick: (d) => d.tokenStale.quizAccountId,
    async emit(tenant) {
      await stack.gw.app.services.events.tokenStale(tenant.accountId);
      return tenant.quizAccountId;
    },
  },
};

describe("subscriptions: a tenant receives its own events and never another tenant's", () => {
  for (const [name, c] of Object.entries(cases)) {
    test(name, async () => {
      const ofA = await subscribe(a, c.query, c.pick);
      const ofB = await subscribe(b, c.query, c.pick);
      const pubsub = stack.gw.app.services.pubsub;
      await untilListening(() => pubsub.listening(c.type, a.quizAccountId) > 0 && pubsub.listening(c.type, b.quizAccountId) > 0);
      // A, B, A, B in one partition: by the time a tenant has its last own event, every event
      // published before it has been handed to the pub/sub, so a leaked one would be in its list
      const a1 = await c.emit(a, 'a1');
      const b1 = await c.emit(b, 'b1');
      const a2 = await c.emit(a, 'a2');
      const b2 = await c.emit(b, 'b2');
      await until(`A's and B's two events (A: ${JSON.stringify(ofA)}, B: ${JSON.stringify(ofB)})`, () => ofA.length >= 2 && ofB.length >= 2);
      assert.deepEqual(ofA, [a1, a2], "A's subscription: A's events only");
      assert.deepEqual(ofB, [b1, b2], "B's subscription: B's events only");
    });
  }
});
