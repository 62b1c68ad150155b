// Issue 2: the contract's read side, per tenant — every Query field on seeded data, and
// pagination. Tenancy, authentication and errors: read-side-access.test.ts; SQL statements per
// request: read-side-sql.test.ts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FieldsPageDocument, PipelinesWithStepsDocument } from './generated/graphql.ts';
import type { TestApp } from './helpers/app.ts';
import { ok, PAGE, startReadSide, type ReadSide } from './read-side.kit.ts';

let gw: TestApp;
let tokenA: string;
let readSide: ReadSide;

before(async () => {
  readSide = await startReadSide();
  ({ gw, tokenA } = readSide);
});
after(async () => {
  await readSide?.stop();
});

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
