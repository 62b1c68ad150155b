// Tags by name, as amoCRM treats them: POST {entity}/tags creates, a name the entity has (any case)
// is refused as NotUnique, and `_embedded.tags: [{name}]` on leads/complex attaches the tag of
// that name (any case) or creates it once.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SIM_OPTIONS, nth, simulatorSuite, type Json } from './helpers.ts';

const { sim, connect } = simulatorSuite(SIM_OPTIONS);

describe('tags by name', () => {
  test('POST leads/tags creates the names given; a name the entity has, in any case, or given twice is NotUnique and nothing is created', async () => {
    const { acc, api } = connect();
    const existing = nth(acc.tags.leads, 0);
    const before = sim.account(acc.id).tags.leads.length;

    const ok = await api('/api/v4/leads/tags', { json: [{ name: '  Квиз-лид ' }, { name: 'Второй' }] });
    assert.equal(ok.status, 200);
    const body: Json = await ok.json();
    assert.deepEqual(
      body._embedded.tags.map((t: Json) => t.name),
      ['Квиз-лид', 'Второй'],
    );
    const tags = sim.account(acc.id).tags.leads;
    assert.equal(tags.length, before + 2);
    assert.ok(tags.some((t) => t.id === body._embedded.tags[0].id && t.name === 'Квиз-лид'));

    for (const names of [[existing.name.toUpperCase()], ['квиз-ЛИД'], ['Новый', 'НОВЫЙ']]) {
      const res = await api('/api/v4/leads/tags', { json: names.map((name) => ({ name })) });
      assert.equal(res.status, 400, names.join());
      const problem: Json = await res.json();
      assert.equal(problem['validation-errors'][0].errors.at(-1).code, 'NotUnique');
    }
    assert.equal(sim.account(acc.id).tags.leads.length, before + 2, 'a refused request creates nothing');
    // contacts have tags of their own: the same name is new there
    const contact = await api('/api/v4/contacts/tags', { json: [{ name: 'Квиз-лид' }] });
    assert.equal(contact.status, 200);
  });

  test('leads/complex with _embedded.tags [{name}]: an existing tag of that name in any case is attached; a new name is created once for every lead', async () => {
    const { acc, complex } = connect();
    const existing = nth(acc.tags.leads, 1);
    const pipeline = nth(acc.pipelines, 0);
    const lead = (n: number) => ({
      name: `lead ${n}`,
      pipeline_id: pipeline.id,
      _embedded: { tags: [{ name: existing.name.toLowerCase() }, { name: 'Из квиза' }] },
    });
    const before = sim.account(acc.id).tags.leads.length;
    const [status, out] = await complex([lead(1), lead(2)]);
    assert.equal(status, 200);
    const tags = sim.account(acc.id).tags.leads;
    assert.equal(tags.length, before + 1, 'one new tag for both leads');
    const created = tags.find((t) => t.name === 'Из квиза')!;
    for (const r of out) {
      const stored = sim.leads(acc.id).find((l) => l.id === r.id)!;
      assert.deepEqual(
        stored.tags.map((t) => t.id),
        [existing.id, created.id],
      );
    }
  });
});
