// Issue 5 (rules and UTMs): every id must be a live object of the caller's account, of the right kind.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createQueue, TOPICS, type Queue, type QueueMessage } from '../src/platform/queue/index.ts';
import { tokenFor } from './helpers/app.ts';
import { at } from './helpers/narrow.ts';
import { until } from './helpers/wait.ts';
import { gid, ruleInput, seedRuleCatalogue, startRulesStage, type RulesStage } from './rules.kit.ts';

let stage: RulesStage;
let testDb: RulesStage['testDb'];
let gw: RulesStage['gw'];
let queue: Queue;
let token: string;
const tasks: QueueMessage[] = [];
const ids: Record<string, any> = {};

before(async () => {
  queue = await createQueue({});
  await queue.consume(TOPICS.amoTasks, 'rules-test', async (m) => void tasks.push(m));
  stage = await startRulesStage('rules-a', 2, { queue });
  ({ testDb, gw, token } = stage);
  const { pipelines, steps, user, field, tag } = stage.catalogue;
  [ids.pipeline1, ids.pipeline2] = [at(pipelines, 0, 'pipeline'), at(pipelines, 1, 'pipeline')];
  [ids.step1, ids.step2] = [at(steps, 0, 'step'), at(steps, 1, 'step')];
  ids.user = user;
  ids.leadText = await field('LEAD');
  ids.leadNumber = await field('LEAD', 'numeric');
  ids.contactText = await field('CONTACT');
  ids.companyText = await field('COMPANY');
  ids.customerText = await field('CUSTOMER');
  ids.leadTag = await tag('LEAD');
  ids.contactTag = await tag('CONTACT');
  ids.utmSourceField = gid('Field', (await testDb.db.customField.findFirstOrThrow({ where: { accountId: stage.catalogue.accountId, code: 'UTM_SOURCE' } })).id);
  const other = await seedRuleCatalogue(testDb.db, 'rules-b', 1);
  ids.otherTenantField = await other.field('LEAD');
  ids.otherTenantUser = other.user;
});
after(async () => {
  await stage?.stop();
  await queue?.close();
});

const CREATE = `mutation($quizId: ID!, $input: RuleInput!) { createQuizRule(quizId: $quizId, input: $input) {
  id quizId performer { name } pipeline { id } step { id } toUnsorted mergeDuplicates
  fieldsRule { lead { questionId field { id } } contact { properties { property field { id } } questions { questionId } } company { questionId } customer { questionId } }
  tagsToAdd { lead { id } contact { id } } } }`;
const UPDATE = CREATE.replace('createQuizRule', 'updateQuizRule').replace('mutation(', 'mutation(');

const validInput = () => {
  const base = ruleInput(ids);
  return {
    ...base,
    fieldsRule: { ...base.fieldsRule, company: [{ questionId: 'q-inn', fieldId: ids.companyText }], customer: [{ questionId: 'q-loyal', fieldId: ids.customerText }] },
  };
};

