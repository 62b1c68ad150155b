import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createAmoSimulator, type AmoSimulator } from '@quiz-gateway/amo-sim';
import { createDb, type Db } from '../src/platform/db.ts';
import { createLogger } from '../src/platform/logger.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { connectSimAccount, testAmoConfig, TEST_AMO_CLIENT_ID, TEST_AMO_CLIENT_SECRET, TEST_AMO_REDIRECT } from './helpers/amo.ts';
import {
  AmoBlockedError,
  AmoClient,
  AmoNetworkError,
  AmoStaleError,
  AmoTokenRefreshError,
  AmoUnauthorizedError,
  AmoValidationError,
  createAmoClient,
  decryptSecret,
  encryptSecret,
  exchangeCode,
  isAmoStaleError,
  refreshAccessToken,
  refreshExpiring,
  saveTokens,
  type AmoClientOptions,
} from '../src/platform/amo/index.ts';
import { at, only } from './helpers/narrow.ts';

const config = testAmoConfig();
const logger = createLogger({ level: 'silent' });

let sim: AmoSimulator;
let tdb: TestDatabase;
let db: Db;
const extraDbs: Db[] = [];

before(async () => {
  sim = createAmoSimulator({
    clientId: TEST_AMO_CLIENT_ID,
    clientSecret: TEST_AMO_CLIENT_SECRET,
    redirectUri: TEST_AMO_REDIRECT,
    rateLimitRps: 7,
    rateLimitCountsRejected: true,
  });
  await sim.start();
  tdb = await createTestDatabase();
  db = tdb.db;
});

after(async () => {
  await Promise.all(extraDbs.map((d) => d.$disconnect()));
  await tdb?.drop();
  await sim?.stop();
});

function client(accountId: string, options: Partial<AmoClientOptions> = {}): AmoClient {
  return createAmoClient({ db, config, accountId, logger, backoffMs: 20, maxBackoffMs: 200, ...options });
}

function newDb(): Db {
  const d = createDb(tdb.url, { max: 1 });
  extraDbs.push(d);
  return d;
}

describe('token storage', () => {
  test('encryptSecret/decryptSecret round-trip; tampering and a wrong key are refused', () => {
    const key = config.tokenEncryptionKey;
    const enc = encryptSecret('secret-value', key);
    assert.match(enc, /^v1\./);
    assert.notEqual(enc, encryptSecret('secret-value', key), 'random IV');
    assert.equal(decryptSecret(enc, key), 'secret-value');
    const parts = enc.split('.');
    const flipped = Buffer.from(at(parts, 3, 'ciphertext part'), 'base64url');
    flipped[0]! ^= 1;
    assert.throws(() => decryptSecret([...parts.slice(0, 3), flipped.toString('base64url')].join('.'), key));
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
    assert.equal(decryptSecret(stored.a, config.tokenEncryptionKey), pair.access_token);
    assert.equal(decryptSecret(stored.r, config.tokenEncryptionKey), pair.refresh_token);
  });
});

