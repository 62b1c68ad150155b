// Issue 17: updateQuizRule changes only what its input names (patch.ts); a mapping to a field a
// quiz answer cannot fill is refused when the rule is saved (rules.ts). Unit tests, no database.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mergePatch, mergeRuleInput, namedByPatch, storedAsInput, type StoredRule } from '../src/features/rules/patch.ts';
import { unfillableType, type RuleInput } from '../src/features/rules/rules.ts';

const gid = (type: string, id: string) => Buffer.from(`${type}:${id}`).toString('base64');

const saved: RuleInput = {
  performerId: 'user',
  pipelineId: 'p1',
  stepId: 's1',
  fieldsRule: {
    lead: [{ questionId: 'q1', fieldId: 'f1' }],
    contact: { properties: [{ property: 'phone', fieldId: 'f2' }], questions: [{ questionId: 'q2', fieldId: 'f3' }] },
    company: [],
    customer: [],
  },
  tagsToAdd: { lead: ['t1'], contact: ['t2'], company: [], customer: [] },
  toUnsorted: true,
  mergeDuplicates: true,
};

describe('the partial-update merge', () => {
  test('an empty input keeps everything', () => {
    assert.deepEqual(mergeRuleInput(saved, {}), saved);
  });

  test('a field named is changed, the others are kept', () => {
    const merged = mergeRuleInput(saved, { stepId: 's2', toUnsorted: false });
    assert.deepEqual(merged, { ...saved, stepId: 's2', toUnsorted: false });
  });

  test('nested objects merge key by key: one list given replaces that list only', () => {
    const merged = mergeRuleInput(saved, { fieldsRule: { contact: { questions: [{ questionId: 'q9', fieldId: 'f9' }] } }, tagsToAdd: { lead: ['t7', 't8'] } });
    assert.deepEqual(merged.fieldsRule?.lead, saved.fieldsRule?.lead);
    assert.deepEqual(merged.fieldsRule?.contact, { properties: saved.fieldsRule?.contact?.properties, questions: [{ questionId: 'q9', fieldId: 'f9' }] });
    assert.deepEqual(merged.tagsToAdd, { ...saved.tagsToAdd, lead: ['t7', 't8'] });
  });

  test('explicit null clears: the performer, a flag, a list, a whole group', () => {
    const merged = mergeRuleInput(saved, { performerId: null, toUnsorted: null, fieldsRule: { lead: null }, tagsToAdd: null });
    assert.equal('performerId' in merged, false);
    assert.equal('toUnsorted' in merged, false);
    assert.equal('tagsToAdd' in merged, false);
    assert.equal('lead' in (merged.fieldsRule ?? {}), false);
    assert.deepEqual(merged.fieldsRule?.contact, saved.fieldsRule?.contact);
    assert.equal(merged.mergeDuplicates, true);
  });

  test('a cleared required field is absent, for the check to refuse', () => {
    assert.equal('pipelineId' in mergeRuleInput(saved, { pipelineId: null }), false);
  });

  test('undefined (a key present but not sent) keeps, like an absent key', () => {
    assert.deepEqual(mergeRuleInput(saved, { stepId: undefined, fieldsRule: { lead: undefined } }), saved);
  });

  test('the saved rule is not changed by a merge', () => {
    const before = structuredClone(saved);
    mergeRuleInput(saved, { fieldsRule: { contact: { properties: null } }, tagsToAdd: { lead: null } });
    assert.deepEqual(saved, before);
  });

  test('RFC 7386 examples: a patch that is not an object replaces; arrays replace whole', () => {
    assert.deepEqual(mergePatch({ a: [1, 2] }, { a: [3] }), { a: [3] });
    assert.deepEqual(mergePatch({ a: { b: 'c' } }, { a: { b: 'd', c: null } }), { a: { b: 'd' } });
    assert.equal(mergePatch({ a: 1 }, 'x'), 'x');
    assert.deepEqual(mergePatch('x', { a: 1 }), { a: 1 });
  });

  test('namedByPatch tells what the caller sent from what was kept', () => {
    const patch: RuleInput = { fieldsRule: { lead: [{ questionId: 'q', fieldId: 'f' }] }, stepId: 's' };
    assert.equal(namedByPatch(patch, ['fieldsRule', 'lead', 0, 'fieldId']), true);
    assert.equal(namedByPatch(patch, ['stepId']), true);
    assert.equal(namedByPatch(patch, ['fieldsRule', 'contact', 'questions', 0, 'fieldId']), false);
    assert.equal(namedByPatch(patch, ['pipelineId']), false);
  });

  test('storedAsInput gives the saved rule in RuleInput form, lists in their saved order', () => {
    const now = new Date();
    const rule = {
      id: 'r',
      accountId: 'a',
      quizId: 'quiz',
      pipelineId: 'p',
      stepId: 's',
      performerId: null,
      toUnsorted: false,
      mergeDuplicates: true,
      problems: [],
      checkedAt: null,
      createdAt: now,
      updatedAt: now,
      mappings: [
        { id: 'm2', ruleId: 'r', target: 'LEAD', source: 'QUESTION', key: 'q2', fieldId: 'f2', position: 1 },
        { id: 'm1', ruleId: 'r', target: 'LEAD', source: 'QUESTION', key: 'q1', fieldId: 'f1', position: 0 },
        { id: 'm3', ruleId: 'r', target: 'CONTACT', source: 'PROPERTY', key: 'phone', fieldId: 'f3', position: 2 },
      ],
      tags: [{ ruleId: 'r', entity: 'CONTACT', tagId: 't1', position: 0 }],
    } as unknown as StoredRule;
    const input = storedAsInput(rule);
    assert.equal('performerId' in input, false);
    assert.equal(input.pipelineId, gid('Pipeline', 'p'));
    assert.equal(input.stepId, gid('Step', 's'));
    assert.deepEqual(input.fieldsRule?.lead, [
      { questionId: 'q1', fieldId: gid('Field', 'f1') },
      { questionId: 'q2', fieldId: gid('Field', 'f2') },
    ]);
    assert.deepEqual(input.fieldsRule?.contact, { properties: [{ property: 'phone', fieldId: gid('Field', 'f3') }], questions: [] });
    assert.deepEqual(input.tagsToAdd, { lead: [], contact: [gid('Tag', 't1')], company: [], customer: [] });
    assert.equal(input.mergeDuplicates, true);
  });
});

describe('field types a quiz answer cannot fill', () => {
  test('file, items, linked entity and chained list are refused, naming the type', () => {
    for (const type of ['file', 'items', 'linked_entity', 'chained_list', 'FILE', 'something_new']) {
      assert.match(unfillableType(type) ?? '', new RegExp(`type "${type.toLowerCase()}".*cannot fill`));
    }
  });
  test('every type the converter fills is accepted', () => {
    for (const type of [
      'text',
      'textarea',
      'numeric',
      'checkbox',
      'select',
      'multiselect',
      'multitext',
      'date',
      'url',
      'smart_address',
      'legal_entity',
      'tracking_data',
      'Price',
    ]) {
      assert.equal(unfillableType(type), null, type);
    }
  });
});
