// previewQuizRule's `draft`: an owner editing a rule previews the edit before saving it. The draft
// is read as saving it would read it (updateQuizRule's merge when the quiz has a rule,
// createQuizRule's check when it has none), refused with the same error as that save, and nothing
// is written — over GraphQL against real PostgreSQL and the amoCRM simulator.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startStack, type Stack } from './helpers/stack.ts';
import { connectOwner, sampleResult, type Owner } from './helpers/owner.ts';
import { until } from './helpers/wait.ts';

let testDb: TestDatabase;
let stack: Stack;
before(async () => {
  testDb = await createTestDatabase();
  stack = await startStack(testDb, { workers: true });
});
after(async () => {
  await stack?.stop();
  await testDb?.drop();
});

const PREVIEW = 'query($quizId: ID!, $sample: QuizResultInput!, $draft: RuleInput) { previewQuizRule(quizId: $quizId, sample: $sample, draft: $draft) { lead note warnings } }';
const UPDATE = 'mutation($quizId: ID!, $input: RuleInput!) { updateQuizRule(quizId: $quizId, input: $input) { id } }';
const CREATE = 'mutation($quizId: ID!, $input: RuleInput!) { createQuizRule(quizId: $quizId, input: $input) { id } }';
const sample = sampleResult('preview-draft', 'ignored');

/** The owner's catalogue for a rule: two pipelines' ordinary steps, a text and a numeric lead field. */
function catalogue(owner: Owner) {
  const [first, second] = owner.sim().pipelines;
  const stepOf = (p: typeof first) => p!.statuses.find((s) => s.type === 0 && s.id !== 142 && s.id !== 143)!;
  const textA = owner.sim().fields.leads.find((f) => f.type === 'text' && !f.code);
  const numeric = owner.sim().fields.leads.find((f) => f.type === 'numeric' && !f.code);
  const contactField = owner.sim().fields.contacts.find((f) => f.type === 'text' && !f.code)!;
  return {
    first: { pipeline: first!, step: stepOf(first), pipelineId: owner.ids.pipeline(first!.id), stepId: owner.ids.step(first!.id, stepOf(first).id) },
    second: { pipeline: second!, step: stepOf(second), pipelineId: owner.ids.pipeline(second!.id), stepId: owner.ids.step(second!.id, stepOf(second).id) },
    textA: { amo: textA!, id: owner.ids.field('LEAD', textA!.id) },
    numeric: { amo: numeric!, id: owner.ids.field('LEAD', numeric!.id) },
    contactFieldId: owner.ids.field('CONTACT', contactField.id),
  };
}

/** Every stored row of the tenant's rules, mappings and tags, and the amoCRM calls so far. */
async function stored(owner: Owner) {
  const rules = await testDb.db.rule.findMany({ where: { account: { quizAccountId: owner.tenant } }, include: { mappings: true, tags: true }, orderBy: { quizId: 'asc' } });
  return { rules, deliveries: await testDb.db.delivery.count(), amoCalls: stack.sim.requestLog(owner.amoId).length };
}

const valueIn = (lead: any, fieldAmoId: number) => lead.custom_fields_values?.find((f: any) => f.field_id === fieldAmoId)?.values.map((v: any) => v.value);

test('a draft of a saved rule is previewed instead of it, what it leaves out kept; nothing is written', async () => {
  const owner = await connectOwner(stack, 'preview-draft-saved');
  const c = catalogue(owner);
  await owner.gql(CREATE, {
    quizId: 'quiz-1',
    input: { pipelineId: c.first.pipelineId, stepId: c.first.stepId, fieldsRule: { lead: [{ questionId: 'q2', fieldId: c.textA.id }] }, leadNameTemplate: 'Saved {quizId}' },
  });
  // the worker's check of the saved rule writes checkedAt: wait for it, so the rows stand still
  await until('the saved rule checked', async () => (await owner.gql('{ rule(quizId: "quiz-1") { checkedAt } }')).rule.checkedAt);
  const before = await stored(owner);

  const saved = JSON.parse((await owner.gql(PREVIEW, { quizId: 'quiz-1', sample })).previewQuizRule.lead);
  assert.equal(saved.pipeline_id, c.first.pipeline.id);
  assert.deepEqual(valueIn(saved, c.textA.amo.id), ['Позвоните вечером']);
  assert.equal(saved.name, 'Saved quiz-1');

  // the draft moves the lead to another pipeline and maps q1 instead of q2; the template is kept
  const draft = { pipelineId: c.second.pipelineId, stepId: c.second.stepId, fieldsRule: { lead: [{ questionId: 'q1', fieldId: c.numeric.id }] } };
  const previewed = (await owner.gql(PREVIEW, { quizId: 'quiz-1', sample, draft })).previewQuizRule;
  const lead = JSON.parse(previewed.lead);
  assert.equal(lead.pipeline_id, c.second.pipeline.id);
  assert.equal(lead.status_id, c.second.step.id);
  assert.deepEqual(valueIn(lead, c.numeric.amo.id), ['42']);
  assert.equal(valueIn(lead, c.textA.amo.id), undefined);
  assert.equal(lead.name, 'Saved quiz-1', 'what the draft leaves out is the saved rule’s');
  // null clears, as in an update
  const cleared = JSON.parse((await owner.gql(PREVIEW, { quizId: 'quiz-1', sample, draft: { ...draft, leadNameTemplate: null } })).previewQuizRule.lead);
  assert.notEqual(cleared.name, 'Saved quiz-1');

  assert.deepEqual(await stored(owner), before, 'the rule, its mappings and tags, the deliveries and amoCRM untouched');
  // and the saved rule is still what is previewed without a draft
  assert.deepEqual(JSON.parse((await owner.gql(PREVIEW, { quizId: 'quiz-1', sample })).previewQuizRule.lead), saved);
});

