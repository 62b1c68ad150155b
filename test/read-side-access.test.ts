// Issue 2: the contract's read side — tenant B never reads tenant A, tokens are checked (HS256,
// issuer, audience, claim, JWKS), GraphiQL in development, and errors never show internals.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { createDb } from '../src/platform/db.ts';
import type { TestDatabase } from './helpers/db.ts';
import { startTestApp, TEST_JWT_SECRET, tokenFor, type TestApp } from './helpers/app.ts';
import { ok, startReadSide, type ReadSide } from './read-side.kit.ts';

let testDb: TestDatabase;
let gw: TestApp;
let tokenA: string;
let tokenB: string;
let readSide: ReadSide;

before(async () => {
  readSide = await startReadSide();
  ({ testDb, gw, tokenA, tokenB } = readSide);
});
after(async () => {
  await readSide?.stop();
});

describe('tenancy: tenant B never reads tenant A', () => {
  test('through every query and node(id)', async () => {
    const a = ok(
      await gw.gql(
        `{ account { id amoId } users(first: 100) { edges { node { id } } } pipelines(includeArchived: true, first: 10) { edges { node { id steps(first: 10) { edges { node { id } } } } } }
      fields(first: 100) { edges { node { id } } } tags(first: 100) { edges { node { id } } } rule(quizId: "quiz-1") { id }
      utms(quizId: "quiz-1") { edges { node { id } } } deliveries(first: 100) { edges { node { id } } } }`,
        {},
        tokenA,
      ),
    );
    const b = ok(
      await gw.gql(
        `{ account { id amoId } users(first: 100) { edges { node { id } } } pipelines(includeArchived: true, first: 100) { edges { node { id } } }
      fields(first: 100) { edges { node { id } } } tags(first: 100) { edges { node { id } } } rule(quizId: "quiz-1") { id }
      utms(quizId: "quiz-1") { totalCount } deliveries { totalCount } }`,
        {},
        tokenB,
      ),
    );
    assert.notEqual(b.account.id, a.account.id);
    assert.equal(b.rule, null);
    assert.equal(b.utms.totalCount, 0);
    assert.equal(b.deliveries.totalCount, 0);
    const bIds = new Set([...b.users.edges, ...b.pipelines.edges, ...b.fields.edges, ...b.tags.edges].map((e: any) => e.node.id));
    const aIds: string[] = [
      a.account.id,
      a.rule.id,
      ...a.users.edges.map((e: any) => e.node.id),
      ...a.pipelines.edges.flatMap((e: any) => [e.node.id, ...e.node.steps.edges.map((s: any) => s.node.id)]),
      ...a.fields.edges.map((e: any) => e.node.id),
      ...a.tags.edges.map((e: any) => e.node.id),
      ...a.utms.edges.map((e: any) => e.node.id),
      ...a.deliveries.edges.map((e: any) => e.node.id),
    ];
    for (const id of aIds) assert.ok(!bIds.has(id));
    // Every one of A's objects is, for B, exactly a missing one.
    for (const id of aIds) {
      const res = await gw.gql('query($id: ID!) { node(id: $id) { id } }', { id }, tokenB);
      assert.deepEqual(res.data, { node: null }, id);
      assert.equal(res.errors, undefined);
    }
    const pipelineOfA = a.pipelines.edges[0].node.id;
    const steps = await gw.gql('query($id: ID!) { steps(pipelineId: $id) { totalCount } }', { id: pipelineOfA }, tokenB);
    assert.equal(steps.errors?.[0]?.extensions?.code, 'NOT_FOUND');
    const garbage = await gw.gql('{ node(id: "Z2FyYmFnZQ==") { id } }', {}, tokenB);
    // an id that decodes to nothing is a missing node, not an error
    assert.deepEqual(garbage.data, { node: null });
    assert.equal(garbage.errors, undefined);
  });
});

