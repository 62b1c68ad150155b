// Issue 16 (Low), accounts: amoCRM's signed disconnect hook has no timestamp, so a replay must not
// disconnect an account connected again after the hook was first seen; and the same amoCRM account
// connected again comes back as its own row (issue 17), its waiting deliveries with it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { claimDueDeliveries } from '../src/features/delivery/worker.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { tokenFor } from './helpers/app.ts';
import { TEST_AMO_CLIENT_ID } from './helpers/amo.ts';
import { copyCatalogue, createRule, drainDeliveries, simpleResult, testDeliveryRuntime } from './helpers/delivery.ts';
import { startStack, type Stack } from './helpers/stack.ts';

let testDb: TestDatabase;
let stack: Stack;
before(async () => {
  testDb = await createTestDatabase();
  stack = await startStack(testDb);
});
after(async () => {
  await stack?.stop();
  await testDb?.drop();
});

/** The owner of `tenant` connects the simulator's account `amoId` (link → consent → callback). */
async function connect(tenant: string, amoId: number) {
  const res = await stack.gw.gql('mutation { connectAccount { link } }', {}, await tokenFor(tenant));
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  const link = new URL(res.data.connectAccount.link);
  const redirect = stack.sim.authorize({ accountId: amoId, state: link.searchParams.get('state')!, consent: 'allow', clientId: TEST_AMO_CLIENT_ID });
  const answer = await fetch(redirect);
  assert.equal(answer.status, 200, await answer.text());
  return testDb.db.amoAccount.findFirstOrThrow({ where: { quizAccountId: tenant, deletedAt: null } });
}

test('a replayed disconnect hook leaves an account connected again after the hook was first seen', async () => {
  const amo = stack.sim.seedAccount({});
  const first = await connect('replay-1', amo.id);
  assert.equal(await stack.sim.sendDisconnectHook(amo.id, `${stack.gw.url}/webhook/delete`), 200);
  assert.ok((await testDb.db.amoAccount.findUniqueOrThrow({ where: { id: first.id } })).deletedAt, 'the first hook disconnects');

  const again = await connect('replay-1', amo.id);
  // the same signed query once more: what anyone who saw it can send, forever
  assert.equal(await stack.sim.sendDisconnectHook(amo.id, `${stack.gw.url}/webhook/delete`), 200);
  const row = await testDb.db.amoAccount.findUniqueOrThrow({ where: { id: again.id } });
  assert.equal(row.deletedAt, null, 'the replay disconnected an account connected after the hook was first seen');
  assert.equal(await testDb.db.amoToken.count({ where: { accountId: again.id } }), 1, 'its tokens are kept');
});

test('the same amoCRM account connected again keeps its deliveries waiting past QUEUED, and they go out', async () => {
  const amo = stack.sim.seedAccount({ pipelines: 1 });
  const tenant = 'carry-1';
  const old = await connect(tenant, amo.id);
  const token = await tokenFor(tenant);
  assert.equal((await stack.gw.gql('mutation { disconnectAccount { account { id } } }', {}, token)).errors, undefined);
  // sent once before the disconnect, the answer lost: it stays with the account its lead may be in
  const waiting = await testDb.db.delivery.create({
    data: {
      quizAccountId: tenant,
      accountId: old.id,
      quizId: 'quiz-1',
      resultId: 'carry-r1',
      payload: simpleResult('carry-r1') as never,
      stage: 'SENDING',
      attempts: 1,
      firstSentAt: new Date(),
      reason: 'NO_ACCOUNT',
      lastError: 'Waiting for an amoCRM account: connect one and the result is sent at once.',
    },
  });

  const fresh = await connect(tenant, amo.id);
  // issue 17: the disconnected row itself comes back, with its cache, rules and deliveries
  assert.equal(fresh.id, old.id, 'a disconnected account comes back as its own row');
  const carried = await testDb.db.delivery.findUniqueOrThrow({ where: { id: waiting.id } });
  assert.equal(carried.accountId, fresh.id, 'the waiting delivery points at the live row');
  const claimed = await claimDueDeliveries(stack.gw.app.services, { accounts: 10, batchSize: 10, leaseMs: 1 });
  assert.ok(
    claimed.some((b) => b.accountId === fresh.id && b.deliveries.some((d) => d.id === waiting.id)),
    'the carried delivery is due for the new row',
  );
  await testDb.db.delivery.update({ where: { id: waiting.id }, data: { lockedUntil: null } });

  // the owner sets the quiz's rule up again on the new row; the delivery then goes out
  const cat = await copyCatalogue(testDb.db, stack.sim, fresh.id, amo.id);
  const pipeline = stack.sim.account(amo.id).pipelines[0]!;
  const status = pipeline.statuses.find((s) => s.type === 0 && s.id !== 142 && s.id !== 143)!;
  await createRule(testDb.db, cat, fresh.id, { quizId: 'quiz-1', pipelineAmoId: pipeline.id, statusAmoId: status.id });
  await drainDeliveries(testDeliveryRuntime(stack.gw.app.services), testDb.db, tenant);
  const done = await testDb.db.delivery.findUniqueOrThrow({ where: { id: waiting.id } });
  assert.equal(done.status, 'DELIVERED', done.lastError ?? '');
  assert.equal(stack.sim.leads(amo.id).length, 1);
});
