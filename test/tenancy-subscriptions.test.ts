// Tenancy of the subscriptions over graphql-ws against a real gateway: tenant B's
// deliveryUpdated, syncCompleted and tokenStale never receive tenant A's events, while A's own
// subscriptions do (and the other way round). Events go the production way: services.events
// publishes to amo.events, the gateway's broadcast feeds its pub/sub, the resolvers read the rows.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AmoEventType } from '../src/platform/events.ts';
import type { ConnectedAccount } from './helpers/amo.ts';
import { untilListening } from './helpers/stack.ts';
import { startSubscriptionStage, untilSeen, type SubscriptionStage } from './subscriptions.kit.ts';

let stage: SubscriptionStage;

before(async () => {
  stage = await startSubscriptionStage({ a: 'tenant-a', b: 'tenant-b' });
});
after(() => stage?.stop());

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
    emit: (tenant, label) => stage.emitDelivery(tenant, 'quiz-1', label),
  },
  syncCompleted: {
    type: 'sync.completed',
    query: 'subscription { syncCompleted { error } }',
    pick: (d) => d.syncCompleted.error,
    async emit(tenant, label) {
      // the job's error field carries the label, so each subscriber's list says whose job it got
      const job = await stage.testDb.db.syncJob.create({ data: { accountId: tenant.accountId, scopes: ['USERS'], status: 'FAILED', error: label, finishedAt: new Date() } });
      await stage.stack.gw.app.services.events.syncCompleted({ quizAccountId: tenant.quizAccountId, accountId: tenant.accountId, jobId: job.id });
      return label;
    },
  },
  tokenStale: {
    type: 'token.stale',
    query: 'subscription { tokenStale { quizAccountId } }',
    pick: (d) => d.tokenStale.quizAccountId,
    async emit(tenant) {
      await stage.stack.gw.app.services.events.tokenStale(tenant.accountId);
      return tenant.quizAccountId;
    },
  },
};

describe("subscriptions: a tenant receives its own events and never another tenant's", () => {
  for (const [name, c] of Object.entries(cases)) {
    test(name, async () => {
      const { a, b } = stage;
      const ofA = (await stage.subscribe(a, c.query, c.pick)).got;
      const ofB = (await stage.subscribe(b, c.query, c.pick)).got;
      const pubsub = stage.stack.gw.app.services.pubsub;
      await untilListening(() => pubsub.listening(c.type, a.quizAccountId) > 0 && pubsub.listening(c.type, b.quizAccountId) > 0);
      // A, B, A, B in one partition: by the time a tenant has its last own event, every event
      // published before it has been handed to the pub/sub, so a leaked one would be in its list
      const a1 = await c.emit(a, 'a1');
      const b1 = await c.emit(b, 'b1');
      const a2 = await c.emit(a, 'a2');
      const b2 = await c.emit(b, 'b2');
      await untilSeen(
        () => `A's and B's two events (A: ${JSON.stringify(ofA)}, B: ${JSON.stringify(ofB)})`,
        () => ofA.length >= 2 && ofB.length >= 2,
      );
      assert.deepEqual(ofA, [a1, a2], "A's subscription: A's events only");
      assert.deepEqual(ofB, [b1, b2], "B's subscription: B's events only");
    });
  }
});
