// A rule's lead-name template, price question, tags by name and file answers, end to end: the rule
// saved through the same check as createQuizRule (resolveRuleInput: bad input refused naming its
// path), results delivered to the simulator over real PostgreSQL, and what amoCRM then stores —
// the lead's name and price, its tags (an existing one matched in another case, a new one created
// once and cached), the file's URL in the mapped url field and in the note — also after a retry.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { acceptResult } from '../src/features/delivery/accept.ts';
import { createRule, resolveRuleInput, updateRule } from '../src/features/rules/rules.ts';
import { AppError } from '../src/platform/errors.ts';
import { at, only } from './helpers/narrow.ts';
import { connectDeliveryAccount, drainDeliveries, leadNote, startDeliveryKit, testDeliveryRuntime, type DeliveryKit } from './helpers/delivery.ts';

let kit: DeliveryKit;
before(async () => {
  kit = await startDeliveryKit();
});
after(() => kit.stop());
const suite = {
  get sim() {
    return kit.sim;
  },
  get tdb() {
    return kit.tdb;
  },
  get services() {
    return kit.services;
  },
};
const setup = () => connectDeliveryAccount(kit, 1);
const runtime = () => testDeliveryRuntime(kit.services);
const drain = (rt: ReturnType<typeof runtime>, quizAccountId: string) => drainDeliveries(rt, kit.tdb.db, quizAccountId);
const gid = (type: string, id: string) => Buffer.from(`${type}:${id}`).toString('base64');

