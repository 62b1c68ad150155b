// Issue 2: the contract's read side, per tenant.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { seedDemoAccount } from '../src/dev/seed-data.ts';
import { createDb } from '../src/platform/db.ts';
import { FieldsPageDocument, PipelinesWithStepsDocument } from './generated/graphql.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApp, TEST_JWT_SECRET, tokenFor, type GraphQLResponse, type TestApp } from './helpers/app.ts';

let testDb: TestDatabase;
let gw: TestApp;
let tokenA: string;
let tokenB: string;

const PAGE = `pageInfo { hasNextPage hasPreviousPage startCursor endCursor } totalCount`;

before(async () => {
  testDb = await createTestDatabase();
  const a = await seedDemoAccount(testDb.db, { quizAccountId: 'tenant-a', pipelines: 3, archivedPipelines: 1, users: 30, extraFieldsPerEntity: 10 });
  await seedDemoAccount(testDb.db, { quizAccountId: 'tenant-b', pipelines: 2, users: 3 });
  // A rule, a UTM and deliveries for tenant A, written directly.
  const pipeline = await testDb.db.pipeline.findFirstOrThrow({ where: { accountId: a.id, isArchive: false }, orderBy: { sort: 'asc' } });
  const step = await testDb.db.step.findFirstOrThrow({ where: { pipelineId: pipeline.id, type: 0 }, orderBy: { sort: 'asc' } });
  const leadField = await testDb.db.customField.findFirstOrThrow({ where: { accountId: a.id, entity: 'LEAD', rawType: 'text' } });
  const contactField = await testDb.db.customField.findFirstOrThrow({ where: { accountId: a.id, entity: 'CONTACT', rawType: 'text' } });
  const tag = await testDb.db.tag.findFirstOrThrow({ where: { accountId: a.id, entity: 'LEAD' } });
  await testDb.db.rule.create({
    data: {
      accountId: a.id,
      quizId: 'quiz-1',
      pipelineId: pipeline.id,
      stepId: step.id,
      mappings: {
        create: [
          { target: 'LEAD', source: 'QUESTION', key: 'q1', fieldId: leadField.id },
          { target: 'CONTACT', source: 'PROPERTY', key: 'company', fieldId: contactField.id, position: 1 },
        ],
      },
      tags: { create: [{ tagId: tag.id, entity: 'LEAD' }] },
    },
  });
  const utmField = await testDb.db.customField.findFirstOrThrow({ where: { accountId: a.id, code: 'UTM_SOURCE' } });
  await testDb.db.utm.create({ data: { accountId: a.id, quizId: 'quiz-1', name: 'utm_source', fieldId: utmField.id } });
  for (let i = 0; i < 5; i++) {
    await testDb.db.delivery.create({
      data: {
        quizAccountId: 'tenant-a',
        accountId: a.id,
        quizId: i % 2 ? 'quiz-1' : 'quiz-2',
        resultId: `r-${i}`,
        payload: {},
        status: i === 4 ? 'FAILED' : 'DELIVERED',
        createdAt: new Date(Date.now() - (5 - i) * 1000),
      },
    });
  }
  await testDb.db.syncJob.create({ data: { accountId: a.id, scopes: ['USERS'], status: 'SUCCEEDED', users: 30 } });
  gw = await startTestApp(testDb);
  tokenA = await tokenFor('tenant-a');
  tokenB = await tokenFor('tenant-b');
});
after(async () => {
  await gw?.stop();
  await testDb?.drop();
});

function ok<T>(res: GraphQLResponse<T>): T {
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  return res.data as T;
}

