// amoCRM tokens (src/platform/amo): encrypted at rest, refreshed once however many replicas ask,
// revoked or refused for good, kept on a passing failure, refreshed ahead of expiry, and the
// authorization-code grant. Against the simulator over HTTP and real PostgreSQL.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AmoSimulator } from '@quiz-gateway/amo-sim';
import type { Db } from '../src/platform/db.ts';
import {
  AmoStaleError,
  AmoTokenRefreshError,
  AmoUnauthorizedError,
  createAmoClient,
  decryptSecret,
  encryptSecret,
  tokenAad,
  exchangeCode,
  isAmoStaleError,
  refreshAccessToken,
  refreshExpiring,
  saveTokens,
} from '../src/platform/amo/index.ts';
import { connectSimAccount, testAmoConfig } from './helpers/amo.ts';
import { at } from './helpers/narrow.ts';
import { config, logger, startAmoClientKit, type AmoClientKit } from './amo-client.kit.ts';

let kit: AmoClientKit;
let sim: AmoSimulator;
let db: Db;

before(async () => {
  kit = await startAmoClientKit();
  ({ sim, db } = kit);
});

after(async () => {
  await kit?.stop();
});

describe('token storage', () => {
  test('encryptSecret/decryptSecret round-trip; tampering and a wrong key are refused', () => {
    const key = config.tokenEncryptionKey;
    const enc = encryptSecret('secret-value', key);
    assert.match(enc, /^v2\.k1\./);
    assert.notEqual(enc, encryptSecret('secret-value', key), 'random IV');
    assert.equal(decryptSecret(enc, key), 'secret-value');
    const parts = enc.split('.');
    const flipped = Buffer.from(at(parts, 4, 'ciphertext part'), 'base64url');
    flipped[0]! ^= 1;
    assert.throws(() => decryptSecret([...parts.slice(0, 4), flipped.toString('base64url')].join('.'), key));
    assert.throws(() => decryptSecret(enc, Buffer.alloc(32, 1)));
    assert.throws(() => decryptSecret('plain', key));
  });

  test('token columns hold no plaintext and decrypt back', async () => {
    const acc = sim.seedAccount({});
    const pair = sim.issueTokens(acc.id);
    const row = await db.amoAccount.create({
      data: { quizAccountId: 'q-crypto', amoId: acc.id, name: acc.name, subdomain: acc.subdomain, host: sim.host, webhookSecret: 'x' },
    });
    await saveTokens(db, config.tokenEncryptionKey, row.id, {
      accessToken: pair.access_token,
      refreshToken: pair.refresh_token,
      expiresIn: pair.expires_in,
      accessExpiresAt: new Date(Date.now() + 3_600_000),
    });
    const raw = await db.$queryRaw<Array<{ a: string; r: string }>>`SELECT access_token_enc AS a, refresh_token_enc AS r FROM amo_token WHERE account_id = ${row.id}::uuid`;
    assert.equal(raw.length, 1);
    const stored = raw[0]!;
    for (const value of [stored.a, stored.r]) {
      assert.ok(!value.includes(pair.access_token) && !value.includes(pair.refresh_token));
      assert.ok(!value.includes(pair.access_token.slice(0, 24)) && !value.includes(pair.refresh_token.slice(8, 40)));
    }
    assert.equal(decryptSecret(stored.a, config.tokenEncryptionKey, tokenAad(row.id, 'access')), pair.access_token);
    assert.equal(decryptSecret(stored.r, config.tokenEncryptionKey, tokenAad(row.id, 'refresh')), pair.refresh_token);
  });
});

