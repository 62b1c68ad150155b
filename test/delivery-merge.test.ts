// mergeDuplicates: on, the lead is attached to the contact or company amoCRM already has (same
// phone, email or name, however written); off, or when the search fails or the contact is gone,
// it goes with a new one. Checked against the simulator's stored entities.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { acceptResult } from '../src/features/delivery/accept.ts';
import { runDeliveryPass } from '../src/features/delivery/worker.ts';
import { only } from './helpers/narrow.ts';
import { leadNote } from './helpers/delivery.ts';
import { deliverySuite } from './helpers/delivery-suite.ts';

const suite = deliverySuite({ pipelines: 1 });
const { runtime, drain, setup } = suite;

const noteOf = (amoId: number, leadId: number) => leadNote(suite.sim, amoId, leadId);

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
    await acceptResult(suite.services, s.quizAccountId, plain('old-0', 'quiz-old', { name: 'Звонить 8 (900) 555 44 33', phone: '+7 911 000-00-01' }));
    await drain(runtime(), s.quizAccountId);
    await acceptResult(suite.services, s.quizAccountId, plain('old-1', 'quiz-old', { name: 'Анна', phone: '+7 900 555-44-33' }));
    await drain(runtime(), s.quizAccountId);
    await acceptResult(suite.services, s.quizAccountId, plain('old-2', 'quiz-old', { name: 'Анна 2', phone: '89005554433' }));
    await drain(runtime(), s.quizAccountId);
    const contacts = suite.sim.contacts(s.amoId);
    assert.equal(contacts.length, 3);
    const d = await acceptResult(suite.services, s.quizAccountId, plain('new-1', 'quiz-merge', { name: 'Анна С.', phone: '8 (900) 555 44 33', email: 'anna@new.example' }));
    await drain(runtime(), s.quizAccountId);
    const row = await suite.tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(row.status, 'DELIVERED');
    assert.equal(suite.sim.contacts(s.amoId).length, 3, 'no new contact');
    assert.equal(row.amoContactId, contacts[1]!.id);
    const lead = suite.sim.leads(s.amoId).find((l) => l.id === Number(row.amoLeadId))!;
    assert.equal(lead.contact_id, contacts[1]!.id);
    assert.ok(row.warnings.includes(`attached to the existing contact #${contacts[1]!.id} (same phone); the result's contact details are in the note`), row.warnings.join('\n'));
    assert.match(noteOf(s.amoId, lead.id), /Phone: 8 \(900\) 555 44 33/);
  });

  test('on, same email in another case: attached to that contact', async () => {
    const s = await setup();
    await s.rule('quiz-old');
    await s.rule('quiz-merge', { mergeDuplicates: true });
    await acceptResult(suite.services, s.quizAccountId, plain('e-old', 'quiz-old', { name: 'Ольга', email: 'Olga@Example.com' }));
    await drain(runtime(), s.quizAccountId);
    const existing = only(suite.sim.contacts(s.amoId), 'contact');
    const d = await acceptResult(suite.services, s.quizAccountId, plain('e-new', 'quiz-merge', { name: 'Ольга', phone: '+7 999 000-11-22', email: ' olga@example.COM' }));
    await drain(runtime(), s.quizAccountId);
    const row = await suite.tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(suite.sim.contacts(s.amoId).length, 1);
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
    await acceptResult(suite.services, s.quizAccountId, plain('co-old', 'quiz-old', { name: 'Иван', extra: [{ key: 'company', value: 'ООО Вектор' }] }));
    await acceptResult(suite.services, s.quizAccountId, plain('co-other', 'quiz-old', { name: 'Пётр', extra: [{ key: 'company', value: 'ООО Вектор Плюс' }] }));
    await drain(runtime(), s.quizAccountId);
    const companies = suite.sim.companies(s.amoId);
    assert.equal(companies.length, 2);
    const vector = companies.find((c) => c.name === 'ООО Вектор')!;
    const d = await acceptResult(suite.services, s.quizAccountId, plain('co-new', 'quiz-merge', { name: 'Иван', extra: [{ key: 'company', value: '  ооо вектор ' }] }));
    await drain(runtime(), s.quizAccountId);
    const row = await suite.tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(suite.sim.companies(s.amoId).length, 2, 'no new company');
    assert.equal(row.amoCompanyId, vector.id);
    assert.ok(row.warnings.includes(`attached to the existing company #${vector.id} (same name)`), row.warnings.join('\n'));
  });

  test('off: the same phone makes a second contact', async () => {
    const s = await setup();
    await s.rule('quiz-old');
    await acceptResult(suite.services, s.quizAccountId, plain('off-1', 'quiz-old', { name: 'Анна', phone: '+7 900 555-44-33' }));
    await acceptResult(suite.services, s.quizAccountId, plain('off-2', 'quiz-old', { name: 'Анна', phone: '+7 900 555-44-33' }));
    await drain(runtime(), s.quizAccountId);
    assert.equal(suite.sim.contacts(s.amoId).length, 2);
    assert.ok(!suite.sim.requestLog(s.amoId).some((r) => r.path.startsWith('/api/v4/contacts?')), 'no search');
  });

  test('the attached contact is deleted before the send: amoCRM refuses its id, the lead goes with a new contact', async () => {
    const s = await setup();
    await s.rule('quiz-old');
    await s.rule('quiz-merge', { mergeDuplicates: true });
    await acceptResult(suite.services, s.quizAccountId, plain('del-old', 'quiz-old', { name: 'Анна', phone: '+7 900 555-44-33' }));
    await drain(runtime(), s.quizAccountId);
    const existing = only(suite.sim.contacts(s.amoId), 'contact');
    const rt = runtime({
      beforeSend: () => {
        suite.sim.mutate(s.amoId, (acc) => {
          acc.contacts = acc.contacts.filter((c) => c.id !== existing.id);
        });
      },
    });
    const d = await acceptResult(suite.services, s.quizAccountId, plain('del-new', 'quiz-merge', { name: 'Анна', phone: '+7 900 555-44-33' }));
    await drain(rt, s.quizAccountId);
    const row = await suite.tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(row.status, 'DELIVERED');
    const contacts = suite.sim.contacts(s.amoId);
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
    await acceptResult(suite.services, s.quizAccountId, plain('f-old', 'quiz-old', { name: 'Анна', phone: '+7 900 555-44-33' }));
    await drain(runtime(), s.quizAccountId);
    suite.sim.injectFault(s.amoId, { kind: '5xx', status: 502, count: 1, path: 'contacts\\?query' });
    const d = await acceptResult(suite.services, s.quizAccountId, plain('f-new', 'quiz-merge', { name: 'Анна', phone: '+7 900 555-44-33' }));
    await runDeliveryPass(runtime());
    const row = await suite.tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(row.status, 'DELIVERED', 'delivered in the same pass');
    assert.equal(row.attempts, 1);
    assert.equal(suite.sim.contacts(s.amoId).length, 2);
    assert.ok(
      row.warnings.some((w) => /^duplicates not looked for \(amoCRM answered 502\)/.test(w)),
      row.warnings.join('\n'),
    );
  });
});
