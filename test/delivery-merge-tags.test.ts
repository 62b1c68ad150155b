// mergeDuplicates and the rule's contact / company tags: a lead attached to an existing contact or
// company adds the rule's tags to it with PATCH … tags_to_add (the tags it has stay); when amoCRM
// refuses that, the lead is DELIVERED all the same, with a warning saying so. Checked against the
// simulator's stored entities and a real PostgreSQL.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { acceptResult } from '../src/features/delivery/accept.ts';
import { only } from './helpers/narrow.ts';
import { deliverySuite } from './helpers/delivery-suite.ts';

const suite = deliverySuite({ pipelines: 1 });
const { runtime, drain, setup } = suite;

const result = (resultId: string, quizId: string) => ({
  resultId,
  quizId,
  contact: { name: 'Анна', phone: '+7 900 555-44-33', extra: [{ key: 'company', value: 'ООО Вектор' }] },
  answers: [{ questionId: 'q1', title: 'Площадь', values: ['42'] }],
});

/** An existing contact tagged A and company (from an earlier lead), and a merging rule with contact tags B + a name, company tag C. */
async function returningCustomer() {
  const s = await setup();
  const tags = suite.sim.account(s.amoId).tags;
  const [a, b] = [tags.contacts[0]!, tags.contacts[1]!];
  const c = tags.companies[0]!;
  await s.rule('quiz-old', { tags: [{ entity: 'CONTACT', amoId: a.id }] });
  const ruleId = await s.rule('quiz-merge', {
    mergeDuplicates: true,
    tags: [
      { entity: 'CONTACT', amoId: b.id },
      { entity: 'COMPANY', amoId: c.id },
    ],
  });
  await suite.tdb.db.rule.update({ where: { id: ruleId }, data: { tagNames: { contact: ['Постоянный клиент'] } } });
  await acceptResult(suite.services, s.quizAccountId, result('old-1', 'quiz-old'));
  await drain(runtime(), s.quizAccountId);
  const contact = only(suite.sim.contacts(s.amoId), 'contact');
  const company = only(suite.sim.companies(s.amoId), 'company');
  assert.deepEqual(
    contact.tags.map((t) => t.id),
    [a.id],
  );
  return { s, a, b, c, contact, company };
}

describe('mergeDuplicates: the rule’s tags for the existing contact and company', () => {
  test('the existing contact keeps tag A and gets the rule’s B and its tag by name; the company gets C; one PATCH each, tags_to_add only', async () => {
    const { s, a, b, c, contact, company } = await returningCustomer();
    const d = await acceptResult(suite.services, s.quizAccountId, result('new-1', 'quiz-merge'));
    await drain(runtime(), s.quizAccountId);
    const row = await suite.tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(row.status, 'DELIVERED');
    assert.equal(Number(row.amoContactId), contact.id);
    assert.equal(suite.sim.contacts(s.amoId).length, 1, 'no new contact');
    const named = suite.sim.account(s.amoId).tags.contacts.find((t) => t.name === 'Постоянный клиент');
    assert.ok(named, 'the tag by name exists');
    const stored = only(suite.sim.contacts(s.amoId), 'contact');
    assert.deepEqual(stored.tags.map((t) => t.id).sort(), [a.id, b.id, named.id].sort());
    assert.ok(
      only(suite.sim.companies(s.amoId), 'company').tags.some((t) => t.id === c.id),
      'the company got C',
    );
    const patches = suite.sim.requestLog(s.amoId).filter((r) => r.method === 'PATCH');
    assert.deepEqual(
      patches.map((p) => [p.path, p.status]),
      [
        ['/api/v4/contacts', 200],
        ['/api/v4/companies', 200],
      ],
    );
    const body = patches[0]!.body as { id: number; tags_to_add: unknown[]; _embedded?: unknown }[];
    assert.equal(body.length, 1);
    assert.equal(body[0]!.id, contact.id);
    assert.equal(body[0]!._embedded, undefined, 'never _embedded.tags (it replaces every tag)');
    assert.equal((patches[1]!.body as { id: number }[])[0]!.id, company.id);
    assert.ok(!row.warnings.some((w) => /tags were not added/.test(w)), row.warnings.join('\n'));
  });

  test('the PATCH refused (the simulator answers 502 every time): the lead is DELIVERED, the contact keeps its tags, a warning names the step', async () => {
    const { s, a, contact } = await returningCustomer();
    // the client's first try and its 4 retries
    suite.sim.injectFault(s.amoId, { kind: '5xx', status: 502, count: 5, path: '^/api/v4/contacts$' });
    const d = await acceptResult(suite.services, s.quizAccountId, result('new-2', 'quiz-merge'));
    await drain(runtime(), s.quizAccountId);
    const row = await suite.tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(row.status, 'DELIVERED');
    assert.equal(row.stage, 'DONE');
    assert.equal(row.attempts, 1);
    assert.equal(Number(row.amoContactId), contact.id);
    assert.ok(row.warnings.includes(`the rule's contact tags were not added to the existing contact #${contact.id}: amoCRM answered 502`), row.warnings.join('\n'));
    assert.deepEqual(
      only(suite.sim.contacts(s.amoId), 'contact').tags.map((t) => t.id),
      [a.id],
    );
    assert.ok(
      suite.sim.requestLog(s.amoId).some((r) => r.method === 'PATCH' && r.path === '/api/v4/companies' && r.status === 200),
      'the company step is not held back',
    );
  });
});
