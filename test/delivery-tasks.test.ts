// Tasks and assignment against the simulator and PostgreSQL: the rule's task is in amoCRM once
// (text, type, responsible, complete_till), also after a crash between the lead and the task and
// after a crash between amoCRM's answer and the task id's commit; round-robin spreads six
// deliveries over the active chosen users (a deactivated one skipped), a retried delivery keeps
// its user; with nobody left the lead goes to amoCRM's default user with a warning.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AmoSimulator } from '@quiz-gateway/amo-sim';
import type { Services } from '../src/platform/services.ts';
import { Prisma } from '../src/platform/db.ts';
import { acceptResult } from '../src/features/delivery/accept.ts';
import { runDeliveryPass, type DeliveryHooks, type DeliveryRuntime } from '../src/features/delivery/worker.ts';
import type { TestDatabase } from './helpers/db.ts';
import { at, only } from './helpers/narrow.ts';
import { connectDeliveryAccount, drainDeliveries, expireLeases, startDeliveryKit, testDeliveryRuntime, type DeliveryKit } from './helpers/delivery.ts';

let sim: AmoSimulator;
let tdb: TestDatabase;
let services: Services;
let kit: DeliveryKit | undefined;
before(async () => {
  kit = await startDeliveryKit();
  ({ sim, tdb, services } = kit);
});
after(() => kit?.stop());

const runtime = (hooks: DeliveryHooks = {}): DeliveryRuntime => testDeliveryRuntime(services, hooks);
const drain = (rt: DeliveryRuntime, quizAccountId: string) => drainDeliveries(rt, tdb.db, quizAccountId);
const result = (resultId: string, quizId = 'quiz-t') => ({
  resultId,
  quizId,
  contact: { name: 'Анна', phone: '+7 900 123-45-67' },
  answers: [{ questionId: 'q', title: 'Площадь', values: ['42'] }],
});
const TASK = { taskEnabled: true, taskText: 'Позвонить клиенту', taskTypeId: 2, taskDeadlineMinutes: 15 };

/** An account and a rule of `quizId` with the task on; `data` sets more rule columns. */
async function setup(data: Record<string, unknown> = {}, quizId = 'quiz-t') {
  const s = await connectDeliveryAccount(kit!, 1);
  const users = sim.account(s.amoId).users;
  const ruleId = await s.rule(quizId, { performerAmoId: at(users, 1, 'user').id });
  await tdb.db.rule.update({ where: { id: ruleId }, data: { ...TASK, ...data } });
  return { ...s, ruleId, users };
}

