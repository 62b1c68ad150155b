// Full-text `query` (searchIndexesApiOnly, searchDelayMs) against filters that read the store at once.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type Json, UNTHROTTLED_OPTIONS, nth, simulatorSuite } from './helpers.ts';

const { sim, connect } = simulatorSuite(UNTHROTTLED_OPTIONS);

describe('search and deterministic reads', () => {
  test('searchIndexesApiOnly and searchDelayMs affect query only; filters see every write at once', async () => {
    const { acc, api, complex } = connect();
    const apiOnly = sim.addField(acc.id, 'leads', { name: 'Ключ квиза', type: 'text', is_api_only: true });
    const [, [lead]] = await complex([{ name: 'Поиск', custom_fields_values: [{ field_id: apiOnly.id, values: [{ value: 'quizkey-123' }] }] }]);
    const ids = async (path: string) => {
      const res = await api(path);
      return res.status === 204 ? [] : (await res.json())._embedded.leads.map((l: Json) => l.id);
    };
    assert.deepEqual(await ids('/api/v4/leads?query=quizkey-123'), [lead.id]);
    sim.setAccountOptions(acc.id, { searchIndexesApiOnly: false });
    assert.equal((await api('/api/v4/leads?query=quizkey-123')).status, 204);
    assert.deepEqual(await ids('/api/v4/leads?query=Поиск'), [lead.id]);
    assert.deepEqual(await ids(`/api/v4/leads?filter[id]=${lead.id}`), [lead.id]);

    sim.setAccountOptions(acc.id, { searchDelayMs: 5_000 });
    const [, [fresh]] = await complex([{ name: 'Свежая заявка' }]);
    assert.equal((await api(`/api/v4/leads?query=${encodeURIComponent('Свежая')}`)).status, 204);
    assert.deepEqual(await ids(`/api/v4/leads?filter[id]=${fresh.id}`), [fresh.id]);
    sim.advanceClock(5_001);
    assert.deepEqual(await ids(`/api/v4/leads?query=${encodeURIComponent('Свежая')}`), [fresh.id]);
  });

  test('GET leads: created_at range, id and pipeline filters, order, with=contacts, pagination, 204', async () => {
    const { acc, api, complex } = connect({ pipelines: 2 });
    const [p0, p1] = [nth(acc.pipelines, 0), nth(acc.pipelines, 1)];
    const made: Json[] = [];
    for (const [i, p] of [p0, p1, p0].entries()) {
      const [, [out]] = await complex([{ name: `L${i}`, price: 10 * i, pipeline_id: p.id, _embedded: { contacts: [{ name: `C${i}` }], tags: [{ name: 'квиз' }] } }]);
      made.push(out);
      sim.advanceClock(10_000);
    }
    const stored = sim.leads(acc.id);
    const at = stored.map((l) => l.created_at);
    assert.ok(nth(at, 0) < nth(at, 1) && nth(at, 1) < nth(at, 2));
    const get = async (q: string) => {
      const res = await api(`/api/v4/leads?${q}`);
      return res.status === 204 ? null : ((await res.json()) as Json);
    };
    const idsOf = (b: Json | null) => b?._embedded.leads.map((l: Json) => l.id);
    assert.deepEqual(idsOf(await get(`filter[created_at][from]=${at[1]}&filter[created_at][to]=${at[2]}`)), [made[1].id, made[2].id]);
    assert.deepEqual(idsOf(await get(`filter[created_at][to]=${at[0]}`)), [made[0].id]);
    assert.deepEqual(idsOf(await get(`filter[id][]=${made[2].id}&filter[id][]=${made[0].id}&order[id]=desc`)), [made[2].id, made[0].id]);
    assert.deepEqual(idsOf(await get(`filter[id]=${made[1].id}`)), [made[1].id]);
    assert.deepEqual(idsOf(await get(`filter[pipeline_id]=${p0.id}&order[created_at]=desc`)), [made[2].id, made[0].id]);
    assert.deepEqual(idsOf(await get(`filter[pipeline_id][]=${p1.id}`)), [made[1].id]);
    assert.equal(await get(`filter[created_at][from]=${nth(at, 2) + 1}`), null);
    assert.equal((await api('/api/v4/leads?order[id]=sideways')).status, 400);

    const page1 = (await get('order[created_at]=asc&limit=2&with=contacts'))!;
    assert.deepEqual(idsOf(page1), [made[0].id, made[1].id]);
    const l0 = page1._embedded.leads[0];
    assert.deepEqual(
      l0._embedded.contacts.map((c: Json) => [c.id, c.is_main]),
      [[made[0].contact_id, true]],
    );
    assert.deepEqual(
      l0._embedded.tags.map((t: Json) => t.name),
      ['квиз'],
    );
    for (const k of ['custom_fields_values', 'created_at', 'pipeline_id', 'status_id', 'responsible_user_id', 'price', 'name']) assert.ok(k in l0, k);
    assert.equal(l0.created_at, at[0]);
    const next = await fetch(page1._links.next.href, { headers: { authorization: `Bearer ${sim.issueTokens(acc.id).access_token}` } });
    assert.deepEqual(idsOf(await next.json()), [made[2].id]);

    const contacts = await (await api(`/api/v4/contacts?filter[id][]=${made[1].contact_id}&with=leads`)).json();
    assert.deepEqual(
      contacts._embedded.contacts.map((c: Json) => [c.id, c._embedded.leads.map((l: Json) => l.id)]),
      [[made[1].contact_id, [made[1].id]]],
    );
  });
});