describe('token refresh', () => {
  test('an expired access token: one refresh, then success', async () => {
    const a = await connectSimAccount(db, sim, config);
    sim.expireAccessTokens(a.amoId);
    const c = kit.client(a.accountId);
    assert.equal((await c.getAccount()).id, a.amoId);
    assert.equal(sim.refreshCount(a.amoId), 1);
    assert.equal((await c.getAccount()).id, a.amoId);
    assert.equal(sim.refreshCount(a.amoId), 1);
    const token = await db.amoToken.findUniqueOrThrow({ where: { accountId: a.accountId } });
    assert.equal(token.version, 2);
    assert.ok(token.refreshedAt);
  });

  test('a token that the database says is expired is refreshed before the call', async () => {
    const a = await connectSimAccount(db, sim, config, { accessExpiresAt: new Date(Date.now() - 1000) });
    const c = kit.client(a.accountId);
    assert.equal((await c.getAccount()).id, a.amoId);
    assert.equal(sim.refreshCount(a.amoId), 1);
    assert.ok(sim.requestLog(a.amoId).every((e) => e.status === 200));
  });

  test('revoked at amoCRM: stale, onStale once, definitive error, no more calls', async () => {
    const a = await connectSimAccount(db, sim, config);
    const staleCalls: string[] = [];
    const onStale = (id: string) => void staleCalls.push(id);
    const c = kit.client(a.accountId, { onStale });
    sim.revoke(a.amoId);
    await assert.rejects(c.getAccount(), (e: unknown) => {
      assert.ok(e instanceof AmoTokenRefreshError || e instanceof AmoUnauthorizedError);
      if (e instanceof AmoTokenRefreshError) assert.equal(e.definitive, true);
      assert.ok(isAmoStaleError(e));
      assert.ok(!(e as Error).message.includes('def50200'), 'no token in the message');
      return true;
    });
    assert.deepEqual(staleCalls, [a.accountId]);
    const row = await db.amoAccount.findUniqueOrThrow({ where: { id: a.accountId } });
    assert.equal(row.stale, true);
    assert.ok(row.staleAt);
    const refreshes = sim.refreshCount(a.amoId);
    const requests = sim.requestLog(a.amoId).length;
    await assert.rejects(kit.client(a.accountId, { onStale }).getAccount(), AmoStaleError);
    await assert.rejects(refreshAccessToken({ db, config, onStale }, a.accountId, { knownVersion: 1 }), AmoStaleError);
    assert.deepEqual(staleCalls, [a.accountId]);
    assert.equal(sim.refreshCount(a.amoId), refreshes);
    assert.equal(sim.requestLog(a.amoId).length, requests);
  });

  test('401 again after a successful refresh: AmoUnauthorizedError, stale, onStale once', async () => {
    const a = await connectSimAccount(db, sim, config);
    const staleCalls: string[] = [];
    // amoCRM keeps refusing the API while the token endpoint still works
    const refusingFetch = (input: string | URL | Request, init?: RequestInit) =>
      String(input instanceof Request ? input.url : input).includes('/api/v4/')
        ? Promise.resolve(new Response(JSON.stringify({ title: 'Unauthorized', status: 401 }), { status: 401, headers: { 'content-type': 'application/problem+json' } }))
        : fetch(input, init);
    const c = kit.client(a.accountId, { fetch: refusingFetch, onStale: (id) => void staleCalls.push(id) });
    await assert.rejects(c.getAccount(), AmoUnauthorizedError);
    assert.equal(sim.refreshCount(a.amoId), 1);
    assert.deepEqual(staleCalls, [a.accountId]);
    assert.equal((await db.amoAccount.findUniqueOrThrow({ where: { id: a.accountId } })).stale, true);
    await assert.rejects(c.getAccount(), AmoStaleError);
    assert.deepEqual(staleCalls, [a.accountId]);
  });

  test('20 concurrent refreshers with their own connections: exactly one refresh, everyone gets the new token', async () => {
    const a = await connectSimAccount(db, sim, config, { accessExpiresAt: new Date(Date.now() - 1000) });
    sim.expireAccessTokens(a.amoId);
    const dbs = Array.from({ length: 20 }, () => kit.newDb());
    const results = await Promise.all(dbs.map((d, i) => refreshAccessToken({ db: d, config, logger }, a.accountId, i % 2 === 0 ? { knownVersion: 1 } : {})));
    assert.equal(sim.refreshCount(a.amoId), 1);
    assert.equal(results.filter((r) => r.refreshed).length, 1);
    const tokens = new Set(results.map((r) => r.accessToken));
    assert.equal(tokens.size, 1);
    assert.ok(results.every((r) => r.version === 2));
    const res = await fetch(`${sim.url}/api/v4/account`, { headers: { authorization: `Bearer ${results[0]!.accessToken}` } });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    // and every replica's client works with it
    const answers = await Promise.all(dbs.slice(0, 5).map((d) => createAmoClient({ db: d, config, logger, accountId: a.accountId }).getAccount()));
    assert.ok(answers.every((x) => x.id === a.amoId));
    assert.equal(sim.refreshCount(a.amoId), 1);
  });

  test('a 5xx at the token endpoint is not definitive: tokens kept, not stale, next try works', async () => {
    const a = await connectSimAccount(db, sim, config);
    sim.expireAccessTokens(a.amoId);
    sim.injectFault(a.amoId, { kind: '5xx', status: 502, count: 1, path: 'oauth2' });
    const staleCalls: string[] = [];
    const ctx = { db, config, logger, onStale: (id: string) => void staleCalls.push(id) };
    await assert.rejects(refreshAccessToken(ctx, a.accountId, { knownVersion: 1 }), (e: unknown) => {
      assert.ok(e instanceof AmoTokenRefreshError);
      assert.equal(e.definitive, false);
      assert.equal(e.retryable, true);
      return true;
    });
    const row = await db.amoAccount.findUniqueOrThrow({ where: { id: a.accountId }, include: { token: true } });
    assert.equal(row.stale, false);
    assert.equal(row.token?.version, 1);
    assert.match(row.token?.lastRefreshError ?? '', /502/);
    assert.deepEqual(staleCalls, []);
    // the refresh token survived: the next attempt (e.g. the client on 401) succeeds
    assert.equal((await kit.client(a.accountId).getAccount()).id, a.amoId);
    const after = await db.amoToken.findUniqueOrThrow({ where: { accountId: a.accountId } });
    assert.equal(after.version, 2);
    assert.equal(after.lastRefreshError, null);
  });

  test('refreshExpiring refreshes pairs expiring within the window and skips stale accounts', async () => {
    const soon = await connectSimAccount(db, sim, config, { accessExpiresAt: new Date(Date.now() + 10 * 60_000) });
    const later = await connectSimAccount(db, sim, config, { accessExpiresAt: new Date(Date.now() + 20 * 3_600_000) });
    const stale = await connectSimAccount(db, sim, config, { accessExpiresAt: new Date(Date.now() + 60_000) });
    await db.amoAccount.update({ where: { id: stale.accountId }, data: { stale: true, staleAt: new Date() } });
    const report = await refreshExpiring({ db, config, logger }, { within: 3_600_000 });
    assert.ok(report.refreshed.includes(soon.accountId));
    assert.ok(!report.refreshed.includes(later.accountId));
    assert.ok(![...report.refreshed, ...report.skipped].includes(stale.accountId));
    assert.equal(sim.refreshCount(soon.amoId), 1);
    assert.equal(sim.refreshCount(later.amoId), 0);
    assert.equal(sim.refreshCount(stale.amoId), 0);
    assert.equal((await kit.client(soon.accountId).getAccount()).id, soon.amoId);
  });

  test('exchangeCode: the authorization-code grant; a reused code is a definitive refusal', async () => {
    const acc = sim.seedAccount({});
    const redirect = new URL(sim.authorize({ accountId: acc.id, state: 's', consent: 'allow' }));
    const code = redirect.searchParams.get('code')!;
    const referer = redirect.searchParams.get('referer')!;
    const pair = await exchangeCode({ config }, referer, code);
    assert.ok(pair.accessToken && pair.refreshToken);
    assert.equal(pair.expiresIn, 86400);
    assert.ok(pair.accessExpiresAt.getTime() > Date.now());
    await assert.rejects(exchangeCode({ config }, referer, code), (e: unknown) => e instanceof AmoTokenRefreshError && e.definitive);
    await assert.rejects(exchangeCode({ config: testAmoConfig({ allowHttp: false }) }, `http://${referer}`, code));
  });
});
