// The catalogue response cache (src/features/catalogue/response-cache.ts): two tenants asking the
// same query each get their own data, also when served from the cache; a write of the catalogue
// (what a sync completion does, through the sync's own store) invalidates that tenant's answers and
// only theirs; a rule change is seen at once (rules are never cached, nor is a query mixing them
// with the catalogue); and the catalogue's root fields reach catalogue types only, so no answer
// kept by the catalogue version can depend on anything else.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isObjectType, isInterfaceType, isUnionType, getNamedType, type GraphQLNamedType } from 'graphql';
import { CATALOGUE_ROOT_FIELDS } from '../src/features/catalogue/index.ts';
import { writePipelines } from '../src/features/catalogue/store.ts';
import { seedDemoAccount } from '../src/dev/seed-data.ts';
import { schema } from '../src/schema/index.ts';
import { startTestApp, tokenFor, type TestApp } from './helpers/app.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';

const QUERY = '{ pipelines(first: 50) { edges { node { id name steps(first: 30) { edges { node { id name } } } } } } }';

let tdb: TestDatabase;
let gw: TestApp;
let statements = 0;
const tenants = { a: { token: '', accountId: '' }, b: { token: '', accountId: '' } };

before(async () => {
  tdb = await createTestDatabase({ onQuery: () => statements++ });
  for (const [key, quizAccountId, pipelines] of [
    ['a', 'cache-tenant-a', 2],
    ['b', 'cache-tenant-b', 3],
  ] as const) {
    await seedDemoAccount(tdb.db, { quizAccountId, pipelines, stepsPerPipeline: 2, archivedPipelines: 0 });
    tenants[key] = { token: await tokenFor(quizAccountId), accountId: (await tdb.db.amoAccount.findFirstOrThrow({ where: { quizAccountId } })).id };
  }
  gw = await startTestApp(tdb);
});
after(async () => {
  await gw?.stop();
  await tdb?.drop();
});

/** The answer, and how many SQL statements it took. */
async function read(token: string, query = QUERY) {
  const before = statements;
  const res = await gw.gql(query, {}, token);
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  return { data: res.data, statements: statements - before };
}

const pipelineIdsOf = async (accountId: string) =>
  (await tdb.db.pipeline.findMany({ where: { accountId, deletedAt: null, isArchive: false }, select: { id: true } })).map((p) => p.id).sort();
const idsIn = (data: any) => data.pipelines.edges.map((e: any) => Buffer.from(e.node.id, 'base64').toString().split(':').at(-1)).sort();

