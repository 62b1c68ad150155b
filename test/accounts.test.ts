// Issue 3: owners connect, keep and remove their amoCRM account.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decryptSecret, tokenAad } from '../src/platform/amo/index.ts';
import { disconnectSignature } from '../src/features/accounts/connect.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { tokenFor } from './helpers/app.ts';
import { TEST_AMO_CLIENT_ID, TEST_AMO_CLIENT_SECRET } from './helpers/amo.ts';
import { kafkaSettings, nextEvent, startStack, wsClient, type Stack } from './helpers/stack.ts';

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

const CONNECT = 'mutation { connectAccount { link } }';

async function linkFor(tenant: string): Promise<URL> {
  const res = await stack.gw.gql(CONNECT, {}, await tokenFor(tenant));
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  return new URL(res.data.connectAccount.link);
}

/** The owner grants (or refuses) access at the simulator; amoCRM's popup then lands on our callback. */
async function answerConsent(link: URL, amoAccountId: number, consent: 'allow' | 'deny') {
  const redirect = stack.sim.authorize({ accountId: amoAccountId, state: link.searchParams.get('state')!, consent, clientId: TEST_AMO_CLIENT_ID });
  const res = await fetch(redirect);
  return { status: res.status, body: await res.text(), redirect };
}

describe('connect', () => {
  test('the whole flow: link → consent → stored account, encrypted tokens, queued sync', async () => {
    const amo = stack.sim.seedAccount({ pipelines: 2 });
    const link = await linkFor('owner-1');
    assert.equal(`${link.origin}${link.pathname}`, `${stack.sim.url}/oauth`);
    assert.equal(link.searchParams.get('client_id'), TEST_AMO_CLIENT_ID);
    assert.ok((link.searchParams.get('state') ?? '').length >= 40);

    const answer = await answerConsent(link, amo.id, 'allow');
    assert.equal(answer.status, 200, answer.body);
    assert.match(answer.body, /postMessage/);
    assert.match(answer.body, /window\.close/);

    const { data } = await stack.gw.gql('{ account { amoId name subdomain stale lastSync { status scopes } } }', {}, await tokenFor('owner-1'));
    assert.equal(data.account.amoId, amo.id);
    assert.equal(data.account.subdomain, amo.subdomain);
    assert.equal(data.account.stale, false);
    assert.ok(data.account.lastSync, 'a full sync was queued');
    assert.deepEqual([...data.account.lastSync.scopes].sort(), ['FIELDS', 'PIPELINES', 'TAGS', 'USERS']);

    // The token columns hold ciphertext only; it decrypts to what amoCRM issued.
    const rows = await testDb.db.$queryRaw<{ account_id: string; access_token_enc: string; refresh_token_enc: string }[]>`
      SELECT t.account_id, t.access_token_enc, t.refresh_token_enc FROM amo_token t JOIN amo_account a ON a.id = t.account_id WHERE a.quiz_account_id = 'owner-1'`;
    assert.equal(rows.length, 1);
    const token = rows[0]!;
    const access = decryptSecret(token.access_token_enc, Buffer.alloc(32, 42), tokenAad(token.account_id, 'access'));
    const refresh = decryptSecret(token.refresh_token_enc, Buffer.alloc(32, 42), tokenAad(token.account_id, 'refresh'));
    assert.match(access, /^eyJ/);
    assert.ok(!token.access_token_enc.includes(access.slice(0, 20)));
    assert.ok(!token.refresh_token_enc.includes(refresh.slice(0, 12)));
    // …and no token reached the logs.
    assert.ok(!stack.logs.text.includes(access), 'access token in the logs');
    assert.ok(!stack.logs.text.includes(refresh), 'refresh token in the logs');
    assert.ok(!stack.logs.text.includes(TEST_AMO_CLIENT_SECRET), 'client secret in the logs');
  });

  test('a second connect while the account works is CONFLICT', async () => {
    const res = await stack.gw.gql(CONNECT, {}, await tokenFor('owner-1'));
    assert.equal(res.errors?.[0]?.extensions?.code, 'CONFLICT');
  });

  test('refused consent stores nothing', async () => {
    const amo = stack.sim.seedAccount({});
    const answer = await answerConsent(await linkFor('owner-2'), amo.id, 'deny');
    assert.equal(answer.status, 400);
    assert.match(answer.body, /not granted/);
    assert.equal(await testDb.db.amoAccount.count({ where: { quizAccountId: 'owner-2' } }), 0);
  });

  test('forged, expired and reused states are refused (400) and store nothing', async () => {
    const amo = stack.sim.seedAccount({});
    // Forged: a state we never issued.
    const forged = await fetch(
      `${stack.gw.url}/webhook/create?code=whatever&referer=${encodeURIComponent(stack.sim.host)}&state=forged-state&platform=1&client_id=${TEST_AMO_CLIENT_ID}`,
    );
    assert.equal(forged.status, 400);
    assert.equal(await testDb.db.amoAccount.count({ where: { amoId: amo.id } }), 0, 'the forged state connected nothing');
    // Expired.
    const link = await linkFor('owner-3');
    await testDb.db.oAuthState.updateMany({ where: { quizAccountId: 'owner-3' }, data: { expiresAt: new Date(Date.now() - 1000) } });
    const expired = await answerConsent(link, amo.id, 'allow');
    assert.equal(expired.status, 400);
    assert.equal(await testDb.db.amoAccount.count({ where: { quizAccountId: 'owner-3' } }), 0);
    // Reused: the first answer connects, the replay of the same redirect does nothing.
    const fresh = await linkFor('owner-4');
    const first = await answerConsent(fresh, amo.id, 'allow');
    assert.equal(first.status, 200);
    const replay = await fetch(first.redirect);
    assert.equal(replay.status, 400);
    assert.equal(await testDb.db.amoAccount.count({ where: { quizAccountId: 'owner-4' } }), 1);
    assert.equal(await testDb.db.amoAccount.count({ where: { amoId: amo.id } }), 1, 'one account for the amoCRM account: the replay added none');
  });
});

