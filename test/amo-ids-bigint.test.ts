// Issue 16: amoCRM ids are 64-bit. With every simulator id above 2^31 (idOffset), a catalogue sync
// stores them (BIGINT columns), GraphQL answers them in the BigInt twins (fullAmoId, fullAmoLeadId, …),
// the contract's Int fields say why they cannot, and a quiz result is delivered end to end with
// its lead and contact ids stored and readable.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { tokenFor } from './helpers/app.ts';
import { startStack, type Stack } from './helpers/stack.ts';
import { until } from './helpers/wait.ts';
import { connectAndSync } from './helpers/owner.ts';

const HIGH = 2 ** 31;
const tenant = 'amo-ids-bigint';
let tdb: TestDatabase;
let stack: Stack;
let token: string;

before(async () => {
  tdb = await createTestDatabase();
  stack = await startStack(tdb, { workers: true, simOptions: { idOffset: HIGH } });
  token = await tokenFor(tenant);
});
after(async () => {
  await stack?.stop();
  await tdb?.drop();
});

async function gql<T = any>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const res = await stack.gw.gql(query, variables, token);
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  return res.data;
}
const nodes = (c: { edges: { node: any }[] }) => c.edges.map((e) => e.node);

test('ids above 2^31: catalogue sync, BigInt twins, and a delivery end to end', async () => {
  const amo = stack.sim.seedAccount({ pipelines: 2, users: 2 });
  const sim = stack.sim.account(amo.id);
  assert.ok(amo.id > HIGH && sim.users.every((u) => u.id > HIGH) && sim.pipelines.every((p) => p.id > HIGH), 'the simulator issues ids above 2^31');

  // connect and sync
  await connectAndSync(stack, token, amo.id);

  // the catalogue, by its BigInt twins: every id as amoCRM sent it
  assert.equal((await gql('{ account { fullAmoId } }')).account.fullAmoId, String(amo.id));
  const pipelines = nodes((await gql('{ pipelines(first: 10) { edges { node { id fullAmoId steps(first: 40) { edges { node { id fullAmoId } } } } } } }')).pipelines);
  assert.deepEqual(pipelines.map((p) => p.fullAmoId).sort(), sim.pipelines.map((p) => String(p.id)).sort());
  const pipeline = sim.pipelines[0]!;
  const synced = pipelines.find((p) => p.fullAmoId === String(pipeline.id))!;
  assert.deepEqual(
    nodes(synced.steps)
      .map((s) => s.fullAmoId)
      .sort(),
    pipeline.statuses.map((s) => String(s.id)).sort(),
  );
  const users = nodes((await gql('{ users(first: 10) { edges { node { id fullAmoUserId } } } }')).users);
  assert.deepEqual(users.map((u) => u.fullAmoUserId).sort(), sim.users.map((u) => String(u.id)).sort());
  const leadFields = nodes((await gql('{ fields(entity: LEAD, first: 100) { edges { node { id fullAmoId rawType options { fullAmoId } } } } }')).fields);
  assert.deepEqual(leadFields.map((f) => f.fullAmoId).sort(), sim.fields.leads.map((f) => String(f.id)).sort());
  assert.ok(leadFields.every((f) => Number(f.fullAmoId) > HIGH));
  const tags = nodes((await gql('{ tags(first: 100) { edges { node { fullAmoId } } } }')).tags);
  assert.ok(tags.length > 0 && tags.every((t) => Number(t.fullAmoId) > HIGH));

  // the contract's Int field cannot carry such an id: an error that names its twin, never a wrong number
  const asInt = await stack.gw.gql('{ pipelines(first: 1) { edges { node { amoId } } } }', {}, token);
  assert.match(asInt.errors?.[0]?.message ?? '', /amoId \d+ does not fit GraphQL's 32-bit Int: read fullAmoId/);

  // a rule with a performer, a step and a lead field of such ids, then a result delivered
  const text = leadFields.find((f) => f.rawType === 'text')!;
  const status = pipeline.statuses.find((s) => s.id !== 142 && s.id !== 143 && s.type === 0)!;
  const step = nodes(synced.steps).find((s) => s.fullAmoId === String(status.id))!;
  await gql('mutation($input: RuleInput!) { createQuizRule(quizId: "quiz-big", input: $input) { id } }', {
    input: { pipelineId: synced.id, stepId: step.id, performerId: users[0].id, fieldsRule: { lead: [{ questionId: 'q1', fieldId: text.id }] } },
  });
  await gql('mutation($input: QuizResultInput!) { submitQuizResult(input: $input) { id } }', {
    input: { resultId: 'big-1', quizId: 'quiz-big', contact: { name: 'Анна', phone: '+7 900 555-00-11' }, answers: [{ questionId: 'q1', values: ['сорок два'] }] },
  });
  const delivery = await until(
    'the delivery',
    async () => {
      const d = nodes((await gql('{ deliveries(first: 5) { edges { node { status lastError fullAmoLeadId fullAmoContactId } } } }')).deliveries)[0];
      return d && d.status !== 'PENDING' ? d : null;
    },
    60_000,
  );
  assert.equal(delivery.status, 'DELIVERED', delivery.lastError);
  const [lead] = stack.sim.leads(amo.id);
  assert.ok(lead && lead.id > HIGH && lead.contact_id! > HIGH, 'amoCRM answered ids above 2^31');
  assert.equal(delivery.fullAmoLeadId, String(lead.id));
  assert.equal(delivery.fullAmoContactId, String(lead.contact_id));
  assert.equal(lead.pipeline_id, pipeline.id);
  assert.equal(lead.status_id, status.id);
  assert.equal(lead.responsible_user_id, sim.users.find((u) => String(u.id) === users[0].fullAmoUserId)!.id);
  assert.deepEqual(
    lead.custom_fields_values?.find((f) => f.field_id === Number(text.fullAmoId))?.values.map((v) => v.value),
    ['сорок два'],
  );
  // stored as amoCRM sent them (the BIGINT columns), read back as exact numbers
  const row = await tdb.db.delivery.findFirstOrThrow({ where: { quizAccountId: tenant } });
  assert.equal(Number(row.amoLeadId), lead.id);
  assert.equal(Number(row.amoContactId), lead.contact_id);
  const [raw] = await tdb.db.$queryRaw<{ amo_lead_id: bigint }[]>`SELECT amo_lead_id FROM delivery WHERE quiz_account_id = ${tenant}`;
  assert.equal(raw!.amo_lead_id, BigInt(lead.id));
});