describe('rule extras against amoCRM', () => {
  test('saving refuses an unknown placeholder and bad tag names, naming each input path', async () => {
    const s = await setup();
    const account = await suite.tdb.db.amoAccount.findUniqueOrThrow({ where: { id: s.accountId } });
    const input = {
      pipelineId: gid('Pipeline', s.cat.pipelineId(s.pipeline)),
      stepId: gid('Step', s.cat.stepId(s.pipeline, s.firstStatus)),
      leadNameTemplate: 'Quiz {quizTitle}',
      priceQuestionId: '  ',
      tagNamesToAdd: { lead: ['Квиз', 'КВИЗ', ''] },
    };
    const err = await resolveRuleInput(suite.tdb.db, account, input).then(
      () => assert.fail('accepted'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof AppError);
    const issues = (err.extensions.issues as { path: string }[]).map((i) => i.path);
    assert.deepEqual(issues, ['input.leadNameTemplate', 'input.priceQuestionId', 'input.tagNamesToAdd.lead.1', 'input.tagNamesToAdd.lead.2']);
    assert.match(err.message, /input\.leadNameTemplate has an unknown placeholder \{quizTitle\}/);
  });

  test('updateQuizRule: a left-out extra is kept, null clears it', async () => {
    const s = await setup();
    const db = suite.tdb.db;
    const account = await db.amoAccount.findUniqueOrThrow({ where: { id: s.accountId } });
    const base = { pipelineId: gid('Pipeline', s.cat.pipelineId(s.pipeline)), stepId: gid('Step', s.cat.stepId(s.pipeline, s.firstStatus)) };
    await createRule(
      db,
      account,
      'quiz-u',
      await resolveRuleInput(db, account, { ...base, leadNameTemplate: '{quizName}', priceQuestionId: 'budget', tagNamesToAdd: { lead: ['A'] } }),
    );
    const read = () => db.rule.findFirstOrThrow({ where: { accountId: s.accountId, quizId: 'quiz-u' }, select: { leadNameTemplate: true, priceQuestionId: true, tagNames: true } });
    await updateRule(db, account, 'quiz-u', { toUnsorted: true });
    assert.deepEqual(await read(), { leadNameTemplate: '{quizName}', priceQuestionId: 'budget', tagNames: { lead: ['A'] } });
    await updateRule(db, account, 'quiz-u', { leadNameTemplate: null, tagNamesToAdd: { contact: ['B'] } });
    assert.deepEqual(await read(), { leadNameTemplate: null, priceQuestionId: 'budget', tagNames: { contact: ['B'] } });
    await updateRule(db, account, 'quiz-u', { priceQuestionId: null, tagNamesToAdd: null });
    assert.deepEqual(await read(), { leadNameTemplate: null, priceQuestionId: null, tagNames: {} });
  });

  test('name, price, tags (existing in another case, new created once), file URL in the field and the note; a retry creates no second tag', async () => {
    const s = await setup();
    const db = suite.tdb.db;
    const acc = suite.sim.account(s.amoId);
    const existing = at(acc.tags.leads, 0, 'lead tag');
    const urlField = s.cat.fieldBy('LEAD', (f) => f.type === 'url' && !f.code);
    const account = await db.amoAccount.findUniqueOrThrow({ where: { id: s.accountId } });
    const resolved = await resolveRuleInput(db, account, {
      pipelineId: gid('Pipeline', s.cat.pipelineId(s.pipeline)),
      stepId: gid('Step', s.cat.stepId(s.pipeline, s.firstStatus)),
      fieldsRule: { lead: [{ questionId: 'plan', fieldId: gid('Field', s.cat.field('LEAD', urlField.id).id) }] },
      leadNameTemplate: 'Quiz {quizName}: {contactName} {answer:area}',
      priceQuestionId: 'budget',
      tagNamesToAdd: { lead: [existing.name.toUpperCase(), 'Из квиза'] },
    });
    await createRule(db, account, 'quiz-x', resolved);
    const tagsBefore = acc.tags.leads.length;

    const result = (resultId: string, budget: string) => ({
      resultId,
      quizId: 'quiz-x',
      quizName: 'Ремонт',
      contact: { name: 'Иван', phone: '+7 900 111-22-33' },
      answers: [
        { questionId: 'area', title: 'Площадь', values: ['42 м²'] },
        { questionId: 'budget', title: 'Бюджет', values: [budget] },
        { questionId: 'plan', title: 'План квартиры', values: [], files: [{ url: `https://files.example.com/${resultId}/plan.pdf`, name: 'plan.pdf' }] },
      ],
    });

    // the first send fails (502, not processed): the retry must not create the tag again
    suite.sim.injectFault(s.amoId, { kind: '5xx', status: 502, count: 1, path: 'leads/complex' });
    const d1 = await acceptResult(suite.services, s.quizAccountId, result('x-1', '15 000 ₽'));
    await drain(runtime(), s.quizAccountId);
    const row1 = await db.delivery.findUniqueOrThrow({ where: { id: d1.id } });
    assert.equal(row1.status, 'DELIVERED');
    assert.equal(row1.attempts, 2, 'sent twice: the 502, then the lead');
    assert.deepEqual(row1.warnings, []);

    const created = only(
      suite.sim.account(s.amoId).tags.leads.filter((t) => t.name.toLowerCase() === 'из квиза'),
      'new tag',
    );
    assert.equal(suite.sim.account(s.amoId).tags.leads.length, tagsBefore + 1, 'one tag created, the existing one matched');
    const cached = await db.tag.findMany({ where: { accountId: s.accountId, entity: 'LEAD', name: 'Из квиза' } });
    assert.equal(cached.length, 1, 'the new tag is in the cache');
    assert.equal(Number(at(cached, 0).amoId), created.id);

    const lead1 = only(suite.sim.leads(s.amoId).filter((l) => l.id === Number(row1.amoLeadId)));
    assert.equal(lead1.name, 'Quiz Ремонт: Иван 42 м²');
    assert.equal(lead1.price, 15000);
    assert.deepEqual(lead1.tags.map((t) => t.id).sort(), [existing.id, created.id].sort());
    const urlValue = (lead1.custom_fields_values ?? []).find((v) => v.field_id === urlField.id);
    assert.deepEqual(urlValue?.values, [{ value: 'https://files.example.com/x-1/plan.pdf' }]);
    assert.match(leadNote(suite.sim, s.amoId, lead1.id), /План квартиры: plan\.pdf \(https:\/\/files\.example\.com\/x-1\/plan\.pdf\)/);

    // a second result: the cached tag is used, the budget is no number
    const d2 = await acceptResult(suite.services, s.quizAccountId, result('x-2', 'около 1,5k'));
    await drain(runtime(), s.quizAccountId);
    const row2 = await db.delivery.findUniqueOrThrow({ where: { id: d2.id } });
    assert.equal(row2.status, 'DELIVERED');
    const lead2 = only(suite.sim.leads(s.amoId).filter((l) => l.id === Number(row2.amoLeadId)));
    assert.equal(lead2.price ?? 0, 0, 'no price');
    assert.match(only(row2.warnings, 'warning'), /lead price ← question "Бюджет" \(budget\): "около 1,5k" — is not a price/);
    assert.match(leadNote(suite.sim, s.amoId, lead2.id), /Not transferred to fields:\n- lead price/);
    assert.deepEqual(lead2.tags.map((t) => t.id).sort(), [existing.id, created.id].sort());

    const tagPosts = suite.sim.requestLog(s.amoId).filter((r) => r.method === 'POST' && r.path.startsWith('/api/v4/leads/tags'));
    assert.equal(tagPosts.length, 1, 'the tag was created once, over a retry and a second result');
    assert.deepEqual(at(tagPosts, 0).body, [{ name: 'Из квиза' }]);
    assert.equal(suite.sim.account(s.amoId).tags.leads.length, tagsBefore + 1);
  });
  test('a name amoCRM has but the cache lacks (added there after the sync): NotUnique, then looked up, cached and attached; nothing created', async () => {
    const s = await setup();
    const db = suite.tdb.db;
    const late = suite.sim.addTag(s.amoId, 'leads', 'Поздний');
    const account = await db.amoAccount.findUniqueOrThrow({ where: { id: s.accountId } });
    const input = { pipelineId: gid('Pipeline', s.cat.pipelineId(s.pipeline)), stepId: gid('Step', s.cat.stepId(s.pipeline, s.firstStatus)), tagNamesToAdd: { lead: ['поздний'] } };
    await createRule(db, account, 'quiz-late', await resolveRuleInput(db, account, input));
    const before = suite.sim.account(s.amoId).tags.leads.length;
    const d = await acceptResult(suite.services, s.quizAccountId, { resultId: 'late-1', quizId: 'quiz-late', contact: { name: 'Олег' }, answers: [] });
    await drain(runtime(), s.quizAccountId);
    const row = await db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(row.status, 'DELIVERED');
    const lead = only(suite.sim.leads(s.amoId).filter((l) => l.id === Number(row.amoLeadId)));
    assert.deepEqual(
      lead.tags.map((t) => t.id),
      [late.id],
    );
    assert.equal(suite.sim.account(s.amoId).tags.leads.length, before, 'no tag created');
    const cached = only(await db.tag.findMany({ where: { accountId: s.accountId, entity: 'LEAD', name: 'Поздний' } }), 'cached tag');
    assert.equal(Number(cached.amoId), late.id);
    const log = suite.sim.requestLog(s.amoId);
    assert.equal(log.filter((r) => r.method === 'POST' && r.path.startsWith('/api/v4/leads/tags') && r.status === 400).length, 1);
    assert.equal(log.filter((r) => r.method === 'GET' && r.path.startsWith('/api/v4/leads/tags?')).length, 1);
  });
});
