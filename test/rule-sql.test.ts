// Issue 15 (dataloader): reading a rule costs the same SQL statements however many fields and
// tags it maps: its performer, pipeline, step, mappings with their fields and tags come from
// Prisma relations the Pothos plugin loads with the rule, not one lookup per id.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seedDemoAccount } from '../src/dev/seed-data.ts';
import { createDb } from '../src/platform/db.ts';
import { createTestDatabase } from './helpers/db.ts';
import { startTestApp, tokenFor, type TestApp } from './helpers/app.ts';

const RULE_QUERY = `{ rule(quizId: "q-sql") {
  performer { name } pipeline { name } step { name }
  fieldsRule { lead { questionId field { name } } contact { properties { property field { name } } questions { questionId field { name } } } company { questionId field { name } } }
  tagsToAdd { lead { name } contact { name } company { name } }
} }`;

/** Creates the tenant's rule mapping `n` lead fields, contact fields and lead tags. */
async function ruleWith(app: TestApp, tenant: string, n: number): Promise<string> {
  const token = await tokenFor(tenant);
  const ids = (
    await app.gql(
      `{ users(first: 1) { edges { node { id } } } pipelines(first: 1) { edges { node { id steps(first: 1) { edges { node { id } } } } } }
         lead: fields(entity: LEAD, first: ${n}) { edges { node { id } } } contact: fields(entity: CONTACT, first: ${n}) { edges { node { id } } }
         tags(entity: LEAD, first: ${n}) { edges { node { id } } } }`,
      {},
      token,
    )
  ).data;
  const nodes = (c: { edges: { node: { id: string } }[] }) => c.edges.map((e) => e.node.id);
  const [lead, contact, tags] = [nodes(ids.lead), nodes(ids.contact), nodes(ids.tags)];
  assert.deepEqual([lead.length, contact.length, tags.length], [n, n, n], 'the seeded catalogue has enough fields and tags');
  const pipeline = ids.pipelines.edges[0].node;
  const input = {
    performerId: ids.users.edges[0].node.id,
    pipelineId: pipeline.id,
    stepId: pipeline.steps.edges[0].node.id,
    fieldsRule: { lead: lead.map((fieldId, i) => ({ questionId: `q${i}`, fieldId })), contact: { questions: contact.map((fieldId, i) => ({ questionId: `c${i}`, fieldId })) } },
    tagsToAdd: { lead: tags },
  };
  const created = await app.gql('mutation($input: RuleInput!) { createQuizRule(quizId: "q-sql", input: $input) { id } }', { input }, token);
  assert.equal(created.errors, undefined, JSON.stringify(created.errors));
  return token;
}

test('rule { performer pipeline step fieldsRule tagsToAdd } costs the same statements for 8 fields, 8 contact fields and 8 tags as for 1 of each', async () => {
  const counted = await createTestDatabase();
  let statements = 0;
  const db = createDb(counted.url, { onQuery: () => statements++ });
  try {
    await seedDemoAccount(db, { quizAccountId: 'rules-many', pipelines: 1, archivedPipelines: 0 });
    await seedDemoAccount(db, { quizAccountId: 'rules-one', pipelines: 1, archivedPipelines: 0 });
    const app = await startTestApp({ ...counted, db });
    try {
      const measure = async (tenant: string, n: number) => {
        const token = await ruleWith(app, tenant, n);
        statements = 0;
        const res = await app.gql(RULE_QUERY, {}, token);
        assert.equal(res.errors, undefined, JSON.stringify(res.errors));
        assert.equal(res.data.rule.fieldsRule.lead.length, n);
        assert.equal(res.data.rule.fieldsRule.contact.questions.length, n);
        assert.equal(res.data.rule.tagsToAdd.lead.length, n);
        assert.ok(res.data.rule.fieldsRule.lead.every((m: any) => typeof m.field.name === 'string'));
        assert.equal(typeof res.data.rule.performer.name, 'string');
        return statements;
      };
      const many = await measure('rules-many', 8);
      const one = await measure('rules-one', 1);
      assert.equal(many, one, `8 of each: ${many} statements, 1 of each: ${one}`);
      // the tenant's account, the rule, then one IN query per relation (Prisma reads relations
      // without joins): performer, pipeline, step, mappings, their fields, rule tags, their tags
      assert.equal(one, 9, `${one} statements`);
    } finally {
      await app.stop();
    }
  } finally {
    await db.$disconnect();
    await counted.drop();
  }
});
