// Customers: created once the lead exists, exactly once (a second delivery, a timeout, a crash),
// or left out with a warning when amoCRM has them off or refuses one. mergeDuplicates:
// delivery-merge.test.ts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { CustomField as SimField } from '@quiz-gateway/amo-sim';
import { acceptResult } from '../src/features/delivery/accept.ts';
import { runDeliveryPass } from '../src/features/delivery/worker.ts';
import { at, only } from './helpers/narrow.ts';
import { expireLeases, leadNote, type DeliveryAccount, type RuleSpec } from './helpers/delivery.ts';
import { deliverySuite } from './helpers/delivery-suite.ts';
import { until } from './helpers/wait.ts';

const suite = deliverySuite({ pipelines: 1 });
const { runtime, drain } = suite;
const noteOf = (amoId: number, leadId: number) => leadNote(suite.sim, amoId, leadId);

interface Setup extends DeliveryAccount {
  customerText: SimField;
  customerNumber: SimField;
}

/** an account with one pipeline, and its text and numeric customer fields */
async function setup(): Promise<Setup> {
  const account = await suite.setup();
  const fields = suite.sim.account(account.amoId).fields.customers;
  return {
    ...account,
    customerText: fields.find((f) => f.type === 'text')!,
    customerNumber: fields.find((f) => f.type === 'numeric')!,
  };
}

/** A rule whose answers to q-object / q-budget fill two customer fields, with a customer tag. */
function customerRule(s: Setup, quizId = 'quiz-c', extra: Partial<RuleSpec> = {}): Promise<string> {
  const acc = suite.sim.account(s.amoId);
  return s.rule(quizId, {
    performerAmoId: at(acc.users, 1, 'user').id,
    mappings: [
      { target: 'CUSTOMER', source: 'QUESTION', key: 'q-object', fieldAmoId: s.customerText.id },
      { target: 'CUSTOMER', source: 'QUESTION', key: 'q-budget', fieldAmoId: s.customerNumber.id },
    ],
    tags: [{ entity: 'CUSTOMER', amoId: at(acc.tags.customers, 0, 'customer tag').id }],
    ...extra,
  });
}

const customerResult = (resultId: string, quizId = 'quiz-c', name = 'Анна') => ({
  resultId,
  quizId,
  leadName: 'Ремонт',
  contact: { name, phone: '+7 900 123-45-67' },
  answers: [
    { questionId: 'q-object', title: 'Объект', values: ['Квартира'] },
    { questionId: 'q-budget', title: 'Бюджет', values: ['5000'] },
  ],
});

