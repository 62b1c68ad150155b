// Customers (created once the lead exists, exactly once) and mergeDuplicates (attach to the
// existing contact / company), checked against the simulator's stored entities.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AmoSimulator, CustomField as SimField } from '@quiz-gateway/amo-sim';
import type { Services } from '../src/platform/services.ts';
import { acceptResult } from '../src/features/delivery/accept.ts';
import { createDeliveryRuntime, runDeliveryPass, type DeliveryHooks, type DeliveryRuntime } from '../src/features/delivery/worker.ts';
import type { TestDatabase } from './helpers/db.ts';
import { at, only } from './helpers/narrow.ts';
import { connectSimAccount, testAmoConfig } from './helpers/amo.ts';
import {
  copyCatalogue,
  createRule,
  deliveryServices,
  drainDeliveries,
  startDeliveryKit,
  testDeliveryRuntime,
  type DeliveryKit,
  type Catalogue,
  type RuleSpec,
} from './helpers/delivery.ts';

const amoConfig = testAmoConfig();
let sim: AmoSimulator;
let tdb: TestDatabase;
let services: Services;

let kit: DeliveryKit | undefined;
before(async () => {
  kit = await startDeliveryKit();
  ({ sim, tdb, services } = kit);
});
after(() => kit?.stop());

const runtime = (hooks: DeliveryHooks = {}, extra: Parameters<typeof createDeliveryRuntime>[1] = {}): DeliveryRuntime => testDeliveryRuntime(services, hooks, extra);
const drain = (rt: DeliveryRuntime, quizAccountId: string, timeoutMs?: number) => drainDeliveries(rt, tdb.db, quizAccountId, timeoutMs);

const expireLeases = () => tdb.db.$executeRaw`UPDATE delivery SET locked_until = now() - interval '1 second' WHERE locked_until IS NOT NULL`;

interface Setup {
  accountId: string;
  amoId: number;
  quizAccountId: string;
  cat: Catalogue;
  pipeline: number;
  status: number;
  customerText: SimField;
  customerNumber: SimField;
  /** a rule of `quizId` on the account's first pipeline */
  rule(quizId: string, spec?: Partial<RuleSpec>): Promise<string>;
}

async function setup(): Promise<Setup> {
  const conn = await connectSimAccount(tdb.db, sim, amoConfig, { seed: { pipelines: 1 } });
  const cat = await copyCatalogue(tdb.db, sim, conn.accountId, conn.amoId);
  const acc = sim.account(conn.amoId);
  const p = at(acc.pipelines, 0, 'pipeline');
  const status = p.statuses.find((s) => s.type === 0 && s.id !== 142 && s.id !== 143)!.id;
  return {
    ...conn,
    cat,
    pipeline: p.id,
    status,
    customerText: acc.fields.customers.find((f) => f.type === 'text')!,
    customerNumber: acc.fields.customers.find((f) => f.type === 'numeric')!,
    rule: (quizId, spec = {}) => createRule(tdb.db, cat, conn.accountId, { quizId, pipelineAmoId: p.id, statusAmoId: status, ...spec }),
  };
}

