// Issue 17: a rule's task and assignment over GraphQL against real PostgreSQL — set on create,
// read back, kept by an update that leaves them out, cleared by null; deactivated or foreign users,
// a task without text, malformed working hours are refused naming their paths; AmoUser.isActive.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { at } from './helpers/narrow.ts';
import { gid, seedRuleCatalogue, startRulesStage, type RulesStage } from './rules.kit.ts';

let stage: RulesStage;
let gw: RulesStage['gw'];
let token: string;
const ids: Record<string, string> = {};

before(async () => {
  stage = await startRulesStage('tasks-a', 1);
  ({ gw, token } = stage);
  const { db } = stage.testDb;
  ids.pipeline = at(stage.catalogue.pipelines, 0, 'pipeline');
  ids.step = at(stage.catalogue.steps, 0, 'step');
  // two active users and a deactivated one
  const users = await db.amoUser.findMany({ where: { accountId: stage.catalogue.accountId, deletedAt: null }, orderBy: { name: 'asc' } });
  assert.ok(users.length >= 3, 'the demo account has three users');
  await db.amoUser.updateMany({ where: { id: { in: users.slice(0, 3).map((u) => u.id) } }, data: { isActive: true } });
  await db.amoUser.update({ where: { id: at(users, 2, 'user').id }, data: { isActive: false } });
  ids.u1 = gid('AmoUser', at(users, 0, 'user').id);
  ids.u2 = gid('AmoUser', at(users, 1, 'user').id);
  ids.inactive = gid('AmoUser', at(users, 2, 'user').id);
  ids.foreign = (await seedRuleCatalogue(db, 'tasks-b', 1)).user;
});
after(() => stage?.stop());

const RULE = `id task { enabled text taskTypeId deadlineMinutes workingHours { days from to timezone } } assignmentMode assignees { id isActive }`;
const CREATE = `mutation($quizId: ID!, $input: RuleInput!) { createQuizRule(quizId: $quizId, input: $input) { ${RULE} } }`;
const UPDATE = `mutation($quizId: ID!, $input: RuleInput!) { updateQuizRule(quizId: $quizId, input: $input) { ${RULE} } }`;
const base = () => ({ pipelineId: ids.pipeline, stepId: ids.step });
const task = {
  enabled: true,
  text: 'Позвонить клиенту',
  taskTypeId: 2,
  deadlineMinutes: 30,
  workingHours: { days: [1, 2, 3, 4, 5], from: '09:00', to: '18:00', timezone: 'Asia/Yekaterinburg' },
};

async function save(query: string, quizId: string, input: object) {
  const res = await gw.gql(query, { quizId, input }, token);
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  return (res.data.createQuizRule ?? res.data.updateQuizRule) as Record<string, any>;
}
async function refused(query: string, quizId: string, input: object): Promise<Record<string, string>> {
  const res = await gw.gql(query, { quizId, input }, token);
  assert.equal(res.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT', JSON.stringify(res.errors));
  return Object.fromEntries((res.errors[0].extensions.issues as { path: string; message: string }[]).map((i) => [i.path, i.message]));
}

describe('rule task and assignment', () => {
  test('set on create and read back; an update that leaves them out keeps them; null clears', async () => {
    const created = await save(CREATE, 'q-task', { ...base(), task, assignment: { mode: 'ROUND_ROBIN', userIds: [ids.u2, ids.u1] } });
    assert.deepEqual(created.task, { ...task, workingHours: { ...task.workingHours } });
    assert.equal(created.assignmentMode, 'ROUND_ROBIN');
    assert.deepEqual(
      created.assignees.map((u: { id: string }) => u.id),
      [ids.u2, ids.u1],
    );
    assert.ok(created.assignees.every((u: { isActive: boolean }) => u.isActive));

    const kept = await save(UPDATE, 'q-task', { toUnsorted: true });
    assert.deepEqual(kept.task, created.task);
    assert.equal(kept.assignmentMode, 'ROUND_ROBIN');
    // a part of the task: the rest is kept
    const retimed = await save(UPDATE, 'q-task', { task: { enabled: true, deadlineMinutes: 60 } });
    assert.deepEqual(retimed.task, { ...created.task, deadlineMinutes: 60 });

    const cleared = await save(UPDATE, 'q-task', { task: null, assignment: null });
    assert.equal(cleared.task.enabled, false);
    assert.equal(cleared.assignmentMode, 'PERFORMER');
    assert.deepEqual(cleared.assignees, []);
  });

  test('deactivated, foreign or missing users, a task without text and malformed hours are refused, each path named', async () => {
    const issues = await refused(CREATE, 'q-bad', {
      ...base(),
      task: { enabled: true, text: '  ', taskTypeId: 0, deadlineMinutes: -5, workingHours: { days: [0, 8], from: '9am', to: '25:00', timezone: 'Mars/Olympus' } },
      assignment: { mode: 'UNIFORM', userIds: [ids.u1, ids.inactive, ids.foreign] },
    });
    assert.match(issues['input.task.text'] ?? '', /required/);
    assert.match(issues['input.task.taskTypeId'] ?? '', /1 \(call\), 2 \(meeting\)/);
    assert.match(issues['input.task.deadlineMinutes'] ?? '', /whole number/);
    assert.match(issues['input.task.workingHours.days'] ?? '', /weekdays/);
    assert.match(issues['input.task.workingHours.from'] ?? '', /HH:MM/);
    assert.match(issues['input.task.workingHours.to'] ?? '', /HH:MM/);
    assert.match(issues['input.task.workingHours.timezone'] ?? '', /IANA/);
    assert.match(issues['input.assignment.userIds.1'] ?? '', /deactivated/);
    assert.match(issues['input.assignment.userIds.2'] ?? '', /not a user of the connected/);
    assert.equal(issues['input.assignment.userIds.0'], undefined);
    const empty = await refused(CREATE, 'q-bad', { ...base(), assignment: { mode: 'ROUND_ROBIN', userIds: [] } });
    assert.match(empty['input.assignment.userIds'] ?? '', /at least one/);
    const order = await refused(CREATE, 'q-bad', { ...base(), task: { ...task, workingHours: { days: [1], from: '18:00', to: '09:00' } } });
    assert.match(order['input.task.workingHours.to'] ?? '', /after from/);
  });

  test('AmoUser.isActive is exposed, so the admin page offers only active users', async () => {
    const res = await gw.gql(`{ users(first: 100) { edges { node { id isActive } } } }`, {}, token);
    assert.equal(res.errors, undefined, JSON.stringify(res.errors));
    const byId = new Map((res.data.users.edges as { node: { id: string; isActive: boolean } }[]).map((e) => [e.node.id, e.node.isActive]));
    assert.equal(byId.get(ids.u1!), true);
    assert.equal(byId.get(ids.inactive!), false);
  });
});