async function expectBadInput(quizId: string, input: any, path: string) {
  const res = await gw.gql(CREATE, { quizId, input }, token);
  assert.equal(res.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT', JSON.stringify(res.errors));
  assert.ok(
    (res.errors?.[0]?.extensions?.issues as { path: string }[]).some((i) => i.path === path),
    `${path} not in ${JSON.stringify(res.errors?.[0]?.extensions?.issues)}`,
  );
  assert.match(res.errors![0].message, new RegExp(path.replace(/\./g, '\\.')));
}

describe('rules', () => {
  test('create: the whole rule is stored and read back; rule.changed is published', async () => {
    const res = await gw.gql(CREATE, { quizId: 'quiz-ok', input: validInput() }, token);
    assert.equal(res.errors, undefined, JSON.stringify(res.errors));
    const rule = res.data.createQuizRule;
    assert.equal(rule.quizId, 'quiz-ok');
    assert.equal(rule.pipeline.id, ids.pipeline1);
    assert.equal(rule.step.id, ids.step1);
    assert.ok(rule.performer.name);
    assert.deepEqual(
      rule.fieldsRule.lead.map((m: any) => [m.questionId, m.field.id]),
      [
        ['q-area', ids.leadNumber],
        ['q-comment', ids.leadText],
      ],
    );
    assert.deepEqual(rule.fieldsRule.contact.properties, [{ property: 'company', field: { id: ids.contactText } }]);
    assert.deepEqual(rule.fieldsRule.contact.questions, [{ questionId: 'q-city' }]);
    assert.deepEqual(rule.fieldsRule.company, [{ questionId: 'q-inn' }]);
    assert.deepEqual(rule.fieldsRule.customer, [{ questionId: 'q-loyal' }]);
    assert.deepEqual(rule.tagsToAdd, { lead: [{ id: ids.leadTag }], contact: [{ id: ids.contactTag }] });
    assert.equal(rule.toUnsorted, false);
    const task = await until('the rule.changed task', async () => tasks.find((t) => (t.value as any).quizId === 'quiz-ok'));
    assert.deepEqual(task.value, {
      type: 'rule.changed',
      quizAccountId: 'rules-a',
      quizId: 'quiz-ok',
      ruleId: (await testDb.db.rule.findFirstOrThrow({ where: { quizId: 'quiz-ok' } })).id,
    });
    assert.equal(task.key, 'rules-a');
  });

  test('a second create is CONFLICT; update changes what it names and keeps the rest; update of a missing rule is NOT_FOUND', async () => {
    const again = await gw.gql(CREATE, { quizId: 'quiz-ok', input: validInput() }, token);
    assert.equal(again.errors?.[0]?.extensions?.code, 'CONFLICT');
    const updated = await gw.gql(
      UPDATE,
      {
        quizId: 'quiz-ok',
        input: { pipelineId: ids.pipeline2, stepId: ids.step2, fieldsRule: { lead: [{ questionId: 'q-new', fieldId: ids.leadText }] }, toUnsorted: true, mergeDuplicates: true },
      },
      token,
    );
    assert.equal(updated.errors, undefined, JSON.stringify(updated.errors));
    const rule = updated.data.updateQuizRule;
    assert.equal(rule.pipeline.id, ids.pipeline2);
    assert.ok(rule.performer.name, 'an omitted performer is kept');
    assert.deepEqual(
      rule.fieldsRule.lead.map((m: any) => m.questionId),
      ['q-new'],
    );
    assert.deepEqual(rule.fieldsRule.contact.properties, [{ property: 'company', field: { id: ids.contactText } }], 'omitted contact mappings are kept');
    assert.deepEqual(rule.tagsToAdd.lead, [{ id: ids.leadTag }], 'omitted tags are kept');
    assert.equal(rule.toUnsorted, true);
    assert.equal(rule.mergeDuplicates, true);
    const missing = await gw.gql(UPDATE, { quizId: 'no-rule-here', input: validInput() }, token);
    assert.equal(missing.errors?.[0]?.extensions?.code, 'NOT_FOUND');
  });

  test('every validation failure names its input path and writes nothing', async () => {
    const before = await testDb.db.rule.count();
    const mappingsBefore = await testDb.db.ruleFieldMapping.count();
    await expectBadInput('quiz-bad', { ...validInput(), performerId: ids.otherTenantUser }, 'input.performerId');
    await expectBadInput('quiz-bad', { ...validInput(), pipelineId: 'bm9wZQ==' }, 'input.pipelineId');
    await expectBadInput('quiz-bad', { ...validInput(), stepId: ids.step2 }, 'input.stepId');
    await expectBadInput('quiz-bad', { ...validInput(), stepId: ids.pipeline1 }, 'input.stepId');
    const wrongEntity = validInput();
    wrongEntity.fieldsRule.lead[1]!.fieldId = ids.contactText;
    await expectBadInput('quiz-bad', wrongEntity, 'input.fieldsRule.lead.1.fieldId');
    const contactWrong = validInput();
    contactWrong.fieldsRule.contact.properties[0]!.fieldId = ids.leadText;
    await expectBadInput('quiz-bad', contactWrong, 'input.fieldsRule.contact.properties.0.fieldId');
    const twice = validInput();
    twice.fieldsRule.lead[1]!.questionId = 'q-area';
    await expectBadInput('quiz-bad', twice, 'input.fieldsRule.lead.1.questionId');
    const foreignField = validInput();
    foreignField.fieldsRule.company[0]!.fieldId = ids.otherTenantField;
    await expectBadInput('quiz-bad', foreignField, 'input.fieldsRule.company.0.fieldId');
    await expectBadInput('quiz-bad', { ...validInput(), tagsToAdd: { lead: [ids.contactTag] } }, 'input.tagsToAdd.lead.0');
    await expectBadInput('quiz-bad', { ...validInput(), tagsToAdd: { contact: ['garbage'] } }, 'input.tagsToAdd.contact.0');
    const empty = await gw.gql(CREATE, { quizId: '  ', input: validInput() }, token);
    assert.equal(empty.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
    assert.equal(await testDb.db.rule.count(), before);
    assert.equal(await testDb.db.ruleFieldMapping.count(), mappingsBefore);
    assert.equal(await testDb.db.rule.count({ where: { quizId: 'quiz-bad' } }), 0);
  });

  test('another tenant cannot see, update or use the rule', async () => {
    const other = await tokenFor('rules-b');
    assert.equal((await gw.gql('{ rule(quizId: "quiz-ok") { id } }', {}, other)).data.rule, null);
    const update = await gw.gql(UPDATE, { quizId: 'quiz-ok', input: validInput() }, other);
    assert.equal(update.errors?.[0]?.extensions?.code, 'NOT_FOUND'); // B has no rule of that quiz: A's is answered as missing
    const noAccount = await gw.gql(CREATE, { quizId: 'x', input: validInput() }, await tokenFor('nobody'));
    assert.equal(noAccount.errors?.[0]?.extensions?.code, 'ACCOUNT_NOT_CONNECTED');
  });
});

describe('utms', () => {
  const ADD = 'mutation($quizId: ID!, $utms: [UtmInput!]!) { addUtms(quizId: $quizId, utms: $utms) { id name field { id } } }';
  test('add saves only what the quiz does not have yet; delete returns what it deleted', async () => {
    const first = await gw.gql(
      ADD,
      {
        quizId: 'quiz-utm',
        utms: [
          { name: 'utm_source', fieldId: ids.utmSourceField },
          { name: 'utm_term', fieldId: ids.leadText },
        ],
      },
      token,
    );
    assert.equal(first.errors, undefined, JSON.stringify(first.errors));
    assert.deepEqual(
      first.data.addUtms.map((u: any) => u.name),
      ['utm_source', 'utm_term'],
    );
    const second = await gw.gql(
      ADD,
      {
        quizId: 'quiz-utm',
        utms: [
          { name: 'utm_source', fieldId: ids.leadText },
          { name: 'utm_medium', fieldId: ids.leadText },
        ],
      },
      token,
    );
    assert.deepEqual(
      second.data.addUtms.map((u: any) => u.name),
      ['utm_medium'],
    );
    const { utms } = (await gw.gql('{ utms(quizId: "quiz-utm") { totalCount edges { node { id name } } } }', {}, token)).data;
    assert.equal(utms.totalCount, 3);

    const bad = await gw.gql(ADD, { quizId: 'quiz-utm', utms: [{ name: 'utm_x', fieldId: ids.contactText }] }, token);
    assert.equal(bad.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
    assert.equal(bad.errors?.[0]?.extensions?.field, 'utms.0.fieldId');
    const badName = await gw.gql(ADD, { quizId: 'quiz-utm', utms: [{ name: 'not a utm!', fieldId: ids.leadText }] }, token);
    assert.equal(badName.errors?.[0]?.extensions?.field, 'utms.0.name');
    assert.equal((await gw.gql('{ utms(quizId: "quiz-utm") { totalCount } }', {}, token)).data.utms.totalCount, 3);

    const victim = utms.edges[0].node.id;
    const foreign = await gw.gql('mutation($ids: [ID!]!) { deleteUtms(ids: $ids) }', { ids: [victim] }, await tokenFor('rules-b'));
    assert.deepEqual(foreign.data.deleteUtms, []);
    const deleted = await gw.gql('mutation($ids: [ID!]!) { deleteUtms(ids: $ids) }', { ids: [victim, 'bm9wZQ=='] }, token);
    assert.deepEqual(deleted.data.deleteUtms, [victim]);
    assert.equal((await gw.gql('{ utms(quizId: "quiz-utm") { totalCount } }', {}, token)).data.utms.totalCount, 2);
  });
});