/** A rule whose answers to q-object / q-budget fill two customer fields, with a customer tag. */
function customerRule(s: Setup, quizId = 'quiz-c', extra: Partial<RuleSpec> = {}): Promise<string> {
  const acc = sim.account(s.amoId);
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

const noteOf = (amoId: number, leadId: number) => String(sim.leads(amoId).find((l) => l.id === leadId)!.notes[0]?.params.text ?? '');

describe('customers', () => {
  test("the customer is created with the mapped values and tag, linked to the lead's contact and the lead; the note names it", async () => {
    const s = await setup();
    await customerRule(s);
    const d = await acceptResult(services, s.quizAccountId, customerResult('c-1'));
    await drain(runtime(), s.quizAccountId);
    const row = await tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(row.status, 'DELIVERED');
    const customers = sim.customers(s.amoId);
    assert.equal(customers.length, 1);
    const c = customers[0]!;
    const lead = only(sim.leads(s.amoId), 'lead');
    assert.equal(row.amoCustomerId, c.id);
    assert.ok(row.customerLinkedAt);
    assert.equal(c.name, 'Анна');
    assert.deepEqual(c.custom_fields_values, [
      { field_id: s.customerText.id, values: [{ value: 'Квартира' }] },
      { field_id: s.customerNumber.id, values: [{ value: '5000' }] },
    ]);
    assert.deepEqual(
      c.tags.map((t) => t.id),
      [at(sim.account(s.amoId).tags.customers, 0, 'customer tag').id],
    );
    assert.equal(c.responsible_user_id, at(sim.account(s.amoId).users, 1, 'user').id);
    assert.equal((c.raw as { request_id?: string }).request_id, d.id);
    assert.deepEqual(c.contact_ids, [lead.contact_id]);
    assert.deepEqual(c.lead_ids, [lead.id]);
    assert.deepEqual(row.warnings, []);
    assert.match(noteOf(s.amoId, lead.id), new RegExp(`Customer: amoCRM customer #${c.id}$`));
  });

  test('the same result delivered twice, and a Delivery found again after its link: one customer, one note', async () => {
    const s = await setup();
    await customerRule(s);
    const d = await acceptResult(services, s.quizAccountId, customerResult('c-twice'));
    await acceptResult(services, s.quizAccountId, customerResult('c-twice'));
    await drain(runtime(), s.quizAccountId);
    // as after a crash between the link and DONE: the row is worked on again
    await tdb.db.delivery.update({ where: { id: d.id }, data: { status: 'PENDING', stage: 'LEAD_CREATED', nextAttemptAt: new Date() } });
    await drain(runtime(), s.quizAccountId);
    assert.equal(sim.customers(s.amoId).length, 1);
    assert.equal(sim.leads(s.amoId).length, 1);
    assert.equal(sim.leads(s.amoId)[0]!.notes.length, 1);
    const row = await tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(row.amoCustomerId, sim.customers(s.amoId)[0]!.id);
  });

  test('POST customers times out after amoCRM stored it: the Delivery waits in LEAD_CREATED, then the customer is reconciled, not sent twice', async () => {
    const s = await setup();
    await customerRule(s);
    const rt = runtime({}, { amoClient: { backoffMs: 20, timeoutMs: 400 } });
    // the result-id field exists before the fault is armed
    await acceptResult(services, s.quizAccountId, customerResult('c-warm', 'quiz-c', 'Пётр'));
    await drain(rt, s.quizAccountId);
    sim.injectFault(s.amoId, { kind: 'slowAfter', delayMs: 1000, count: 1, path: 'customers' });
    const d = await acceptResult(services, s.quizAccountId, customerResult('c-slow'));
    await runDeliveryPass(rt);
    const mid = await tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(mid.status, 'PENDING');
    assert.equal(mid.stage, 'LEAD_CREATED');
    assert.equal(mid.reason, 'AMO_UNAVAILABLE');
    assert.match(mid.lastError ?? '', /The lead is in amoCRM; its customer could not be created/);
    assert.ok(mid.customerSentAt);
    assert.equal(mid.amoCustomerId, null);
    assert.equal(sim.customers(s.amoId).length, 2, 'amoCRM stored it');
    await new Promise((r) => setTimeout(r, 1200));
    await drain(rt, s.quizAccountId);
    const mine = sim.customers(s.amoId).filter((c) => c.name === 'Анна');
    assert.equal(mine.length, 1);
    const row = await tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(row.status, 'DELIVERED');
    assert.equal(row.amoCustomerId, mine[0]!.id);
    assert.deepEqual(mine[0]!.lead_ids, [row.amoLeadId]);
    assert.ok(
      sim.requestLog(s.amoId).some((r) => r.method === 'GET' && r.path.startsWith('/api/v4/customers?')),
      'read before sending again',
    );
  });

  test("two identical results, the second reconciled: it does not adopt the first one's customer", async () => {
    const s = await setup();
    await customerRule(s);
    await acceptResult(services, s.quizAccountId, customerResult('c-same-1'));
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
    const d = await acceptResult(services, s.quizAccountId, customerResult('c-same-2'));
    await assert.rejects(runDeliveryPass(crashing), /simulated crash/);
    const mid = await tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(mid.stage, 'LEAD_CREATED');
    assert.ok(mid.customerSentAt);
    assert.equal(mid.amoCustomerId, null);
    assert.equal(sim.customers(s.amoId).length, 2);
    assert.equal(await runDeliveryPass(runtime()), 0, 'nobody takes it while the lease holds');
    await expireLeases();
    await drain(runtime(), s.quizAccountId);
    const customers = sim.customers(s.amoId);
    assert.equal(customers.length, 2, 'one customer each, none sent twice');
    const rows = await tdb.db.delivery.findMany({ where: { quizAccountId: s.quizAccountId }, orderBy: { createdAt: 'asc' } });
    assert.deepEqual(rows.map((r) => r.amoCustomerId).sort(), customers.map((c) => c.id).sort());
    assert.deepEqual(customers[1]!.lead_ids, [at(rows, 1, 'delivery').amoLeadId]);
  });

  test('customers off (402): DELIVERED with a warning, the customer answers in the note, no customer', async () => {
    const s = await setup();
    sim.setAccountOptions(s.amoId, { customersEnabled: false });
    await customerRule(s);
    const d = await acceptResult(services, s.quizAccountId, customerResult('c-402'));
    await drain(runtime(), s.quizAccountId);
    const row = await tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(row.status, 'DELIVERED');
    assert.equal(row.amoCustomerId, null);
    assert.equal(sim.customers(s.amoId).length, 0);
    assert.ok(
      row.warnings.some((w) => /customer not created: customers are not available .*\(402\)/.test(w)),
      row.warnings.join('\n'),
    );
    const note = noteOf(s.amoId, row.amoLeadId!);
    assert.match(note, /Customer \(not created: customers are not available in this amoCRM account \(402\)\):\n.+: Квартира\n.+: 5000$/);
  });

  test('a customer amoCRM refuses (its responsible user deactivated): DELIVERED with the refusal as a warning', async () => {
    const s = await setup();
    await customerRule(s);
    sim.updateUser(s.amoId, at(sim.account(s.amoId).users, 1, 'user').id, { rights: { is_active: false } });
    // the lead goes to the integration's user after the repair; the customer keeps the rule's user and is refused
    const d = await acceptResult(services, s.quizAccountId, customerResult('c-refused'));
    await drain(runtime(), s.quizAccountId);
    const row = await tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(row.status, 'DELIVERED');
    assert.equal(sim.customers(s.amoId).length, 0);
    assert.ok(
      row.warnings.some((w) => /customer not created: amoCRM refused it \(responsible_user_id/.test(w)),
      row.warnings.join('\n'),
    );
  });
});

describe('mergeDuplicates', () => {
  const plain = (resultId: string, quizId: string, contact: { name?: string; phone?: string; email?: string; extra?: { key: string; value: string }[] }) => ({
    resultId,
    quizId,
    contact,
    answers: [{ questionId: 'q1', title: 'Площадь', values: ['42'] }],
  });

  test('on, same phone written differently: the lead is attached to the oldest contact with that phone, no new contact', async () => {
    const s = await setup();
    await s.rule('quiz-old');
    await s.rule('quiz-merge', { mergeDuplicates: true });
    // a decoy the full-text query finds (the number in its name) but whose phone differs
    await acceptResult(services, s.quizAccountId, plain('old-0', 'quiz-old', { name: 'Звонить 8 (900) 555 44 33', phone: '+7 911 000-00-01' }));
    await drain(runtime(), s.quizAccountId);
    await acceptResult(services, s.quizAccountId, plain('old-1', 'quiz-old', { name: 'Анна', phone: '+7 900 555-44-33' }));
    await drain(runtime(), s.quizAccountId);
    await acceptResult(services, s.quizAccountId, plain('old-2', 'quiz-old', { name: 'Анна 2', phone: '89005554433' }));
    await drain(runtime(), s.quizAccountId);
    const contacts = sim.contacts(s.amoId);
    assert.equal(contacts.length, 3);
    const d = await acceptResult(services, s.quizAccountId, plain('new-1', 'quiz-merge', { name: 'Анна С.', phone: '8 (900) 555 44 33', email: 'anna@new.example' }));
    await drain(runtime(), s.quizAccountId);
    const row = await tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(row.status, 'DELIVERED');
    assert.equal(sim.contacts(s.amoId).length, 3, 'no new contact');
    assert.equal(row.amoContactId, contacts[1]!.id);
    const lead = sim.leads(s.amoId).find((l) => l.id === row.amoLeadId)!;
    assert.equal(lead.contact_id, contacts[1]!.id);
    assert.ok(row.warnings.includes(`attached to the existing contact #${contacts[1]!.id} (same phone); the result's contact details are in the note`), row.warnings.join('\n'));
    assert.match(noteOf(s.amoId, lead.id), /Phone: 8 \(900\) 555 44 33/);
  });

  test('on, same email in another case: attached to that contact', async () => {
    const s = await setup();
    await s.rule('quiz-old');
    await s.rule('quiz-merge', { mergeDuplicates: true });
    await acceptResult(services, s.quizAccountId, plain('e-old', 'quiz-old', { name: 'Ольга', email: 'Olga@Example.com' }));
    await drain(runtime(), s.quizAccountId);
    const existing = only(sim.contacts(s.amoId), 'contact');
    const d = await acceptResult(services, s.quizAccountId, plain('e-new', 'quiz-merge', { name: 'Ольга', phone: '+7 999 000-11-22', email: ' olga@example.COM' }));
    await drain(runtime(), s.quizAccountId);
    const row = await tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(sim.contacts(s.amoId).length, 1);
    assert.equal(row.amoContactId, existing.id);
    assert.ok(
      row.warnings.some((w) => w.startsWith(`attached to the existing contact #${existing.id} (same email)`)),
      row.warnings.join('\n'),
    );
  });

  test('on, a company of the same name (other case, spaces): attached to it, no new company', async () => {
    const s = await setup();
    await s.rule('quiz-old');
    await s.rule('quiz-merge', { mergeDuplicates: true });
    await acceptResult(services, s.quizAccountId, plain('co-old', 'quiz-old', { name: 'Иван', extra: [{ key: 'company', value: 'ООО Вектор' }] }));
    await acceptResult(services, s.quizAccountId, plain('co-other', 'quiz-old', { name: 'Пётр', extra: [{ key: 'company', value: 'ООО Вектор Плюс' }] }));
    await drain(runtime(), s.quizAccountId);
    const companies = sim.companies(s.amoId);
    assert.equal(companies.length, 2);
    const vector = companies.find((c) => c.name === 'ООО Вектор')!;
    const d = await acceptResult(services, s.quizAccountId, plain('co-new', 'quiz-merge', { name: 'Иван', extra: [{ key: 'company', value: '  ооо вектор ' }] }));
    await drain(runtime(), s.quizAccountId);
    const row = await tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(sim.companies(s.amoId).length, 2, 'no new company');
    assert.equal(row.amoCompanyId, vector.id);
    assert.ok(row.warnings.includes(`attached to the existing company #${vector.id} (same name)`), row.warnings.join('\n'));
  });

  test('off: the same phone makes a second contact', async () => {
    const s = await setup();
    await s.rule('quiz-old');
    await acceptResult(services, s.quizAccountId, plain('off-1', 'quiz-old', { name: 'Анна', phone: '+7 900 555-44-33' }));
    await acceptResult(services, s.quizAccountId, plain('off-2', 'quiz-old', { name: 'Анна', phone: '+7 900 555-44-33' }));
    await drain(runtime(), s.quizAccountId);
    assert.equal(sim.contacts(s.amoId).length, 2);
    assert.ok(!sim.requestLog(s.amoId).some((r) => r.path.startsWith('/api/v4/contacts?')), 'no search');
  });

  test('the attached contact is deleted before the send: amoCRM refuses its id, the lead goes with a new contact', async () => {
    const s = await setup();
    await s.rule('quiz-old');
    await s.rule('quiz-merge', { mergeDuplicates: true });
    await acceptResult(services, s.quizAccountId, plain('del-old', 'quiz-old', { name: 'Анна', phone: '+7 900 555-44-33' }));
    await drain(runtime(), s.quizAccountId);
    const existing = only(sim.contacts(s.amoId), 'contact');
    const rt = runtime({
      beforeSend: () => {
        sim.mutate(s.amoId, (acc) => {
          acc.contacts = acc.contacts.filter((c) => c.id !== existing.id);
        });
      },
    });
    const d = await acceptResult(services, s.quizAccountId, plain('del-new', 'quiz-merge', { name: 'Анна', phone: '+7 900 555-44-33' }));
    await drain(rt, s.quizAccountId);
    const row = await tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(row.status, 'DELIVERED');
    const contacts = sim.contacts(s.amoId);
    assert.equal(contacts.length, 1);
    assert.notEqual(contacts[0]!.id, existing.id);
    assert.equal(row.amoContactId, contacts[0]!.id);
    assert.ok(
      row.warnings.some((w) => w.startsWith(`the existing contact #${existing.id} was refused by amoCRM`)),
      row.warnings.join('\n'),
    );
    assert.ok(!row.warnings.some((w) => w.startsWith('attached to')), row.warnings.join('\n'));
  });

  test('the search fails (502): the lead goes at once with a new contact and a warning', async () => {
    const s = await setup();
    await s.rule('quiz-old');
    await s.rule('quiz-merge', { mergeDuplicates: true });
    await acceptResult(services, s.quizAccountId, plain('f-old', 'quiz-old', { name: 'Анна', phone: '+7 900 555-44-33' }));
    await drain(runtime(), s.quizAccountId);
    sim.injectFault(s.amoId, { kind: '5xx', status: 502, count: 1, path: 'contacts\\?query' });
    const d = await acceptResult(services, s.quizAccountId, plain('f-new', 'quiz-merge', { name: 'Анна', phone: '+7 900 555-44-33' }));
    await runDeliveryPass(runtime());
    const row = await tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(row.status, 'DELIVERED', 'delivered in the same pass');
    assert.equal(row.attempts, 1);
    assert.equal(sim.contacts(s.amoId).length, 2);
    assert.ok(
      row.warnings.some((w) => /^duplicates not looked for \(amoCRM answered 502\)/.test(w)),
      row.warnings.join('\n'),
    );
  });
});