describe('disconnect', () => {
  test('by mutation: soft delete, tokens destroyed; connecting again works', async () => {
    const amo = stack.sim.seedAccount({});
    await answerConsent(await linkFor('owner-5'), amo.id, 'allow');
    const token = await tokenFor('owner-5');
    const res = await stack.gw.gql('mutation { disconnectAccount { account { amoId } } }', {}, token);
    assert.equal(res.data.disconnectAccount.account.amoId, amo.id);
    assert.equal((await stack.gw.gql('{ account { id } }', {}, token)).data.account, null);
    const row = await testDb.db.amoAccount.findFirstOrThrow({ where: { quizAccountId: 'owner-5' } });
    assert.ok(row.deletedAt);
    assert.equal(await testDb.db.amoToken.count({ where: { accountId: row.id } }), 0);
    // Nothing to disconnect now.
    const again = await stack.gw.gql('mutation { disconnectAccount { account { id } } }', {}, token);
    assert.equal(again.data.disconnectAccount.account, null);
    // And a new connection is allowed.
    const second = await answerConsent(await linkFor('owner-5'), amo.id, 'allow');
    assert.equal(second.status, 200);
    assert.equal((await stack.gw.gql('{ account { amoId } }', {}, token)).data.account.amoId, amo.id);
  });

  test("by amoCRM's signed hook; a forged signature changes nothing", async () => {
    const amo = stack.sim.seedAccount({});
    await answerConsent(await linkFor('owner-6'), amo.id, 'allow');
    const forged = await fetch(
      `${stack.gw.url}/webhook/delete?account_id=${amo.id}&client_uuid=${TEST_AMO_CLIENT_ID}&signature=${disconnectSignature(TEST_AMO_CLIENT_ID, String(amo.id), 'wrong-secret')}`,
    );
    assert.equal(forged.status, 401);
    const garbage = await fetch(`${stack.gw.url}/webhook/delete?account_id=${amo.id}&client_uuid=${TEST_AMO_CLIENT_ID}&signature=zz`);
    assert.equal(garbage.status, 401);
    assert.equal((await testDb.db.amoAccount.findFirstOrThrow({ where: { quizAccountId: 'owner-6' } })).deletedAt, null);

    const status = await stack.sim.sendDisconnectHook(amo.id, `${stack.gw.url}/webhook/delete`);
    assert.equal(status, 200);
    const row = await testDb.db.amoAccount.findFirstOrThrow({ where: { quizAccountId: 'owner-6' } });
    assert.ok(row.deletedAt);
    assert.equal(await testDb.db.amoToken.count({ where: { accountId: row.id } }), 0);
  });
});