describe('customers', () => {
  test("the customer is created with the mapped values and tag, linked to the lead's contact and the lead; the note names it", async () => {
    const s = await setup();
    await customerRule(s);
    const d = await acceptResult(suite.services, s.quizAccountId, customerResult('c-1'));
    await drain(runtime(), s.quizAccountId);
    const row = await suite.tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(row.status, 'DELIVERED');
    const customers = suite.sim.customers(s.amoId);
    assert.equal(customers.length, 1);
    const c = customers[0]!;
    const lead = only(suite.sim.leads(s.amoId), 'lead');
    assert.equal(row.amoCustomerId, c.id);
    assert.ok(row.customerLinkedAt);
    assert.equal(c.name, 'Анна');
    assert.deepEqual(c.custom_fields_values, [
      { field_id: s.customerText.id, values: [{ value: 'Квартира' }] },
      { field_id: s.customerNumber.id, values: [{ value: '5000' }] },
    ]);
    assert.deepEqual(
      c.tags.map((t) => t.id),
      [at(suite.sim.account(s.amoId).tags.customers, 0, 'customer tag').id],
    );
    assert.equal(c.responsible_user_id, at(suite.sim.account(s.amoId).users, 1, 'user').id);
    assert.equal((c.raw as { request_id?: string }).request_id, d.id);
    assert.deepEqual(c.contact_ids, [lead.contact_id]);
    assert.deepEqual(c.lead_ids, [lead.id]);
    assert.deepEqual(row.warnings, []);
    assert.match(noteOf(s.amoId, lead.id), new RegExp(`Customer: amoCRM customer #${c.id}$`));
  });

  test('the same result delivered twice, and a Delivery found again after its link: one customer, one note', async () => {
    const s = await setup();
    await customerRule(s);
    const d = await acceptResult(suite.services, s.quizAccountId, customerResult('c-twice'));
    await acceptResult(suite.services, s.quizAccountId, customerResult('c-twice'));
    await drain(runtime(), s.quizAccountId);
    // as after a crash between the link and DONE: the row is worked on again
    await suite.tdb.db.delivery.update({ where: { id: d.id }, data: { status: 'PENDING', stage: 'LEAD_CREATED', nextAttemptAt: new Date() } });
    await drain(runtime(), s.quizAccountId);
    assert.equal(suite.sim.customers(s.amoId).length, 1);
    assert.equal(suite.sim.leads(s.amoId).length, 1);
    assert.equal(suite.sim.leads(s.amoId)[0]!.notes.length, 1);
    const row = await suite.tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(row.amoCustomerId, suite.sim.customers(s.amoId)[0]!.id);
  });

  test('POST customers times out after amoCRM stored it: the Delivery waits in LEAD_CREATED, then the customer is reconciled, not sent twice', async () => {
    const s = await setup();
    await customerRule(s);
    const rt = runtime({}, { amoClient: { backoffMs: 20, timeoutMs: 400 } });
    // the result-id field exists before the fault is armed
    await acceptResult(suite.services, s.quizAccountId, customerResult('c-warm', 'quiz-c', 'Пётр'));
    await drain(rt, s.quizAccountId);
    suite.sim.injectFault(s.amoId, { kind: 'slowAfter', delayMs: 1000, count: 1, path: 'customers' });
    const d = await acceptResult(suite.services, s.quizAccountId, customerResult('c-slow'));
    await runDeliveryPass(rt);
    const mid = await suite.tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(mid.status, 'PENDING');
    assert.equal(mid.stage, 'LEAD_CREATED');
    assert.equal(mid.reason, 'AMO_UNAVAILABLE');
    assert.match(mid.lastError ?? '', /The lead is in amoCRM; its customer could not be created/);
    assert.ok(mid.customerSentAt);
    assert.equal(mid.amoCustomerId, null);
    assert.equal(suite.sim.customers(s.amoId).length, 2, 'amoCRM stored it');
    // the POST amoCRM stored is over on its side too (the client gave up on it: logged with status 0)
    await until('the first POST customers ended', async () =>
      suite.sim.requestLog(s.amoId).some((r) => r.method === 'POST' && r.path.startsWith('/api/v4/customers') && r.status === 0),
    );
    await drain(rt, s.quizAccountId);
    const mine = suite.sim.customers(s.amoId).filter((c) => c.name === 'Анна');
    assert.equal(mine.length, 1);
    const row = await suite.tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(row.status, 'DELIVERED');
    assert.equal(row.amoCustomerId, mine[0]!.id);
    assert.deepEqual(mine[0]!.lead_ids, [row.amoLeadId]);
    assert.ok(
      suite.sim.requestLog(s.amoId).some((r) => r.method === 'GET' && r.path.startsWith('/api/v4/customers?')),
      'read before sending again',
    );
  });

  test("two identical results, the second reconciled: it does not adopt the first one's customer", async () => {
    const s = await setup();
    await customerRule(s);
    await acceptResult(suite.services, s.quizAccountId, customerResult('c-same-1'));
    await drain(runtime(), s.quizAccountId);
    let fired = false;
    const crashing = runtime({
      afterCustomer: () => {
        if (!fired) {
          fired = true;
          throw new Error('simulated crash at afterCustomer');
        }
      },
    });
    const d = await acceptResult(suite.services, s.quizAccountId, customerResult('c-same-2'));
    await assert.rejects(runDeliveryPass(crashing), /simulated crash/);
    const mid = await suite.tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(mid.stage, 'LEAD_CREATED');
    assert.ok(mid.customerSentAt);
    assert.equal(mid.amoCustomerId, null);
    assert.equal(suite.sim.customers(s.amoId).length, 2);
    assert.equal(await runDeliveryPass(runtime()), 0, 'nobody takes it while the lease holds');
    await expireLeases(suite.tdb.db);
    await drain(runtime(), s.quizAccountId);
    const customers = suite.sim.customers(s.amoId);
    assert.equal(customers.length, 2, 'one customer each, none sent twice');
    const rows = await suite.tdb.db.delivery.findMany({ where: { quizAccountId: s.quizAccountId }, orderBy: { createdAt: 'asc' } });
    assert.deepEqual(rows.map((r) => r.amoCustomerId).sort(), customers.map((c) => c.id).sort());
    assert.deepEqual(customers[1]!.lead_ids, [at(rows, 1, 'delivery').amoLeadId]);
  });

  test('customers off (402): DELIVERED with a warning, the customer answers in the note, no customer', async () => {
    const s = await setup();
    suite.sim.setAccountOptions(s.amoId, { customersEnabled: false });
    await customerRule(s);
    const d = await acceptResult(suite.services, s.quizAccountId, customerResult('c-402'));
    await drain(runtime(), s.quizAccountId);
    const row = await suite.tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(row.status, 'DELIVERED');
    assert.equal(row.amoCustomerId, null);
    assert.equal(suite.sim.customers(s.amoId).length, 0);
    assert.ok(
      row.warnings.some((w) => /customer not created: customers are not available .*\(402\)/.test(w)),
      row.warnings.join('\n'),
    );
    const note = noteOf(s.amoId, Number(row.amoLeadId));
    assert.match(note, /Customer \(not created: customers are not available in this amoCRM account \(402\)\):\n.+: Квартира\n.+: 5000$/);
  });

  test('a customer amoCRM refuses (its responsible user deactivated): DELIVERED with the refusal as a warning', async () => {
    const s = await setup();
    await customerRule(s);
    suite.sim.updateUser(s.amoId, at(suite.sim.account(s.amoId).users, 1, 'user').id, { rights: { is_active: false } });
    // the lead goes to the integration's user after the repair; the customer keeps the rule's user and is refused
    const d = await acceptResult(suite.services, s.quizAccountId, customerResult('c-refused'));
    await drain(runtime(), s.quizAccountId);
    const row = await suite.tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(row.status, 'DELIVERED');
    assert.equal(suite.sim.customers(s.amoId).length, 0);
    assert.ok(
      row.warnings.some((w) => /customer not created: amoCRM refused it \(responsible_user_id/.test(w)),
      row.warnings.join('\n'),
    );
  });
});
