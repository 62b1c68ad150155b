// Issue 17: rules an owner can manage, over GraphQL against real PostgreSQL. updateQuizRule
// changes only what it names; a mapping to a field a quiz answer cannot fill is refused on save.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { at } from './helpers/narrow.ts';
import { ruleInput, startRulesStage, type RulesStage } from './rules.kit.ts';

let stage: RulesStage;
let testDb: RulesStage['testDb'];
let gw: RulesStage['gw'];
let token: string;
const ids: Record<string, string> = {};

before(async () => {
  stage = await startRulesStage('manage-a', 2);
  ({ testDb, gw, token } = stage);
  const { pipelines, steps, user, field, tag } = stage.catalogue;
  [ids.pipeline1, ids.pipeline2] = [at(pipelines, 0, 'pipeline'), at(pipelines, 1, 'pipeline')];
  [ids.step1, ids.step2] = [at(steps, 0, 'step'), at(steps, 1, 'step')];
  ids.user = user;
  ids.leadText = await field('LEAD', 'text');
  ids.leadNumber = await field('LEAD', 'numeric');
  ids.leadFile = await field('LEAD', 'file');
  ids.leadItems = await field('LEAD', 'items');
  ids.leadLinked = await field('LEAD', 'linked_entity');
  ids.leadChained = await field('LEAD', 'chained_list');
  ids.contactText = await field('CONTACT', 'text');
  ids.contactFile = await field('CONTACT', 'file');
  ids.leadTag = await tag('LEAD');
  ids.contactTag = await tag('CONTACT');
});
after(() => stage?.stop());

const RULE = `id quizId performer { id } pipeline { id } step { id } toUnsorted mergeDuplicates
  fieldsRule { lead { questionId field { id } } contact { properties { property field { id } } questions { questionId field { id } } } }
  tagsToAdd { lead { id } contact { id } }`;
const CREATE = `mutation($quizId: ID!, $input: RuleInput!) { createQuizRule(quizId: $quizId, input: $input) { ${RULE} } }`;
const UPDATE = `mutation($quizId: ID!, $input: RuleInput!) { updateQuizRule(quizId: $quizId, input: $input) { ${RULE} } }`;

const fullInput = () => ({ ...ruleInput(ids), toUnsorted: true, mergeDuplicates: true });

