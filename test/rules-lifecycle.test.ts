// Issue 17: an owner pauses, resumes and deletes a quiz's rule, previews it, and reconnects the
// same amoCRM account — over GraphQL against real PostgreSQL and the amoCRM simulator.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startStack, type Stack } from './helpers/stack.ts';
import { connectOwner, leadsOf, sampleResult, type Owner } from './helpers/owner.ts';
import { until } from './helpers/wait.ts';

const FAST_DELIVERY = { DELIVERY_BACKOFF_MS: '100', DELIVERY_MAX_BACKOFF_MS: '400', DELIVERY_RECONCILE_DELAY_MS: '300' };

let testDb: TestDatabase;
let stack: Stack;
before(async () => {
  testDb = await createTestDatabase();
  stack = await startStack(testDb, { workers: true, config: FAST_DELIVERY });
});
after(async () => {
  await stack?.stop();
  await testDb?.drop();
});

async function ruleFor(owner: Owner, quizId: string) {
  const pipeline = owner.sim().pipelines[0]!;
  const step = pipeline.statuses.find((s) => s.type === 0 && s.id !== 142 && s.id !== 143)!;
  const field = owner.sim().fields.leads.find((f) => f.type === 'text' && !f.code)!;
  const input = {
    pipelineId: owner.ids.pipeline(pipeline.id),
    stepId: owner.ids.step(pipeline.id, step.id),
    fieldsRule: { lead: [{ questionId: 'q2', fieldId: owner.ids.field('LEAD', field.id) }] },
  };
  return (await owner.gql('mutation($quizId: ID!, $input: RuleInput!) { createQuizRule(quizId: $quizId, input: $input) { id } }', { quizId, input })).createQuizRule.id;
}
const delivery = async (owner: Owner, resultId: string) => (await owner.deliveries()).find((d) => d.resultId === resultId);
const untilDelivery = (owner: Owner, resultId: string, ok: (d: NonNullable<Awaited<ReturnType<typeof delivery>>>) => boolean) =>
  until(`${resultId} as expected`, async () => {
    const d = await delivery(owner, resultId);
    return d && ok(d) ? d : null;
  });

describe('pause, resume, delete', () => {
  test("a paused rule's results wait with a reason and are sent on resume", async () => {
    const owner = await connectOwner(stack, 'life-pause');
    await ruleFor(owner, 'quiz-1');
    const paused = (await owner.gql('mutation { pauseQuizRule(quizId: "quiz-1") { paused pausedAt } }')).pauseQuizRule;
    assert.equal(paused.paused, true);
    assert.ok(paused.pausedAt);
    await owner.submit(sampleResult('p-1'));
    const waiting = await untilDelivery(owner, 'p-1', (d) => d.reason === 'RULE_PAUSED');
    assert.equal(waiting.status, 'PENDING');
    assert.match(waiting.lastError ?? '', /paused.*resume/);
    assert.equal(leadsOf(owner, stack, 'p-1').length, 0);

    const resumed = (await owner.gql('mutation { resumeQuizRule(quizId: "quiz-1") { paused pausedAt } }')).resumeQuizRule;
    assert.deepEqual(resumed, { paused: false, pausedAt: null });
    const sent = await untilDelivery(owner, 'p-1', (d) => d.status === 'DELIVERED');
    assert.equal(leadsOf(owner, stack, 'p-1').length, 1);
    assert.equal(sent.reason, null);
  });

  test("a deleted rule's results are refused with that reason; a new rule takes the quiz's results again", async () => {
    const owner = await connectOwner(stack, 'life-delete');
    const ruleId = await ruleFor(owner, 'quiz-1');
    // one waiting while paused, then the rule deleted: it is refused too
    await owner.gql('mutation { pauseQuizRule(quizId: "quiz-1") { id } }');
    await owner.submit(sampleResult('d-held'));
    await untilDelivery(owner, 'd-held', (d) => d.reason === 'RULE_PAUSED');
    assert.equal((await owner.gql('mutation { deleteQuizRule(quizId: "quiz-1") }')).deleteQuizRule, ruleId);
    assert.equal((await owner.gql('{ rule(quizId: "quiz-1") { id } }')).rule, null);
    await owner.submit(sampleResult('d-after'));
    for (const id of ['d-held', 'd-after']) {
      const d = await untilDelivery(owner, id, (x) => x.status === 'FAILED');
      assert.equal(d.reason, 'RULE_DELETED');
      assert.match(d.lastError ?? '', /rule was deleted/);
    }
    // a quiz that never had a rule is still NO_RULE
    await owner.submit(sampleResult('d-never', 'quiz-never'));
    assert.equal((await untilDelivery(owner, 'd-never', (x) => x.status === 'FAILED')).reason, 'NO_RULE');
    // once a rule exists again, its results go out
    await ruleFor(owner, 'quiz-1');
    await owner.submit(sampleResult('d-again'));
    await untilDelivery(owner, 'd-again', (d) => d.status === 'DELIVERED');
    assert.equal(leadsOf(owner, stack, 'd-again').length, 1);
    assert.equal(leadsOf(owner, stack, 'd-held').length + leadsOf(owner, stack, 'd-after').length, 0);
  });

  test('pause, resume and delete of a missing or foreign rule are NOT_FOUND', async () => {
    const owner = await connectOwner(stack, 'life-missing');
    await ruleFor(owner, 'quiz-1');
    const other = await connectOwner(stack, 'life-missing-other');
    for (const m of ['pauseQuizRule(quizId: "quiz-1") { id }', 'resumeQuizRule(quizId: "quiz-1") { id }', 'deleteQuizRule(quizId: "quiz-1")']) {
      const res = await stack.gw.gql(`mutation { ${m} }`, {}, other.token);
      assert.equal(res.errors?.[0]?.extensions?.code, 'NOT_FOUND', m);
    }
    assert.ok((await owner.gql('{ rule(quizId: "quiz-1") { id paused } }')).rule.id);
  });
});

