// Issue 16 (Low), accounts: amoCRM's signed disconnect hook has no timestamp, so a replay must not
// disconnect an account connected again after the hook was first seen.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { tokenFor } from './helpers/app.ts';
import { TEST_AMO_CLIENT_ID } from './helpers/amo.ts';
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