describe('every Query field on seeded data', () => {
  test('account with its newest sync job', async () => {
    const { account } = ok(
      await gw.gql('{ account { id quizAccountId amoId name subdomain country stale createdAt lastSyncAt lastSync { status counts { users } } } }', {}, tokenA),
    );
    assert.equal(account.quizAccountId, 'tenant-a');
    assert.equal(account.stale, false);
    assert.equal(account.country, 'RU');
    assert.deepEqual(account.lastSync, { status: 'SUCCEEDED', counts: { users: 30 } });
  });

  test('users, sorted by name, 25 by default', async () => {
    const { users } = ok(await gw.gql(`{ users { edges { node { id amoUserId name email } } ${PAGE} } }`, {}, tokenA));
    assert.equal(users.totalCount, 30);
    assert.equal(users.edges.length, 25);
    assert.equal(users.pageInfo.hasNextPage, true);
    const names = users.edges.map((e: any) => e.node.name);
    assert.deepEqual(
      names,
      [...names].sort((x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0)),
    );
  });

  test('typed documents (codegen) page through pipelines with their steps', async () => {
    const first = ok(await gw.gql(PipelinesWithStepsDocument, { first: 2, stepsFirst: 3 }, tokenA));
    assert.equal(first.pipelines!.totalCount, 3);
    assert.equal(first.pipelines!.edges.length, 2);
    assert.equal(first.pipelines!.edges[0]!.node.steps.edges.length, 3);
    const rest = ok(await gw.gql(PipelinesWithStepsDocument, { first: 2, after: first.pipelines!.pageInfo.endCursor }, tokenA));
    assert.equal(rest.pipelines!.edges.length, 1);
    assert.equal(rest.pipelines!.pageInfo.hasNextPage, false);
    const fields = ok(await gw.gql(FieldsPageDocument, { entity: 'LEAD', first: 5 }, tokenA));
    assert.ok(fields.fields.edges.every((e) => e.node.entity === 'LEAD'));
  });

  test('pipelines hide archived ones unless asked; steps nested', async () => {
    const live = ok(
      await gw.gql(
        '{ pipelines { totalCount edges { node { name isArchive isMain steps(first: 30) { totalCount edges { node { name amoId pipeline { name } } } } } } } }',
        {},
        tokenA,
      ),
    );
    assert.equal(live.pipelines.totalCount, 3);
    assert.ok(live.pipelines.edges.every((e: any) => !e.node.isArchive));
    const first = live.pipelines.edges[0].node;
    assert.equal(first.steps.totalCount, 9); // unsorted + 6 + won + lost
    assert.deepEqual(
      first.steps.edges.slice(-2).map((e: any) => e.node.amoId),
      [142, 143],
    );
    assert.equal(first.steps.edges[0].node.pipeline.name, first.name);
    const all = ok(await gw.gql('{ pipelines(includeArchived: true) { totalCount } }', {}, tokenA));
    assert.equal(all.pipelines.totalCount, 4);
  });

  test('steps of one pipeline; an unknown pipeline is NOT_FOUND', async () => {
    const { pipelines } = ok(await gw.gql('{ pipelines(first: 1) { edges { node { id } } } }', {}, tokenA));
    const { steps } = ok(
      await gw.gql('query($id: ID!) { steps(pipelineId: $id, first: 3) { totalCount edges { node { name sort color } } } }', { id: pipelines.edges[0].node.id }, tokenA),
    );
    assert.equal(steps.totalCount, 9);
    assert.equal(steps.edges.length, 3);
    const missing = await gw.gql(
      'query($id: ID!) { steps(pipelineId: $id) { totalCount } }',
      { id: Buffer.from('Pipeline:00000000-0000-0000-0000-000000000001').toString('base64') },
      tokenA,
    );
    assert.equal(missing.errors?.[0]?.extensions?.code, 'NOT_FOUND');
  });

  test('fields of every type with options; entity narrows', async () => {
    const { fields } = ok(
      await gw.gql('{ fields(entity: CONTACT, first: 100) { totalCount edges { node { name code entity type rawType options { amoId value sort } } } } }', {}, tokenA),
    );
    const types = new Set(fields.edges.map((e: any) => e.node.type));
    for (const t of ['TEXT', 'NUMERIC', 'CHECKBOX', 'SELECT', 'MULTISELECT', 'MULTITEXT', 'DATE', 'URL', 'SMART_ADDRESS', 'LEGAL_ENTITY']) assert.ok(types.has(t), t);
    assert.ok(fields.edges.every((e: any) => e.node.entity === 'CONTACT'));
    const phone = fields.edges.find((e: any) => e.node.code === 'PHONE').node;
    assert.equal(phone.type, 'MULTITEXT');
    assert.ok(phone.options.some((o: any) => o.value === 'WORK'));
    const all = ok(await gw.gql('{ fields { totalCount } }', {}, tokenA));
    assert.ok(all.fields.totalCount > fields.totalCount);
  });

  test('tags by entity', async () => {
    const { tags } = ok(await gw.gql('{ tags(entity: LEAD, first: 100) { totalCount edges { node { name color entity } } } }', {}, tokenA));
    assert.equal(tags.totalCount, 8);
    assert.ok(tags.edges.every((e: any) => e.node.entity === 'LEAD'));
  });

  test('rule with its mappings and tags; a quiz without one is null', async () => {
    const { rule } = ok(
      await gw.gql(
        `{ rule(quizId: "quiz-1") { quizId performer { id } pipeline { name } step { name pipeline { name } }
      fieldsRule { lead { questionId field { name entity } } contact { properties { property field { entity } } questions { questionId } } company { questionId } customer { questionId } }
      tagsToAdd { lead { name } contact { name } } toUnsorted mergeDuplicates createdAt updatedAt } }`,
        {},
        tokenA,
      ),
    );
    assert.equal(rule.quizId, 'quiz-1');
    assert.equal(rule.performer, null);
    assert.equal(rule.step.pipeline.name, rule.pipeline.name);
    assert.deepEqual(
      rule.fieldsRule.lead.map((m: any) => m.questionId),
      ['q1'],
    );
    assert.deepEqual(rule.fieldsRule.contact.properties, [{ property: 'company', field: { entity: 'CONTACT' } }]);
    assert.equal(rule.tagsToAdd.lead.length, 1);
    assert.equal(rule.toUnsorted, false);
    const none = ok(await gw.gql('{ rule(quizId: "no-such-quiz") { id } }', {}, tokenA));
    assert.equal(none.rule, null);
  });

  test('utms of a quiz', async () => {
    const { utms } = ok(await gw.gql('{ utms(quizId: "quiz-1") { totalCount edges { node { quizId name field { code } } } } }', {}, tokenA));
    assert.deepEqual(
      utms.edges.map((e: any) => e.node),
      [{ quizId: 'quiz-1', name: 'utm_source', field: { code: 'UTM_SOURCE' } }],
    );
  });

  test('deliveries, newest first, filtered by quiz and status', async () => {
    const { deliveries } = ok(await gw.gql('{ deliveries { totalCount edges { node { resultId quizId status attempts createdAt } } } }', {}, tokenA));
    assert.equal(deliveries.totalCount, 5);
    assert.deepEqual(
      deliveries.edges.map((e: any) => e.node.resultId),
      ['r-4', 'r-3', 'r-2', 'r-1', 'r-0'],
    );
    const failed = ok(await gw.gql('{ deliveries(status: FAILED) { totalCount } }', {}, tokenA));
    assert.equal(failed.deliveries.totalCount, 1);
    const quiz = ok(await gw.gql('{ deliveries(quizId: "quiz-1") { totalCount } }', {}, tokenA));
    assert.equal(quiz.deliveries.totalCount, 2);
  });

  test('node(id) finds each type by its global id', async () => {
    const ids = ok(
      await gw.gql(
        `{ account { id } users(first: 1) { edges { node { id } } } pipelines(first: 1) { edges { node { id steps(first: 1) { edges { node { id } } } } } }
      fields(first: 1) { edges { node { id } } } tags(first: 1) { edges { node { id } } } rule(quizId: "quiz-1") { id }
      utms(quizId: "quiz-1") { edges { node { id } } } deliveries(first: 1) { edges { node { id } } } }`,
        {},
        tokenA,
      ),
    );
    const all = [
      ids.account.id,
      ids.users.edges[0].node.id,
      ids.pipelines.edges[0].node.id,
      ids.pipelines.edges[0].node.steps.edges[0].node.id,
      ids.fields.edges[0].node.id,
      ids.tags.edges[0].node.id,
      ids.rule.id,
      ids.utms.edges[0].node.id,
      ids.deliveries.edges[0].node.id,
    ];
    for (const id of all) {
      const { node } = ok(await gw.gql('query($id: ID!) { node(id: $id) { id __typename } }', { id }, tokenA));
      assert.equal(node?.id, id);
    }
  });
});