describe('preview', () => {
  test('builds the lead, contact, note and warnings of a sample without any request to amoCRM', async () => {
    const owner = await connectOwner(stack, 'life-preview');
    await ruleFor(owner, 'quiz-1');
    // what the gateway asks amoCRM on its own first: the rule's check, the webhook subscription
    await until('the rule checked and the webhook subscribed', async () => {
      const checked = (await owner.gql('{ rule(quizId: "quiz-1") { checkedAt } }')).rule.checkedAt;
      return checked && stack.sim.requestLog(owner.amoId).some((e) => e.path.startsWith('/api/v4/webhooks'));
    });
    const before = stack.sim.requestLog(owner.amoId).length;
    const deliveriesBefore = await testDb.db.delivery.count();
    const sample = sampleResult('preview-1', 'ignored', {
      answers: [
        { questionId: 'q2', values: ['Позвоните вечером'] },
        { questionId: 'q9', values: ['x'] },
      ],
    });
    const { previewQuizRule: p } = await owner.gql(
      'query($sample: QuizResultInput!) { previewQuizRule(quizId: "quiz-1", sample: $sample) { lead contact company customer note warnings } }',
      { sample },
    );
    const lead = JSON.parse(p.lead);
    const pipeline = owner.sim().pipelines[0]!;
    assert.equal(lead.pipeline_id, pipeline.id);
    assert.ok(lead.custom_fields_values.some((f: any) => f.values.some((v: any) => v.value === 'Позвоните вечером')));
    assert.equal(JSON.parse(p.contact).name, 'Анна');
    assert.equal(p.company, null);
    assert.match(p.note, /Позвоните вечером/);
    assert.ok(Array.isArray(p.warnings));
    assert.equal(stack.sim.requestLog(owner.amoId).length, before, 'no request reached amoCRM');
    assert.equal(await testDb.db.delivery.count(), deliveriesBefore, 'nothing was stored');
    // no rule: null; a bad sample: BAD_USER_INPUT
    assert.equal((await owner.gql('query($sample: QuizResultInput!) { previewQuizRule(quizId: "none", sample: $sample) { note } }', { sample })).previewQuizRule, null);
    const bad = await stack.gw.gql(
      'query($sample: QuizResultInput!) { previewQuizRule(quizId: "quiz-1", sample: $sample) { note } }',
      { sample: { ...sample, resultId: '' } },
      owner.token,
    );
    assert.equal(bad.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
  });
});

describe('reconnect', () => {
  test('a disconnected account connected again keeps its rules, UTM mappings and waiting deliveries', async () => {
    const owner = await connectOwner(stack, 'life-reconnect');
    const ruleId = await ruleFor(owner, 'quiz-1');
    const utmField = owner.sim().fields.leads.find((f) => f.code === 'UTM_SOURCE')!;
    await owner.gql('mutation($utms: [UtmInput!]!) { addUtms(quizId: "quiz-1", utms: $utms) { id } }', {
      utms: [{ name: 'utm_source', fieldId: owner.ids.field('LEAD', utmField.id) }],
    });
    const accountId = (await owner.gql('{ account { id } }')).account.id;
    await owner.gql('mutation { disconnectAccount { account { id } } }');
    await owner.submit(sampleResult('r-1', 'quiz-1', { utm: [{ key: 'utm_source', value: 'newsletter' }] }));
    await untilDelivery(owner, 'r-1', (d) => d.reason === 'NO_ACCOUNT');

    await owner.reconnect();
    assert.equal((await owner.gql('{ account { id } }')).account.id, accountId, 'the same row is live again');
    assert.equal((await owner.gql('{ rule(quizId: "quiz-1") { id } }')).rule.id, ruleId, 'the rule is kept');
    assert.equal((await owner.gql('{ utms(quizId: "quiz-1") { totalCount } }')).utms.totalCount, 1, 'the UTM mapping is kept');
    await untilDelivery(owner, 'r-1', (d) => d.status === 'DELIVERED');
    const [lead] = leadsOf(owner, stack, 'r-1');
    assert.ok(lead, 'the waiting result went out');
    assert.ok(
      (lead.custom_fields_values ?? []).some((f) => f.field_id === utmField.id && f.values.some((v) => v.value === 'newsletter')),
      'through the kept UTM mapping',
    );
  });
});