test('a bad draft is refused with the very error its save gets, and nothing is written', async () => {
  const owner = await connectOwner(stack, 'preview-draft-bad');
  const c = catalogue(owner);
  await owner.gql(CREATE, { quizId: 'quiz-1', input: { pipelineId: c.first.pipelineId, stepId: c.first.stepId } });
  await until('the saved rule checked', async () => (await owner.gql('{ rule(quizId: "quiz-1") { checkedAt } }')).rule.checkedAt);
  const before = await stored(owner);

  // a step of another pipeline, a contact field for a lead mapping, an unknown placeholder
  const bad = { stepId: c.second.stepId, fieldsRule: { lead: [{ questionId: 'q2', fieldId: c.contactFieldId }] }, leadNameTemplate: 'Quiz {nope}' };
  const preview = await stack.gw.gql(PREVIEW, { quizId: 'quiz-1', sample, draft: bad }, owner.token);
  const save = await stack.gw.gql(UPDATE, { quizId: 'quiz-1', input: bad }, owner.token);
  assert.equal(preview.data?.previewQuizRule ?? null, null);
  const [previewError] = preview.errors ?? [];
  const [saveError] = save.errors ?? [];
  assert.equal(previewError?.extensions?.code, 'BAD_USER_INPUT');
  assert.equal(previewError?.message, saveError?.message);
  assert.deepEqual(previewError?.extensions, saveError?.extensions);
  const paths = (previewError?.extensions?.issues as { path: string }[]).map((i) => i.path).sort();
  assert.deepEqual(paths, ['input.fieldsRule.lead.0.fieldId', 'input.leadNameTemplate', 'input.stepId']);

  // a quiz without a rule: the draft is checked as createQuizRule checks it
  const noPipeline = { fieldsRule: { lead: [{ questionId: 'q2', fieldId: c.textA.id }] } };
  const newPreview = await stack.gw.gql(PREVIEW, { quizId: 'quiz-2', sample, draft: noPipeline }, owner.token);
  const newSave = await stack.gw.gql(CREATE, { quizId: 'quiz-2', input: noPipeline }, owner.token);
  assert.equal(newPreview.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
  assert.deepEqual(newPreview.errors?.[0]?.extensions, newSave.errors?.[0]?.extensions);
  assert.match(newPreview.errors?.[0]?.message ?? '', /input\.pipelineId is required/);

  assert.deepEqual(await stored(owner), before, 'nothing was written by the refused drafts (nor the refused saves)');
});

test('a quiz without a rule: its draft is previewed, and still no rule exists', async () => {
  const owner = await connectOwner(stack, 'preview-draft-new');
  const c = catalogue(owner);
  const before = await stored(owner);
  assert.equal((await owner.gql(PREVIEW, { quizId: 'quiz-new', sample })).previewQuizRule, null, 'no rule, no draft: nothing to preview');
  const draft = { pipelineId: c.first.pipelineId, stepId: c.first.stepId, fieldsRule: { lead: [{ questionId: 'q2', fieldId: c.textA.id }] } };
  const lead = JSON.parse((await owner.gql(PREVIEW, { quizId: 'quiz-new', sample, draft })).previewQuizRule.lead);
  assert.equal(lead.pipeline_id, c.first.pipeline.id);
  assert.deepEqual(valueIn(lead, c.textA.amo.id), ['Позвоните вечером']);
  assert.equal((await owner.gql('{ rule(quizId: "quiz-new") { id } }')).rule, null);
  assert.deepEqual(await stored(owner), before);
  // the quiz can still be given its rule: the draft's rolled-back insert left no trace
  await owner.gql(CREATE, { quizId: 'quiz-new', input: draft });
});