describe('the task for the responsible user', () => {
  test('created once with the lead: text, type, responsible and deadline as amoCRM stores them', async () => {
    const s = await setup();
    const before = Math.floor(Date.now() / 1000);
    const d = await acceptResult(services, s.quizAccountId, result('t-1'));
    await drain(runtime(), s.quizAccountId);
    const afterSec = Math.ceil(Date.now() / 1000);
    const row = await tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(row.status, 'DELIVERED');
    const lead = only(sim.leads(s.amoId), 'lead');
    const task = only(sim.tasks(s.amoId), 'task');
    assert.equal(task.entity_type, 'leads');
    assert.equal(task.entity_id, lead.id);
    assert.equal(task.text, 'Позвонить клиенту');
    assert.equal(task.task_type_id, 2);
    assert.equal(task.responsible_user_id, at(s.users, 1, 'user').id);
    assert.equal(task.responsible_user_id, lead.responsible_user_id);
    assert.ok(task.complete_till >= before + 15 * 60 && task.complete_till <= afterSec + 15 * 60, `complete_till ${task.complete_till} is 15 min after ${before}`);
    assert.equal(Number(row.amoTaskId), task.id);
    assert.ok(row.taskSentAt);
    assert.deepEqual(row.warnings, []);

    // worked on again (as after a crash before DONE): the recorded task is not sent again
    await tdb.db.delivery.update({ where: { id: d.id }, data: { status: 'PENDING', stage: 'LEAD_CREATED', nextAttemptAt: new Date() } });
    await drain(runtime(), s.quizAccountId);
    assert.equal(sim.tasks(s.amoId).length, 1);
    assert.equal(sim.leads(s.amoId).length, 1);
  });

  test('a crash between the lead and the task: the recovered delivery adds the task once, and the note', async () => {
    const s = await setup();
    const d = await acceptResult(services, s.quizAccountId, result('t-crash-lead'));
    const crashing = runtime({
      afterLeadCreated: () => {
        throw new Error('simulated crash at afterLeadCreated');
      },
    });
    await assert.rejects(runDeliveryPass(crashing), /simulated crash/);
    const mid = await tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(mid.stage, 'LEAD_CREATED');
    assert.equal(sim.tasks(s.amoId).length, 0);
    await expireLeases(tdb.db);
    await drain(runtime(), s.quizAccountId);
    const row = await tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(row.status, 'DELIVERED');
    const lead = only(sim.leads(s.amoId), 'lead');
    const task = only(sim.tasks(s.amoId), 'task');
    assert.equal(task.entity_id, lead.id);
    assert.equal(task.responsible_user_id, at(s.users, 1, 'user').id);
    assert.equal(sim.notes(s.amoId).length, 1);
  });

  test('a crash after amoCRM stored the task, before its id was committed: recovery reads the lead’s tasks and adopts it', async () => {
    const s = await setup();
    const d = await acceptResult(services, s.quizAccountId, result('t-crash-task'));
    const crashing = runtime({
      afterTask: () => {
        throw new Error('simulated crash at afterTask');
      },
    });
    await assert.rejects(runDeliveryPass(crashing), /simulated crash/);
    const mid = await tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.ok(mid.taskSentAt, 'the send was recorded before the POST');
    assert.equal(mid.amoTaskId, null);
    const sentTill = (mid.sentTask as { complete_till: number }).complete_till;
    assert.equal(sim.tasks(s.amoId).length, 1);
    sim.clearRequestLog(s.amoId);
    await expireLeases(tdb.db);
    await drain(runtime(), s.quizAccountId);
    const row = await tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(row.status, 'DELIVERED');
    const task = only(sim.tasks(s.amoId), 'task');
    assert.equal(Number(row.amoTaskId), task.id);
    assert.equal(task.complete_till, sentTill);
    const log = sim.requestLog(s.amoId);
    assert.ok(
      log.some((r) => r.method === 'GET' && r.path.startsWith('/api/v4/tasks?')),
      'read before sending again',
    );
    assert.equal(log.filter((r) => r.method === 'POST' && r.path.startsWith('/api/v4/tasks')).length, 0, 'not sent again');
  });

  test('a task type amoCRM refuses: the lead is DELIVERED with the refusal as a warning', async () => {
    const s = await setup({ taskTypeId: 987_654 });
    const d = await acceptResult(services, s.quizAccountId, result('t-refused'));
    await drain(runtime(), s.quizAccountId);
    const row = await tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(row.status, 'DELIVERED');
    assert.equal(sim.tasks(s.amoId).length, 0);
    assert.ok(
      row.warnings.some((w) => /^task not created: amoCRM refused it \(task_type_id/.test(w)),
      row.warnings.join('\n'),
    );
  });
});

describe('assignment', () => {
  test('round-robin: 6 deliveries over 3 chosen users, one deactivated: 3 each to the active two, lead and task alike; a retry keeps its user', async () => {
    const s = await connectDeliveryAccount(kit!, 1);
    const users = sim.account(s.amoId).users;
    const chosen = [0, 1, 2].map((i) => at(users, i, 'user').id);
    const ruleId = await s.rule('quiz-rr');
    await tdb.db.rule.update({ where: { id: ruleId }, data: { ...TASK, assignmentMode: 'ROUND_ROBIN', assigneeIds: chosen.map((id) => s.cat.userId(id)) } });
    // deactivated in amoCRM after the rule was saved (as the next sync records it)
    await tdb.db.amoUser.update({ where: { id: s.cat.userId(at(chosen, 1, 'user')) }, data: { isActive: false } });
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push((await acceptResult(services, s.quizAccountId, result(`rr-${i}`, 'quiz-rr'))).id);
    await drain(runtime(), s.quizAccountId);

    const leads = sim.leads(s.amoId);
    assert.equal(leads.length, 6);
    const count = (list: { responsible_user_id: number }[]) => {
      const m = new Map<number, number>();
      for (const x of list) m.set(x.responsible_user_id, (m.get(x.responsible_user_id) ?? 0) + 1);
      return Object.fromEntries([...m].sort((a, b) => a[0] - b[0]));
    };
    const expected = { [at(chosen, 0, 'u')]: 3, [at(chosen, 2, 'u')]: 3 };
    assert.deepEqual(count(leads), expected);
    const tasks = sim.tasks(s.amoId);
    assert.equal(tasks.length, 6);
    assert.deepEqual(count(tasks), expected);
    for (const t of tasks) assert.equal(t.responsible_user_id, leads.find((l) => l.id === t.entity_id)?.responsible_user_id);
    const rule = await tdb.db.rule.findUniqueOrThrow({ where: { id: ruleId } });
    assert.equal(Number(rule.assignmentCounter), 6);

    // a delivery sent again from the start keeps the user it was given; the counter does not move
    const first = await tdb.db.delivery.findUniqueOrThrow({ where: { id: at(ids, 0, 'id') } });
    await tdb.db.delivery.update({
      where: { id: first.id },
      data: { status: 'PENDING', stage: 'QUEUED', amoLeadId: null, amoTaskId: null, taskSentAt: null, sentTask: Prisma.DbNull, nextAttemptAt: new Date() },
    });
    await drain(runtime(), s.quizAccountId);
    const again = await tdb.db.delivery.findUniqueOrThrow({ where: { id: first.id } });
    assert.equal(Number(again.assignedUserAmoId), Number(first.assignedUserAmoId));
    assert.equal(sim.leads(s.amoId).find((l) => l.id === Number(again.amoLeadId))?.responsible_user_id, Number(first.assignedUserAmoId));
    assert.equal(Number((await tdb.db.rule.findUniqueOrThrow({ where: { id: ruleId } })).assignmentCounter), 6);
  });

  test('round-robin is fair under concurrency: two workers at once, each delivery one turn of the counter', async () => {
    const s = await connectDeliveryAccount(kit!, 1);
    const users = sim.account(s.amoId).users;
    const chosen = [0, 1].map((i) => at(users, i, 'user').id);
    const ruleId = await s.rule('quiz-rr2');
    await tdb.db.rule.update({ where: { id: ruleId }, data: { assignmentMode: 'ROUND_ROBIN', assigneeIds: chosen.map((id) => s.cat.userId(id)) } });
    for (let i = 0; i < 8; i++) await acceptResult(services, s.quizAccountId, result(`rr2-${i}`, 'quiz-rr2'));
    // small batches so both workers get some of the account's deliveries
    const rt = () => testDeliveryRuntime(services, {}, { batchSize: 2 });
    await Promise.all([drain(rt(), s.quizAccountId), drain(rt(), s.quizAccountId)]);
    const rows = await tdb.db.delivery.findMany({ where: { quizAccountId: s.quizAccountId } });
    assert.ok(rows.every((r) => r.status === 'DELIVERED'));
    const per = chosen.map((u) => rows.filter((r) => Number(r.assignedUserAmoId) === u).length);
    assert.deepEqual(per, [4, 4]);
    assert.equal(Number((await tdb.db.rule.findUniqueOrThrow({ where: { id: ruleId } })).assignmentCounter), 8);
  });

  test("uniform among users who are all deactivated: amoCRM's default user and a warning on the delivery", async () => {
    const s = await connectDeliveryAccount(kit!, 1);
    const users = sim.account(s.amoId).users;
    const ruleId = await s.rule('quiz-none');
    const only1 = at(users, 1, 'user').id;
    await tdb.db.rule.update({ where: { id: ruleId }, data: { ...TASK, assignmentMode: 'UNIFORM', assigneeIds: [s.cat.userId(only1)] } });
    await tdb.db.amoUser.update({ where: { id: s.cat.userId(only1) }, data: { isActive: false } });
    const d = await acceptResult(services, s.quizAccountId, result('none-1', 'quiz-none'));
    await drain(runtime(), s.quizAccountId);
    const row = await tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(row.status, 'DELIVERED');
    assert.equal(row.assignedUserAmoId, null);
    assert.ok(
      row.warnings.some((w) => /none of the rule's chosen users is active/.test(w)),
      row.warnings.join('\n'),
    );
    const lead = only(sim.leads(s.amoId), 'lead');
    assert.notEqual(lead.responsible_user_id, only1);
    // the task goes to the same default user
    assert.equal(only(sim.tasks(s.amoId), 'task').responsible_user_id, lead.responsible_user_id);
  });
});