describe('pagination', () => {
  test('forwards and backwards through users with correct pageInfo and totalCount', async () => {
    const q = `query($first: Int, $after: String, $last: Int, $before: String) { users(first: $first, after: $after, last: $last, before: $before) { edges { cursor node { name } } ${PAGE} } }`;
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    for (;;) {
      const { users }: any = ok(await gw.gql(q, { first: 7, after }, tokenA));
      assert.equal(users.totalCount, 30);
      assert.equal(users.pageInfo.hasPreviousPage, after !== null);
      seen.push(...users.edges.map((e: any) => e.node.name));
      pages++;
      if (!users.pageInfo.hasNextPage) break;
      assert.equal(users.edges.length, 7);
      after = users.pageInfo.endCursor;
    }
    assert.equal(pages, 5);
    assert.equal(new Set(seen).size, 30);
    // Backwards from the end.
    const back: string[] = [];
    let before: string | null = null;
    for (;;) {
      const { users }: any = ok(await gw.gql(q, { last: 7, before }, tokenA));
      back.unshift(...users.edges.map((e: any) => e.node.name));
      if (!users.pageInfo.hasPreviousPage) break;
      assert.equal(users.pageInfo.hasNextPage, before !== null);
      before = users.pageInfo.startCursor;
    }
    assert.deepEqual(back, seen);
  });

  test('first defaults to 25; more than 100 is BAD_USER_INPUT', async () => {
    const many = await gw.gql('{ users(first: 101) { totalCount } }', {}, tokenA);
    assert.equal(many.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
    assert.match(many.errors![0].message, /at most 100/);
    const manyLast = await gw.gql('{ tags(last: 500) { totalCount } }', {}, tokenA);
    assert.equal(manyLast.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
    const hundred = ok(await gw.gql('{ fields(first: 100) { edges { cursor } } }', {}, tokenA));
    assert.equal(hundred.fields.edges.length, 100);
    const badCursor = await gw.gql('{ users(after: "not-a-cursor") { totalCount } }', {}, tokenA);
    assert.equal(badCursor.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
  });
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
    assert.equal(garbage.data?.node ?? null, null);
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
      assert.equal(res.data ?? null, null);
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

describe('SQL statements per request are bounded', () => {
  test('pipelines { steps } over 20 pipelines costs the same statements as over 2', async () => {
    const counted = await createTestDatabase();
    let statements = 0;
    const db = createDb(counted.url, { onQuery: () => statements++ });
    try {
      await seedDemoAccount(db, { quizAccountId: 'big', pipelines: 20, archivedPipelines: 0 });
      await seedDemoAccount(db, { quizAccountId: 'small', pipelines: 2, archivedPipelines: 0 });
      const app = await startTestApp({ ...counted, db });
      try {
        const query = '{ pipelines(first: 50) { totalCount edges { node { name steps(first: 30) { totalCount edges { node { name } } } } } } }';
        const measure = async (tenant: string) => {
          const token = await tokenFor(tenant);
          statements = 0;
          const res = await app.gql(query, {}, token);
          assert.equal(res.errors, undefined, JSON.stringify(res.errors));
          return { statements, pipelines: res.data.pipelines.edges.length };
        };
        const big = await measure('big');
        const small = await measure('small');
        assert.equal(big.pipelines, 20);
        assert.equal(small.pipelines, 2);
        assert.equal(big.statements, small.statements, `20 pipelines: ${big.statements} statements, 2: ${small.statements}`);
        assert.ok(big.statements <= 6, `${big.statements} statements`);
      } finally {
        await app.stop();
      }
    } finally {
      await db.$disconnect();
      await counted.drop();
    }
  });

  test('deliveries { leadStep } over 20 deliveries costs the same statements as over 2 (one step query for the page)', async () => {
    const counted = await createTestDatabase();
    let statements = 0;
    const db = createDb(counted.url, { onQuery: () => statements++ });
    try {
      for (const [tenant, n] of [
        ['many', 20],
        ['few', 2],
      ] as const) {
        await seedDemoAccount(db, { quizAccountId: tenant, pipelines: 2, archivedPipelines: 0 });
        const account = await db.amoAccount.findFirstOrThrow({ where: { quizAccountId: tenant } });
        const steps = await db.step.findMany({ where: { accountId: account.id }, include: { pipeline: true }, take: 3 });
        for (let i = 0; i < n; i++) {
          const step = steps[i % steps.length]!;
          await db.delivery.create({
            data: {
              quizAccountId: tenant,
              accountId: account.id,
              quizId: 'q',
              resultId: `${tenant}-${i}`,
              payload: {},
              status: 'DELIVERED',
              leadPipelineAmoId: step.pipeline.amoId,
              leadStatusAmoId: step.amoId,
            },
          });
        }
      }
      const app = await startTestApp({ ...counted, db });
      try {
        const measure = async (tenant: string) => {
          statements = 0;
          const res = await app.gql('{ deliveries(first: 50) { edges { node { resultId leadStep { name pipeline { name } } } } } }', {}, await tokenFor(tenant));
          assert.equal(res.errors, undefined, JSON.stringify(res.errors));
          const nodes = res.data.deliveries.edges.map((e: any) => e.node);
          assert.ok(nodes.every((d: any) => typeof d.leadStep?.name === 'string' && typeof d.leadStep.pipeline.name === 'string'));
          return { statements, n: nodes.length };
        };
        const many = await measure('many');
        const few = await measure('few');
        assert.equal(many.n, 20);
        assert.equal(few.n, 2);
        assert.ok(few.statements > 0);
        assert.equal(many.statements, few.statements, `20 deliveries: ${many.statements} statements, 2: ${few.statements}`);
      } finally {
        await app.stop();
      }
    } finally {
      await db.$disconnect();
      await counted.drop();
    }
  });
});