describe('per tenant and catalogue version', () => {
  test('two tenants with the same query get their own data, from the cache too', async () => {
    const a1 = await read(tenants.a.token);
    const b1 = await read(tenants.b.token);
    assert.deepEqual(idsIn(a1.data), await pipelineIdsOf(tenants.a.accountId));
    assert.deepEqual(idsIn(b1.data), await pipelineIdsOf(tenants.b.accountId));
    assert.equal(a1.data.pipelines.edges.length, 2);
    assert.equal(b1.data.pipelines.edges.length, 3);

    const a2 = await read(tenants.a.token);
    const b2 = await read(tenants.b.token);
    assert.deepEqual(a2.data, a1.data);
    assert.deepEqual(b2.data, b1.data);
    assert.equal(a2.statements, 1, 'a hit costs the one version lookup');
    assert.equal(b2.statements, 1);
    assert.ok(a1.statements > 1, 'the first read executed the query');
  });

  test("a sync's write of the catalogue invalidates that tenant's answers, and only theirs", async () => {
    const before = await read(tenants.a.token);
    const cachedB = await read(tenants.b.token);
    assert.equal(before.statements, 1);
    // the sync's store, as runSyncJob calls it: the same pipelines, the first one renamed
    const rows = await tdb.db.pipeline.findMany({
      where: { accountId: tenants.a.accountId, deletedAt: null },
      include: { steps: { where: { deletedAt: null } } },
      orderBy: [{ sort: 'asc' }, { id: 'asc' }],
    });
    await writePipelines(
      tdb.db,
      tenants.a.accountId,
      rows.map((p, i) => ({
        amoId: Number(p.amoId),
        name: i === 0 ? 'Renamed by the sync' : p.name,
        sort: p.sort,
        isMain: p.isMain,
        isArchive: p.isArchive,
        isUnsortedOn: p.isUnsortedOn,
        steps: p.steps.map((s) => ({ amoId: Number(s.amoId), name: s.name, color: s.color, sort: s.sort, type: s.type, isEditable: s.isEditable })),
      })),
    );
    const after = await read(tenants.a.token);
    assert.ok(after.statements > 1, 'executed again');
    assert.equal(after.data.pipelines.edges[0].node.name, 'Renamed by the sync');
    assert.deepEqual(idsIn(after.data), idsIn(before.data));

    const stillB = await read(tenants.b.token);
    assert.equal(stillB.statements, 1, "the other tenant's answer is still kept");
    assert.deepEqual(stillB.data, cachedB.data);
  });

  test('a disconnected account answers as disconnected at once', async () => {
    const quizAccountId = 'cache-tenant-c';
    await seedDemoAccount(tdb.db, { quizAccountId, pipelines: 1, stepsPerPipeline: 1, archivedPipelines: 0 });
    const token = await tokenFor(quizAccountId);
    assert.equal((await read(token)).data.pipelines.edges.length, 1);
    assert.equal((await read(token)).statements, 1);
    await tdb.db.amoAccount.updateMany({ where: { quizAccountId }, data: { deletedAt: new Date() } });
    assert.equal((await read(token)).data.pipelines.edges.length, 0);
  });

  test('a rule change is seen at once: rules, and queries mixing them with the catalogue, are never cached', async () => {
    const mixed = '{ pipelines(first: 1) { edges { node { name } } } rule(quizId: "quiz-cache") { id } }';
    const q = '{ rule(quizId: "quiz-cache") { id } }';
    assert.equal((await read(tenants.b.token, q)).data.rule, null);
    await read(tenants.b.token, mixed);
    assert.ok((await read(tenants.b.token, mixed)).statements > 1, 'the mixed query executes every time');
    const p = await tdb.db.pipeline.findFirstOrThrow({ where: { accountId: tenants.b.accountId, deletedAt: null }, include: { steps: true } });
    const rule = await tdb.db.rule.create({ data: { accountId: tenants.b.accountId, quizId: 'quiz-cache', pipelineId: p.id, stepId: p.steps[0]!.id }, select: { id: true } });
    assert.ok((await read(tenants.b.token, q)).data.rule?.id, 'the new rule is there');
    assert.ok((await read(tenants.b.token, mixed)).data.rule?.id);
    await tdb.db.rule.delete({ where: { id: rule.id } });
    assert.equal((await read(tenants.b.token, q)).data.rule, null);
  });
});

test('the catalogue root fields reach catalogue types only (their answers follow the catalogue version)', () => {
  const query = schema.getQueryType()!;
  const reached = new Set<string>();
  const visit = (type: GraphQLNamedType) => {
    if (reached.has(type.name)) return;
    reached.add(type.name);
    if (isObjectType(type) || isInterfaceType(type)) for (const f of Object.values(type.getFields())) visit(getNamedType(f.type));
    if (isUnionType(type)) for (const t of type.getTypes()) visit(t);
    if (isInterfaceType(type)) for (const t of schema.getPossibleTypes(type)) visit(t);
  };
  for (const name of CATALOGUE_ROOT_FIELDS) {
    const field = query.getFields()[name];
    assert.ok(field, `Query.${name}`);
    visit(getNamedType(field.type));
  }
  const scalarsAndEnums = [...reached].filter((n) => {
    const t = schema.getType(n)!;
    return !isObjectType(t) && !isInterfaceType(t) && !isUnionType(t);
  });
  const objects = [...reached].filter((n) => !scalarsAndEnums.includes(n)).sort();
  // A type added here must read nothing but the account's catalogue rows (users, pipelines,
  // steps, custom fields, tags), or the cache would keep its answers past a change.
  assert.deepEqual(objects, [
    'AmoUser',
    'AmoUserConnection',
    'AmoUserEdge',
    'Field',
    'FieldConnection',
    'FieldEdge',
    'FieldOption',
    'PageInfo',
    'Pipeline',
    'PipelineConnection',
    'PipelineEdge',
    'Step',
    'StepConnection',
    'StepEdge',
    'Tag',
    'TagConnection',
    'TagEdge',
  ]);
});
