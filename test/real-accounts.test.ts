// Real amoCRM accounts differ from the one the simulator models by default. For each difference
// (switched on per simulated account) a quiz owner connects, syncs, writes a rule and sends
// results through quiz.results; every result must end as exactly one lead, or FAILED with a
// reason the owner can read — never PENDING without a word. The matrix runs on the in-process
// queue and on the real Kafka broker.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { kafkaSettings, startStack, type Stack } from './helpers/stack.ts';
import { connectOwner, leadsOf, sampleResult, settled, type Owner } from './helpers/owner.ts';
import { until } from './helpers/wait.ts';

const FAST_DELIVERY = {
  DELIVERY_BACKOFF_MS: '100',
  DELIVERY_MAX_BACKOFF_MS: '400',
  DELIVERY_RECONCILE_DELAY_MS: '300',
  DELIVERY_MAX_ATTEMPTS: '4',
};

let testDb: TestDatabase;
before(async () => {
  testDb = await createTestDatabase();
});
after(async () => {
  await testDb?.drop();
});

const firstSteps = (owner: Owner, p = 0) => {
  const pipeline = owner.sim().pipelines[p]!;
  const regular = pipeline.statuses.filter((s) => s.type === 0 && s.id !== 142 && s.id !== 143);
  return { pipeline, first: regular[0]!, second: regular[1]! };
};

async function simpleRule(owner: Owner, quizId: string, extra: Record<string, unknown> = {}, step: 'first' | 'second' = 'second') {
  const { pipeline, first, second } = firstSteps(owner);
  const input = { pipelineId: owner.ids.pipeline(pipeline.id), stepId: owner.ids.step(pipeline.id, (step === 'first' ? first : second).id), ...extra };
  await owner.gql('mutation($quizId: ID!, $input: RuleInput!) { createQuizRule(quizId: $quizId, input: $input) { id } }', { quizId, input });
  return { pipeline, first, second };
}

/** Every result is exactly one lead (by its note) and DELIVERED. */
function deliveredOnce(owner: Owner, stack: Stack, deliveries: Map<string, { status: string; amoLeadId: number | null; reason: string | null; lastError: string | null }>) {
  for (const [resultId, d] of deliveries) {
    assert.equal(d.status, 'DELIVERED', `${resultId}: ${d.reason} ${d.lastError}`);
    assert.equal(d.reason, null);
    const leads = leadsOf(owner, stack, resultId);
    assert.equal(leads.length, 1, `${resultId}: ${leads.length} leads`);
    assert.equal(leads[0]!.id, d.amoLeadId);
  }
}