describe('stale tokens', () => {
  test('revocation → stale → tokenStale reaches a subscriber on another gateway', { skip: !process.env.KAFKA_BROKERS && 'needs a Kafka broker (KAFKA_BROKERS)' }, async () => {
    // Both replicas are one integration: the redirect URI registered at amoCRM is the same.
    const kafka = { ...kafkaSettings(), AMO_REDIRECT_URI: stack.gw.config.amo.redirectUri };
    const replicaA = await startStack(testDb, { sim: stack.sim, config: kafka });
    const replicaB = await startStack(testDb, { sim: stack.sim, config: kafka });
    try {
      const amo = stack.sim.seedAccount({});
      const link = new URL((await replicaA.gw.gql(CONNECT, {}, await tokenFor('owner-7'))).data.connectAccount.link);
      const redirect = stack.sim.authorize({ accountId: amo.id, state: link.searchParams.get('state')!, consent: 'allow', clientId: TEST_AMO_CLIENT_ID });
      // The simulator redirects to the shared stack's gateway; replica A handles this owner's callback itself.
      const callback = new URL(redirect);
      assert.equal((await fetch(`${replicaA.gw.url}${callback.pathname}${callback.search}`)).status, 200);
      const account = await testDb.db.amoAccount.findFirstOrThrow({ where: { quizAccountId: 'owner-7', deletedAt: null } });

      const client = wsClient(replicaB.gw.url, await tokenFor('owner-7'));
      const event = nextEvent(client, 'subscription { tokenStale { amoId stale } }', {}, () => replicaB.gw.app.services.pubsub.listening('token.stale', 'owner-7') > 0);
      await event.ready;

      stack.sim.revoke(amo.id);
      stack.sim.expireAccessTokens(amo.id);
      await assert.rejects(replicaA.gw.app.services.amo.client(account.id).getAccount());

      const { tokenStale } = await event.value;
      assert.deepEqual(tokenStale, { amoId: amo.id, stale: true });
      await client.dispose();
    } finally {
      await replicaA.stop();
      await replicaB.stop();
    }
  });

  test('a stale account may be connected again and is live again', async () => {
    const amo = stack.sim.seedAccount({});
    await answerConsent(await linkFor('owner-8'), amo.id, 'allow');
    await testDb.db.amoAccount.updateMany({ where: { quizAccountId: 'owner-8' }, data: { stale: true, staleAt: new Date() } });
    const answer = await answerConsent(await linkFor('owner-8'), amo.id, 'allow');
    assert.equal(answer.status, 200, answer.body);
    const rows = await testDb.db.amoAccount.findMany({ where: { quizAccountId: 'owner-8' } });
    assert.equal(rows.length, 1, 'the same account is reconnected, not duplicated');
    assert.equal(rows[0]!.stale, false);
  });
});

describe('websocket authentication', () => {
  test('a bad token closes the socket with 4401', async () => {
    const closed = new Promise<number>((resolve) => {
      const client = wsClient(stack.gw.url, 'not-a-token', { onClose: resolve });
      client.subscribe({ query: 'subscription { syncCompleted { id } }' }, { next: () => {}, error: () => {}, complete: () => {} });
    });
    assert.equal(await closed, 4401);
  });

  test('a token that expires while connected ends the connection', async () => {
    const short = await tokenFor('owner-1', { expiresIn: Math.floor(Date.now() / 1000) + 2 });
    const closed = new Promise<number>((resolve) => {
      const client = wsClient(stack.gw.url, short, { onClose: resolve });
      client.subscribe({ query: 'subscription { syncCompleted { id } }' }, { next: () => {}, error: () => {}, complete: () => {} });
    });
    assert.equal(await closed, 4401);
  });
});
