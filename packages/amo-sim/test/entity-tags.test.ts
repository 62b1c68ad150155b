// PATCH contacts / companies with tags_to_add: the tags an entity has stay, the ones named are
// added (by id, or by name in any case: an unknown name creates the tag), a tag it has already is
// not added twice; a bad entry rejects the whole request with problem+json and changes nothing.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SIM_OPTIONS, nth, simulatorSuite, type Json } from './helpers.ts';

const { sim, connect } = simulatorSuite({ ...SIM_OPTIONS, rateLimitRps: 1000 });

/** Two contacts (the first tagged `A`) and a company, made through leads/complex. */
async function seeded() {
  const c = connect();
  const pipeline = nth(c.acc.pipelines, 0);
  const [status, out] = await c.complex([
    { name: 'l1', pipeline_id: pipeline.id, _embedded: { contacts: [{ name: 'Анна', _embedded: { tags: [{ name: 'A' }] } }], companies: [{ name: 'ООО Вектор' }] } },
    { name: 'l2', pipeline_id: pipeline.id, _embedded: { contacts: [{ name: 'Пётр' }] } },
  ]);
  assert.equal(status, 200);
  const patch = (entity: string, json: unknown) => c.api(`/api/v4/${entity}`, { method: 'PATCH', json });
  const contact = (id: number) => sim.contacts(c.acc.id).find((x) => x.id === id)!;
  return { ...c, out, patch, contact };
}

describe('PATCH contacts / companies: tags_to_add', () => {
  test('adds by id and by name, keeps the tags the contact has, answers amoCRM shape; again is a no-op', async () => {
    const { acc, out, patch, contact } = await seeded();
    const a = contact(out[0].contact_id).tags[0]!;
    assert.equal(a.name, 'A');
    const b = nth(sim.account(acc.id).tags.contacts, 0);
    const before = sim.account(acc.id).tags.contacts.length;
    const body = [
      { id: out[0].contact_id, tags_to_add: [{ id: b.id }, { name: 'новый тег' }, { name: 'a' }] },
      { id: out[1].contact_id, tags_to_add: [{ name: 'НОВЫЙ ТЕГ' }] },
    ];
    const res = await patch('contacts', body);
    assert.equal(res.status, 200);
    const answer: Json = await res.json();
    assert.deepEqual(
      answer._embedded.contacts.map((x: Json) => [x.id, x.request_id]),
      [
        [out[0].contact_id, '0'],
        [out[1].contact_id, '1'],
      ],
    );
    assert.equal(typeof answer._embedded.contacts[0].updated_at, 'number');
    const created = sim.account(acc.id).tags.contacts.filter((t) => t.name === 'новый тег');
    assert.equal(created.length, 1, 'an unknown name is created once');
    assert.equal(sim.account(acc.id).tags.contacts.length, before + 1);
    assert.deepEqual(
      contact(out[0].contact_id).tags.map((t) => t.id),
      [a.id, b.id, created[0]!.id],
    );
    assert.deepEqual(
      contact(out[1].contact_id).tags.map((t) => t.id),
      [created[0]!.id],
    );
    // a retry changes nothing
    assert.equal((await patch('contacts', body)).status, 200);
    assert.deepEqual(
      contact(out[0].contact_id).tags.map((t) => t.id),
      [a.id, b.id, created[0]!.id],
    );
  });

  test('companies have their own tags; tags_to_delete takes one off', async () => {
    const { acc, out, patch } = await seeded();
    const res = await patch('companies', [{ id: out[0].company_id, tags_to_add: [{ name: 'клиент' }, { name: 'квиз-vip' }] }]);
    assert.equal(res.status, 200);
    const answer: Json = await res.json();
    assert.equal(answer._embedded.companies[0].id, out[0].company_id);
    const company = () => sim.companies(acc.id).find((x) => x.id === out[0].company_id)!;
    assert.deepEqual(
      company().tags.map((t) => t.name),
      ['клиент', 'квиз-vip'],
    );
    assert.ok(!sim.account(acc.id).tags.contacts.some((t) => t.name === 'клиент'), 'not a contact tag');
    assert.equal((await patch('companies', [{ id: out[0].company_id, tags_to_delete: [{ name: 'КВИЗ-VIP' }] }])).status, 200);
    assert.deepEqual(
      company().tags.map((t) => t.name),
      ['клиент'],
    );
  });

  test('bad bodies: 400 problem+json naming the entry, nothing changed', async () => {
    const { acc, out, patch, contact } = await seeded();
    const tagsBefore = contact(out[0].contact_id).tags.map((t) => t.id);
    const cases: [unknown, string, string][] = [
      [
        [
          { id: out[0].contact_id, tags_to_add: [{ name: 'x' }] },
          { id: 999999999, tags_to_add: [{ name: 'y' }] },
        ],
        'NotFound',
        'id',
      ],
      [[{ id: out[0].contact_id, tags_to_add: [{ id: 999999999 }] }], 'NotSupportedChoice', 'tags_to_add.0.id'],
      [[{ id: out[0].contact_id, tags_to_add: [{ name: '  ' }] }], 'FieldMissing', 'tags_to_add.0.name'],
      [[{ id: out[0].contact_id, tags_to_add: 'x' }], 'InvalidType', 'tags_to_add'],
      [[{ tags_to_add: [{ name: 'x' }] }], 'FieldMissing', 'id'],
      [[{ id: 'one', tags_to_add: [{ name: 'x' }] }], 'InvalidType', 'id'],
    ];
    for (const [body, code, path] of cases) {
      const res = await patch('contacts', body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.match(res.headers.get('content-type') ?? '', /problem\+json/);
      const problem: Json = await res.json();
      const errors = problem['validation-errors'].flatMap((g: Json) => g.errors);
      assert.ok(
        errors.some((e: Json) => e.code === code && e.path === path),
        JSON.stringify(problem),
      );
    }
    for (const body of [{ id: out[0].contact_id }, []]) {
      const res = await patch('contacts', body);
      assert.equal(res.status, 400);
      assert.match(res.headers.get('content-type') ?? '', /problem\+json/);
    }
    const tooMany = await patch(
      'contacts',
      Array.from({ length: 51 }, () => ({ id: out[0].contact_id })),
    );
    assert.equal(tooMany.status, 400);
    assert.deepEqual(
      contact(out[0].contact_id).tags.map((t) => t.id),
      tagsBefore,
    );
    assert.ok(!sim.account(acc.id).tags.contacts.some((t) => t.name === 'x' || t.name === 'y'), 'no tag created by a refused request');
  });
});