describe('API calls', () => {
  test('a list spanning several pages returns exactly the simulator data; an empty list (204) is []', async () => {
    const a = await connectSimAccount(db, sim, config, { seed: { tagsPerEntity: { leads: 600, contacts: 0, companies: 3, customers: 0 } } });
    const c = client(a.accountId);
    const tags = await c.listTags('leads');
    const expected = sim.account(a.amoId).tags.leads.map((t) => ({ id: t.id, name: t.name, color: t.color }));
    assert.equal(expected.length, 600);
    assert.deepEqual(tags, expected);
    const tagGets = sim.requestLog(a.amoId).filter((e) => e.path.startsWith('/api/v4/leads/tags'));
    assert.equal(tagGets.length, 3);
    assert.ok(tagGets.every((e) => /limit=250/.test(e.path)));
    assert.deepEqual(await c.listTags('contacts'), []);
  });

  test('typed helpers: account, users, pipelines with statuses, fields, complex leads, notes, search, webhooks', async () => {
    const a = await connectSimAccount(db, sim, config, { seed: { pipelines: 2, users: 3 } });
    const c = client(a.accountId);
    const snapshot = sim.account(a.amoId);

    const account = await c.getAccount(['drive_url']);
    assert.equal(account.id, a.amoId);
    assert.equal(account.subdomain, snapshot.subdomain);

    const users = await c.listUsers();
    assert.deepEqual(users.map((u) => u.id).sort(), snapshot.users.map((u) => u.id).sort());

    const pipelines = await c.listPipelines();
    assert.equal(pipelines.length, 2);
    for (const p of pipelines) {
      const statusIds = p._embedded.statuses.map((s) => s.id);
      assert.ok(statusIds.includes(142) && statusIds.includes(143));
    }

    const fields = await c.listCustomFields('leads');
    assert.deepEqual(
      fields.map((f) => f.id),
      snapshot.fields.leads.map((f) => f.id),
    );
    const created = only(await c.createCustomFields('leads', [{ name: 'Quiz result id', type: 'text', code: 'QUIZ_RESULT_ID' }]), 'created field');
    assert.equal(created.code, 'QUIZ_RESULT_ID');

    const pipeline = pipelines[0]!;
    const status = pipeline._embedded.statuses.find((s) => s.type === 0 && s.id !== 142 && s.id !== 143)!;
    const results = await c.createLeadsComplex([
      {
        name: 'Quiz lead',
        pipeline_id: pipeline.id,
        status_id: status.id,
        request_id: 'res-1',
        custom_fields_values: [{ field_id: created.id, values: [{ value: 'res-1' }] }],
        _embedded: { contacts: [{ name: 'Ivan' }] },
      },
    ]);
    assert.equal(results.length, 1);
    const result = results[0]!;
    assert.deepEqual(result.request_id, ['res-1']);
    assert.ok(result.id > 0 && result.contact_id);

    const notes = await c.addLeadNotes(result.id, 'Answers: 42');
    assert.equal(notes.length, 1);
    assert.equal(sim.leads(a.amoId)[0]?.notes[0]?.params.text, 'Answers: 42');

    const lead = await c.getLead(result.id, ['contacts']);
    assert.equal(lead?.id, result.id);
    assert.equal(lead?._embedded?.contacts?.[0]?.id, result.contact_id);
    assert.equal(await c.getLead(999_999_999), null);

    const found = await c.searchLeads('res-1');
    assert.deepEqual(
      found.map((l) => l.id),
      [result.id],
    );
    assert.deepEqual(await c.searchLeads('no-such-result'), []);

    const hook = await c.subscribeWebhook('http://127.0.0.1:1/amo/webhook/abc', ['status_lead', 'delete_lead']);
    assert.deepEqual(hook.settings, ['status_lead', 'delete_lead']);
    assert.equal(sim.webhooks(a.amoId).length, 1);
    await c.unsubscribeWebhook('http://127.0.0.1:1/amo/webhook/abc');
    assert.equal(sim.webhooks(a.amoId).length, 0);
  });

  test('validation errors are typed, with path, code, detail and request id', async () => {
    const a = await connectSimAccount(db, sim, config);
    const c = client(a.accountId);
    await assert.rejects(c.createLeadsComplex([{ name: 'x', pipeline_id: 1, request_id: 'bad-1' }]), (e: unknown) => {
      assert.ok(e instanceof AmoValidationError);
      assert.equal(e.status, 400);
      assert.ok(e.errors.length >= 1);
      assert.equal(e.errors[0]?.requestId, 'bad-1');
      assert.equal(e.errors[0]?.code, 'NotSupportedChoice');
      assert.match(e.message, /pipeline_id/);
      return true;
    });
    assert.equal(sim.leads(a.amoId).length, 0);
  });

  test('429 burst, 5xx, a reset and a slow answer are absorbed', async () => {
    const a = await connectSimAccount(db, sim, config);
    const c = client(a.accountId, { timeoutMs: 400 });
    sim.injectFault(a.amoId, { kind: '429', count: 3 });
    assert.equal((await c.getAccount()).id, a.amoId);
    sim.injectFault(a.amoId, { kind: '429', count: 1, retryAfterSec: 1 });
    assert.equal((await c.getAccount()).id, a.amoId);
    sim.injectFault(a.amoId, { kind: '5xx', status: 502, count: 2 });
    sim.injectFault(a.amoId, { kind: '5xx', status: 500, count: 1 });
    assert.equal((await c.listUsers()).length, sim.account(a.amoId).users.length);
    sim.injectFault(a.amoId, { kind: 'reset', count: 1 });
    assert.equal((await c.getAccount()).id, a.amoId);
    sim.injectFault(a.amoId, { kind: 'slow', delayMs: 1500, count: 1 });
    assert.equal((await c.getAccount()).id, a.amoId);
    assert.equal(sim.faults(a.amoId).length, 0);
    const statuses = sim.requestLog(a.amoId).map((e) => e.status);
    assert.equal(statuses.filter((s) => s === 429).length, 4);
    assert.ok(statuses.includes(502) && statuses.includes(500) && statuses.includes(0));
  });

  test('a POST is not retried after a timeout (it may have been processed)', async () => {
    const a = await connectSimAccount(db, sim, config);
    const c = client(a.accountId, { timeoutMs: 300 });
    const pipeline = at(sim.account(a.amoId).pipelines, 0, 'pipeline');
    sim.injectFault(a.amoId, { kind: 'slow', delayMs: 800, count: 1, path: 'leads/complex' });
    await assert.rejects(c.createLeadsComplex([{ name: 'slow', pipeline_id: pipeline.id }]), (e: unknown) => {
      assert.ok(e instanceof AmoNetworkError);
      assert.equal(e.maybeProcessed, true);
      return true;
    });
    await new Promise((r) => setTimeout(r, 900));
    assert.equal(sim.requestLog(a.amoId).filter((e) => e.path.startsWith('/api/v4/leads/complex')).length, 1);
  });

  test('403 with the HTML block page: AmoBlockedError, blockedAt set, no further requests', async () => {
    const a = await connectSimAccount(db, sim, config);
    const c = client(a.accountId);
    sim.block(a.amoId);
    await assert.rejects(c.getAccount(), AmoBlockedError);
    const row = await db.amoAccount.findUniqueOrThrow({ where: { id: a.accountId } });
    assert.ok(row.blockedAt instanceof Date);
    const before = sim.requestLog(a.amoId).length;
    await assert.rejects(c.listUsers(), AmoBlockedError);
    await assert.rejects(client(a.accountId).getAccount(), AmoBlockedError);
    assert.equal(sim.requestLog(a.amoId).length, before);
  });

  test('402 on customers: fields and tags are empty lists', async () => {
    const a = await connectSimAccount(db, sim, config, { seed: { customersEnabled: false } });
    const c = client(a.accountId);
    assert.deepEqual(await c.listCustomFields('customers'), []);
    assert.deepEqual(await c.listTags('customers'), []);
    assert.ok(sim.requestLog(a.amoId).some((e) => e.status === 402));
  });
});