async function create(quizId: string, input: object = fullInput()) {
  const res = await gw.gql(CREATE, { quizId, input }, token);
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  return res.data.createQuizRule;
}
async function update(quizId: string, input: object) {
  const res = await gw.gql(UPDATE, { quizId, input }, token);
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  return res.data.updateQuizRule;
}
/** The error's issues as { path: message }. */
async function refused(query: string, quizId: string, input: object): Promise<Record<string, string>> {
  const res = await gw.gql(query, { quizId, input }, token);
  assert.equal(res.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT', JSON.stringify(res.errors));
  return Object.fromEntries((res.errors![0]!.extensions!.issues as { path: string; message: string }[]).map((i) => [i.path, i.message]));
}

describe('updateQuizRule changes only what the input names', () => {
  test('an omitted field is kept: a step change keeps performer, mappings, tags and flags', async () => {
    const saved = await create('q-partial');
    const changed = await update('q-partial', { pipelineId: ids.pipeline2, stepId: ids.step2 });
    assert.deepEqual(changed, { ...saved, pipeline: { id: ids.pipeline2 }, step: { id: ids.step2 } });
    // an empty input changes nothing
    assert.deepEqual(await update('q-partial', {}), changed);
  });

  test('a list given replaces that list only; the other lists of its group are kept', async () => {
    const saved = await create('q-list');
    const changed = await update('q-list', { fieldsRule: { contact: { questions: [{ questionId: 'q-zip', fieldId: ids.contactText }] } }, tagsToAdd: { lead: [] } });
    assert.deepEqual(changed.fieldsRule.lead, saved.fieldsRule.lead);
    assert.deepEqual(changed.fieldsRule.contact.properties, saved.fieldsRule.contact.properties);
    assert.deepEqual(changed.fieldsRule.contact.questions, [{ questionId: 'q-zip', field: { id: ids.contactText } }]);
    assert.deepEqual(changed.tagsToAdd, { lead: [], contact: saved.tagsToAdd.contact });
  });

  test('explicit null clears the performer, a flag and a group of lists', async () => {
    await create('q-null');
    const changed = await update('q-null', { performerId: null, toUnsorted: null, fieldsRule: null });
    assert.equal(changed.performer, null);
    assert.equal(changed.toUnsorted, false);
    assert.equal(changed.mergeDuplicates, true);
    assert.deepEqual(changed.fieldsRule, { lead: [], contact: { properties: [], questions: [] } });
    assert.equal(changed.tagsToAdd.lead.length, 1);
  });

  test('clearing a pipeline or step is refused, and nothing changes', async () => {
    const saved = await create('q-required');
    const issues = await refused(UPDATE, 'q-required', { pipelineId: null, toUnsorted: false });
    assert.match(issues['input.pipelineId'] ?? '', /required/);
    const rule = (await gw.gql(`query($q: ID!) { rule(quizId: $q) { ${RULE} } }`, { q: 'q-required' }, token)).data.rule;
    assert.deepEqual(rule, saved);
    // a create needs both
    const missing = await refused(CREATE, 'q-required-new', { fieldsRule: {} });
    assert.deepEqual(Object.keys(missing).sort(), ['input.pipelineId', 'input.stepId']);
  });

  test('a kept part that no longer checks out is named as kept', async () => {
    await create('q-kept');
    // a step of the other pipeline, with the saved pipeline kept
    const issues = await refused(UPDATE, 'q-kept', { stepId: ids.step2 });
    assert.match(issues['input.stepId'] ?? '', /another pipeline/);
    assert.doesNotMatch(issues['input.stepId'] ?? '', /kept/);
    // a mapped field deleted in amoCRM since: an update of something else says that mapping is kept
    const fieldId = Buffer.from(ids.leadNumber!, 'base64').toString().split(':')[1]!;
    await testDb.db.customField.update({ where: { id: fieldId }, data: { deletedAt: new Date() } });
    try {
      const kept = await refused(UPDATE, 'q-kept', { toUnsorted: false });
      assert.match(kept['input.fieldsRule.lead.0.fieldId'] ?? '', /not a field .*kept from the saved rule/);
      // replacing the list clears it
      const fixed = await update('q-kept', { toUnsorted: false, fieldsRule: { lead: [{ questionId: 'q-comment', fieldId: ids.leadText }] } });
      assert.equal(fixed.toUnsorted, false);
    } finally {
      await testDb.db.customField.update({ where: { id: fieldId }, data: { deletedAt: null } });
    }
  });
});

describe('mappings to fields a quiz answer cannot fill', () => {
  test('file, items, linked entity and chained list fields are refused on create, each path named', async () => {
    const input = {
      ...fullInput(),
      fieldsRule: {
        lead: [
          { questionId: 'q1', fieldId: ids.leadText },
          { questionId: 'q2', fieldId: ids.leadFile },
          { questionId: 'q3', fieldId: ids.leadItems },
          { questionId: 'q4', fieldId: ids.leadLinked },
          { questionId: 'q5', fieldId: ids.leadChained },
        ],
        contact: { properties: [{ property: 'phone', fieldId: ids.contactFile }] },
      },
    };
    const issues = await refused(CREATE, 'q-types', input);
    assert.deepEqual(Object.keys(issues).sort(), [
      'input.fieldsRule.contact.properties.0.fieldId',
      'input.fieldsRule.lead.1.fieldId',
      'input.fieldsRule.lead.2.fieldId',
      'input.fieldsRule.lead.3.fieldId',
      'input.fieldsRule.lead.4.fieldId',
    ]);
    assert.match(issues['input.fieldsRule.lead.1.fieldId']!, /type "file"/);
    assert.match(issues['input.fieldsRule.lead.4.fieldId']!, /type "chained_list"/);
    assert.equal(await testDb.db.rule.count({ where: { quizId: 'q-types' } }), 0);
  });

  test('and on update; a UTM to such a field is refused too', async () => {
    await create('q-types-update');
    const issues = await refused(UPDATE, 'q-types-update', { fieldsRule: { lead: [{ questionId: 'q1', fieldId: ids.leadItems }] } });
    assert.match(issues['input.fieldsRule.lead.0.fieldId'] ?? '', /type "items"/);
    const utm = await gw.gql(
      'mutation($utms: [UtmInput!]!) { addUtms(quizId: "q-types-update", utms: $utms) { id } }',
      { utms: [{ name: 'utm_source', fieldId: ids.leadFile }] },
      token,
    );
    assert.equal(utm.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
    assert.equal(utm.errors?.[0]?.extensions?.field, 'utms.0.fieldId');
    assert.match(utm.errors![0]!.message, /type "file"/);
  });
});