function matrix(kind: 'memory' | 'kafka') {
  const skip = kind === 'kafka' && !process.env.KAFKA_BROKERS ? 'needs a Kafka broker (KAFKA_BROKERS)' : false;
  describe(`real accounts (${kind} queue)`, { skip, concurrency: 3 }, () => {
    let stack: Stack;
    let n = 0;
    const tenant = (what: string) => `ra-${kind}-${what}-${++n}`;
    before(async () => {
      stack = await startStack(testDb, { workers: true, config: { ...FAST_DELIVERY, ...(kind === 'kafka' ? kafkaSettings() : {}) } });
    });
    after(async () => {
      await stack?.stop();
    });

    for (const [what, options, words] of [
      ['a user without administrator rights', { tokenUserIsAdmin: false }, /403: the connected amoCRM user is not an administrator/],
      ['the custom-field limit reached', { customFieldLimit: 1 }, /limit of custom fields/],
      ['field creation answering 404', { customFieldsCreateStatus: 404 }, /404/],
    ] as const) {
      test(`${what}: leads arrive exactly once, reconciled by lead content, and the account says why`, async () => {
        const owner = await connectOwner(stack, tenant('fields'), { options });
        await simpleRule(owner, 'quiz-1');
        for (let i = 0; i < 3; i++) await owner.submit(sampleResult(`r${i}`));
        deliveredOnce(owner, stack, await settled(owner, 3));
        const account = await owner.account();
        assert.equal(account.reconcileMode, 'LEAD_CONTENT');
        assert.match(account.reconcileNote, words);
        assert.equal(
          owner.sim().fields.leads.some((f) => f.code === 'QUIZ_RESULT_ID'),
          false,
        );
        assert.deepEqual(account.deliveryHealth, { waiting: 0, failed: 0, oldestWaitingAt: null, mainReason: null, reasons: [] });
      });
    }

    test("Unsorted switched off: the lead goes straight to the rule's step, with a warning", async () => {
      const owner = await connectOwner(stack, tenant('unsorted'), { options: { unsortedEnabled: false } });
      const { second } = await simpleRule(owner, 'quiz-1', { toUnsorted: true });
      await owner.submit(sampleResult('u1'));
      const d = await settled(owner, 1);
      deliveredOnce(owner, stack, d);
      assert.ok(
        d.get('u1')!.warnings.some((w) => /Unsorted refused by amoCRM/.test(w)),
        JSON.stringify(d.get('u1')!.warnings),
      );
      const lead = leadsOf(owner, stack, 'u1')[0]!;
      assert.equal(lead.status_id, second.id);
      assert.equal(lead.metadata, null);
    });

    test("a step that requires a field the quiz does not fill: the lead lands in the first step, with a warning; required in every step: FAILED with amoCRM's words", async () => {
      const owner = await connectOwner(stack, tenant('required'));
      const { pipeline, first, second } = await simpleRule(owner, 'quiz-1');
      const field = owner.sim().fields.leads.find((f) => f.type === 'text' && !f.code)!;
      stack.sim.updateField(owner.amoId, 'leads', field.id, { required_statuses: [{ pipeline_id: pipeline.id, status_id: second.id }] });
      await owner.submit(sampleResult('q1'));
      const d = await settled(owner, 1);
      deliveredOnce(owner, stack, d);
      assert.equal(leadsOf(owner, stack, 'q1')[0]!.status_id, first.id);
      assert.ok(d.get('q1')!.warnings.some((w) => /step #\d+ refused by amoCRM \(Field ".*" \(#\d+\) is required/.test(w)));

      stack.sim.updateField(owner.amoId, 'leads', field.id, {
        required_statuses: [
          { pipeline_id: pipeline.id, status_id: second.id },
          { pipeline_id: pipeline.id, status_id: first.id },
        ],
      });
      await owner.submit(sampleResult('q2'));
      const failed = (await settled(owner, 2)).get('q2')!;
      assert.equal(failed.status, 'FAILED');
      assert.equal(failed.reason, 'AMO_REJECTED');
      assert.match(failed.lastError ?? '', /^Not delivered: amoCRM refused the lead \(custom_fields_values: Field ".*" \(#\d+\) is required/);
      assert.equal(leadsOf(owner, stack, 'q2').length, 0);
      assert.equal((await owner.account()).deliveryHealth.failed, 1);
    });

    test('a field, a tag and the responsible user deleted in amoCRM after the sync: the lead arrives without them, each named in a warning', async () => {
      const owner = await connectOwner(stack, tenant('deleted'));
      const acc = owner.sim();
      const field = acc.fields.leads.find((f) => f.type === 'text' && !f.code)!;
      const tag = acc.tags.leads[0]!;
      const user = acc.users.find((u) => u.rights.is_active && !u.rights.is_admin) ?? acc.users[1]!;
      await simpleRule(owner, 'quiz-1', {
        performerId: owner.ids.user(user.id),
        fieldsRule: { lead: [{ questionId: 'q2', fieldId: owner.ids.field('LEAD', field.id) }] },
        tagsToAdd: { lead: [owner.ids.tag('LEAD', tag.id)] },
      });
      stack.sim.removeField(owner.amoId, 'leads', field.id);
      stack.sim.removeTag(owner.amoId, 'leads', tag.id);
      stack.sim.removeUser(owner.amoId, user.id);
      await owner.submit(sampleResult('d1'));
      const d = (await settled(owner, 1)).get('d1')!;
      deliveredOnce(owner, stack, new Map([['d1', d]]));
      const lead = leadsOf(owner, stack, 'd1')[0]!;
      assert.equal(lead.tags.length, 0);
      assert.notEqual(lead.responsible_user_id, user.id);
      assert.ok(!(lead.custom_fields_values ?? []).some((f) => f.field_id === field.id));
      assert.ok(
        d.warnings.some((w) => new RegExp(`lead field #${field.id} refused by amoCRM`).test(w)),
        JSON.stringify(d.warnings),
      );
      assert.ok(d.warnings.some((w) => /lead tag refused by amoCRM/.test(w)));
      assert.ok(d.warnings.some((w) => new RegExp(`responsible user #${user.id} refused by amoCRM`).test(w)));
      assert.ok(lead.notes[0]!.params.text && /Позвоните вечером/.test(String(lead.notes[0]!.params.text)), 'the answer is in the note');
    });

    test("a deactivated responsible user: the lead goes to amoCRM's default user, with a warning", async () => {
      const owner = await connectOwner(stack, tenant('inactive'));
      const user = owner.sim().users.find((u) => u.rights.is_active && !u.rights.is_admin) ?? owner.sim().users[1]!;
      await simpleRule(owner, 'quiz-1', { performerId: owner.ids.user(user.id) });
      stack.sim.updateUser(owner.amoId, user.id, { rights: { is_active: false } });
      await owner.submit(sampleResult('i1'));
      const d = (await settled(owner, 1)).get('i1')!;
      deliveredOnce(owner, stack, new Map([['i1', d]]));
      assert.ok(
        d.warnings.some((w) => /User is inactive/.test(w)),
        JSON.stringify(d.warnings),
      );
      assert.notEqual(leadsOf(owner, stack, 'i1')[0]!.responsible_user_id, user.id);
    });

    test("the rule's pipeline and step deleted in amoCRM: the lead lands in the main pipeline, with a warning", async () => {
      const owner = await connectOwner(stack, tenant('pipeline'));
      const acc = owner.sim();
      const other = acc.pipelines.find((p) => !p.is_main)!;
      const step = other.statuses.find((s) => s.type === 0 && s.id !== 142 && s.id !== 143)!;
      await owner.gql('mutation($input: RuleInput!) { createQuizRule(quizId: "quiz-1", input: $input) { id } }', {
        input: { pipelineId: owner.ids.pipeline(other.id), stepId: owner.ids.step(other.id, step.id) },
      });
      stack.sim.removePipeline(owner.amoId, other.id);
      await owner.submit(sampleResult('p1'));
      const d = (await settled(owner, 1)).get('p1')!;
      deliveredOnce(owner, stack, new Map([['p1', d]]));
      assert.equal(leadsOf(owner, stack, 'p1')[0]!.pipeline_id, acc.pipelines.find((p) => p.is_main)!.id);
      assert.ok(
        d.warnings.some((w) => /pipeline #\d+ refused by amoCRM/.test(w)),
        JSON.stringify(d.warnings),
      );
    });

    for (const [what, options] of [
      ['search that does not index api-only fields', { searchIndexesApiOnly: false }],
      ['search that finds new leads only after a minute', { searchDelayMs: 60_000 }],
    ] as const) {
      test(`${what}: a lead stored while the answer was lost is found by the windowed read, not sent twice`, async () => {
        const owner = await connectOwner(stack, tenant('search'), { options });
        await simpleRule(owner, 'quiz-1');
        await owner.submit(sampleResult('warm'));
        await settled(owner, 1); // the result field exists
        stack.sim.injectFault(owner.amoId, { kind: 'resetAfter', count: 1, path: 'leads/complex' });
        await owner.submit(sampleResult('s1'));
        deliveredOnce(owner, stack, await settled(owner, 2));
        assert.equal((await owner.account()).reconcileMode, 'RESULT_FIELD');
        const reads = stack.sim.requestLog(owner.amoId).filter((r) => r.method === 'GET' && /filter%5Bcreated_at%5D|filter\[created_at\]/.test(r.path));
        assert.equal(reads.length, 1, 'confirmed by one windowed read');
        assert.equal(stack.sim.requestLog(owner.amoId).filter((r) => /[?&]query=/.test(r.path)).length, 0, 'no full-text search');
      });
    }

    for (const [what, fault] of [
      ['504 with an HTML body after amoCRM stored the lead', { kind: '5xx', status: 504, after: true, count: 1, path: 'leads/complex' }],
      ['502 with an HTML body before amoCRM did anything', { kind: '5xx', status: 502, count: 1, path: 'leads/complex' }],
      ['an answer that never comes after amoCRM stored the lead', { kind: 'resetAfter', count: 1, path: 'leads/complex' }],
    ] as const) {
      test(`${what}: exactly one lead`, async () => {
        const owner = await connectOwner(stack, tenant('5xx'), { options: { tokenUserIsAdmin: false } });
        await simpleRule(owner, 'quiz-1');
        stack.sim.injectFault(owner.amoId, fault as never);
        await owner.submit(sampleResult('x1'));
        await owner.submit(sampleResult('x2'));
        deliveredOnce(owner, stack, await settled(owner, 2));
      });
    }

    test('amoCRM failing every time: FAILED after the bounded retries, with the reason', async () => {
      const owner = await connectOwner(stack, tenant('retries'));
      await simpleRule(owner, 'quiz-1');
      stack.sim.injectFault(owner.amoId, { kind: '5xx', status: 503, count: 1000, path: 'leads/complex' });
      await owner.submit(sampleResult('f1'));
      const waiting = await until('a reason while it retries', async () => (await owner.deliveries()).find((d) => d.status === 'PENDING' && d.reason === 'CONFIRMING'));
      assert.match(waiting.lastError ?? '', /amoCRM may have received the lead \(amoCRM answered 503\)/);
      assert.ok(waiting.nextAttemptAt);
      const d = (await settled(owner, 1)).get('f1')!;
      assert.equal(d.status, 'FAILED');
      assert.equal(d.reason, 'RETRIES_EXHAUSTED');
      assert.equal(d.attempts, 4);
      assert.match(d.lastError ?? '', /^Not delivered: amoCRM did not take it after 4 attempts \(last: amoCRM answered 503\)/);
      assert.equal(leadsOf(owner, stack, 'f1').length, 0);
      stack.sim.clearFaults(owner.amoId);
    });

    test('blocked by amoCRM after repeated 429s: deliveries wait with the reason, the account says so; after a reconnect they arrive', async () => {
      const owner = await connectOwner(stack, tenant('blocked'));
      await simpleRule(owner, 'quiz-1');
      stack.sim.injectFault(owner.amoId, { kind: 'block' });
      await owner.submit(sampleResult('b1'));
      await owner.submit(sampleResult('b2'));
      // the one being sent meets the block; the other one's reason follows the account's state
      const account = await until('the block to show', async () => {
        const a = await owner.account();
        return a.blocked && a.deliveryHealth.reasons.length === 1 && a.deliveryHealth.reasons[0].reason === 'ACCOUNT_BLOCKED' && a.deliveryHealth.reasons[0].count === 2 ? a : null;
      });
      assert.equal(account.deliveryHealth.mainReason, 'ACCOUNT_BLOCKED');
      assert.ok(account.deliveryHealth.oldestWaitingAt);
      const waiting = await owner.deliveries();
      assert.ok(
        waiting.every((d) => d.reason === 'ACCOUNT_BLOCKED' && /blocked this integration/.test(d.lastError ?? '') && d.attempts === 0),
        JSON.stringify(waiting),
      );
      stack.sim.unblock(owner.amoId);
      await owner.reconnect();
      deliveredOnce(owner, stack, await settled(owner, 2));
    });

    test('tokens revoked: deliveries wait for a reconnect, saying so; then they arrive', async () => {
      const owner = await connectOwner(stack, tenant('stale'));
      await simpleRule(owner, 'quiz-1');
      stack.sim.revoke(owner.amoId);
      stack.sim.expireAccessTokens(owner.amoId);
      await owner.submit(sampleResult('t1'));
      const d = await until('the stale reason', async () => (await owner.deliveries()).find((x) => x.reason === 'RECONNECT_NEEDED'));
      assert.match(d.lastError ?? '', /connect amoCRM again/);
      assert.equal((await owner.account()).deliveryHealth.mainReason, 'RECONNECT_NEEDED');
      await owner.reconnect();
      deliveredOnce(owner, stack, await settled(owner, 1));
    });
  });
}

matrix('memory');
matrix('kafka');