describe('token refresh', () => {
  test('an expired access token: one refresh, then success', async () => {
    const a = await connectSimAccount(db, sim, config);
    sim.expireAccessTokens(a.amoId);
    const c = client(a.accountId);
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
    const c = client(a.accountId);
    assert.equal((await c.getAccount()).id, a.amoId);
    assert.equal(sim.refreshCount(a.amoId), 1);
    assert.ok(sim.requestLog(a.amoId).every((e) => e.status === 200));
  });

  test('revoked at amoCRM: stale, onStale once, definitive error, no more calls', async () => {
    const a = await connectSimAccount(db, sim, config);
    const staleCalls: string[] = [];
    const onStale = (id: string) => void staleCalls.push(id);
    const c = client(a.accountId, { onStale });
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
    await assert.rejects(client(a.accountId, { onStale }).getAccount(), AmoStaleError);
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
    const c = client(a.accountId, { fetch: refusingFetch, onStale: (id) => void staleCalls.push(id) });
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
    const dbs = Array.from({ length: 20 }, () => newDb());
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
    assert.equal((await client(a.accountId).getAccount()).id, a.amoId);
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
    assert.equal((await client(soon.accountId).getAccount()).id, soon.amoId);
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

describe('shared rate limit', () => {
  test('two replicas firing 60 requests at one account stay within 7 per second and all succeed', async () => {
    const a = await connectSimAccount(db, sim, config);
    const replicas = [newDb(), newDb()].map((d) => createAmoClient({ db: d, config, logger, accountId: a.accountId }));
    const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => replicas[i % 2]!.getAccount()));
    assert.equal(answers.length, 60);
    assert.ok(answers.every((x) => x.id === a.amoId));
    const log = sim.requestLog(a.amoId);
    assert.equal(log.length, 60, 'no retries were needed');
    assert.ok(log.every((e) => e.status === 200));
    assert.ok(sim.maxRequestsInAnySecond(a.amoId) <= 7, `max ${sim.maxRequestsInAnySecond(a.amoId)} in a second`);
  });
});