describe('authentication', () => {
  const secret = new TextEncoder().encode(TEST_JWT_SECRET);
  const cases: [string, () => Promise<string | null>][] = [
    ['missing', async () => null],
    [
      'expired',
      () =>
        new SignJWT({ accountId: 'tenant-a' })
          .setProtectedHeader({ alg: 'HS256' })
          .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
          .sign(secret),
    ],
    ['wrongly signed', () => tokenFor('tenant-a', { secret: 'another-secret-entirely-123456' })],
    ['without exp', () => new SignJWT({ accountId: 'tenant-a' }).setProtectedHeader({ alg: 'HS256' }).sign(secret)],
    ['garbage', async () => 'not.a.jwt'],
  ];
  for (const [name, make] of cases) {
    test(`a ${name} token is UNAUTHENTICATED with HTTP 401`, async () => {
      const res = await gw.gql('{ account { id } }', {}, await make());
      assert.equal(res.status, 401);
      assert.equal(res.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
      assert.equal('data' in res, false, 'no data at all, not even null');
    });
  }

  test('issuer and audience are checked when configured; the tenant claim is configurable', async () => {
    const strict = await startTestApp(testDb, { config: { AUTH_AUDIENCE: 'quiz-gateway', AUTH_ISSUER: 'https://quiz.example', AUTH_ACCOUNT_CLAIM: 'tenant' } });
    try {
      const wrongAudience = await strict.gql('{ account { id } }', {}, await tokenFor('tenant-a', { audience: 'someone-else', issuer: 'https://quiz.example', claim: 'tenant' }));
      assert.equal(wrongAudience.status, 401);
      assert.equal(wrongAudience.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
      const wrongIssuer = await strict.gql('{ account { id } }', {}, await tokenFor('tenant-a', { audience: 'quiz-gateway', issuer: 'https://evil.example', claim: 'tenant' }));
      assert.equal(wrongIssuer.status, 401);
      const good = await strict.gql('{ account { quizAccountId } }', {}, await tokenFor('tenant-a', { audience: 'quiz-gateway', issuer: 'https://quiz.example', claim: 'tenant' }));
      assert.equal(good.data?.account?.quizAccountId, 'tenant-a');
      // Without the claim, sub names the tenant.
      const bySub = await new SignJWT({})
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('tenant-b')
        .setAudience('quiz-gateway')
        .setIssuer('https://quiz.example')
        .setExpirationTime('1h')
        .sign(secret);
      const sub = await strict.gql('{ account { quizAccountId } }', {}, bySub);
      assert.equal(sub.data?.account?.quizAccountId, 'tenant-b');
    } finally {
      await strict.stop();
    }
  });
});

describe('JWKS and GraphiQL', () => {
  test('RS256 tokens are verified against AUTH_JWKS_URL', async () => {
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    const jwks = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    const jwksUrl = `http://127.0.0.1:${(jwks.address() as { port: number }).port}/jwks.json`;
    const app = await startTestApp(testDb, { config: { AUTH_JWT_SECRET: '', AUTH_JWKS_URL: jwksUrl } });
    try {
      const signed = await new SignJWT({ accountId: 'tenant-a' }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setExpirationTime('5m').sign(privateKey);
      const good = await app.gql('{ account { quizAccountId } }', {}, signed);
      assert.equal(good.data?.account?.quizAccountId, 'tenant-a');
      // An HS256 token signed with some secret is refused when keys come from JWKS.
      const hs = await app.gql('{ account { quizAccountId } }', {}, await tokenFor('tenant-a'));
      assert.equal(hs.status, 401);
      const other = await generateKeyPair('RS256');
      const forged = await new SignJWT({ accountId: 'tenant-a' }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setExpirationTime('5m').sign(other.privateKey);
      assert.equal((await app.gql('{ account { id } }', {}, forged)).status, 401);
    } finally {
      await app.stop();
      jwks.close();
    }
  });

  test('GraphiQL is served to a browser in development', async () => {
    const res = await fetch(`${gw.url}/graphql`, { headers: { accept: 'text/html' } });
    assert.equal(res.status, 200);
    assert.match(await res.text(), /graphiql/i);
  });
});

describe('errors never show internals', () => {
  test('an unexpected failure is INTERNAL without stack, SQL or detail', async () => {
    const broken = createDb(testDb.url.replace(/\/[^/]+$/, '/no_such_database_here'));
    const brokenApp = await startTestApp({ ...testDb, db: broken });
    try {
      const res = await brokenApp.gql('{ users { totalCount } }', {}, tokenA);
      assert.equal(res.errors?.[0]?.extensions?.code, 'INTERNAL');
      assert.equal(res.errors?.[0]?.message, 'Internal server error');
      const text = JSON.stringify(res);
      assert.doesNotMatch(text, /no_such_database|stack|SELECT|postgres/i);
    } finally {
      await brokenApp.stop();
      await broken.$disconnect();
    }
  });
});
