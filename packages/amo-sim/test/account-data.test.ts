// Generated account data, pagination and mutations through the control API.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FIELD_TYPES } from '../src/index.ts';
import { SIM_OPTIONS, nth, simulatorSuite } from './helpers.ts';

const { sim, connect } = simulatorSuite(SIM_OPTIONS);

describe('account data and pagination', () => {
  test('generated data is realistic', async () => {
    const { acc, api } = connect({ pipelines: 2, statusesPerPipeline: 3, users: 4 });
    const pipes = await (await api('/api/v4/leads/pipelines')).json();
    assert.equal(pipes._embedded.pipelines.length, 2);
    for (const p of pipes._embedded.pipelines) {
      const statuses = p._embedded.statuses;
      assert.equal(statuses[0].type, 1);
      assert.ok(statuses.some((s: { id: number }) => s.id === 142));
      assert.ok(statuses.some((s: { id: number; name: string }) => s.id === 143 && s.name === 'Закрыто и не реализовано'));
      assert.equal(statuses.length, 6);
    }
    const st = await (await api(`/api/v4/leads/pipelines/${nth(acc.pipelines, 1).id}/statuses`)).json();
    assert.equal(st._embedded.statuses.length, 6);

    const users = await (await api('/api/v4/users')).json();
    assert.equal(users._embedded.users.length, 4);
    assert.equal(typeof users._embedded.users[0].rights.is_admin, 'boolean');
    assert.ok('group_id' in users._embedded.users[0].rights && 'role_id' in users._embedded.users[0].rights);

    const fields = (await (await api('/api/v4/leads/custom_fields?limit=250')).json())._embedded.custom_fields;
    for (const t of FIELD_TYPES)
      assert.ok(
        fields.some((f: { type: string }) => f.type === t),
        `leads have a ${t} field`,
      );
    for (const code of ['UTM_SOURCE', 'UTM_MEDIUM', 'UTM_CAMPAIGN', 'UTM_TERM', 'UTM_CONTENT', 'UTM_REFERRER']) {
      assert.equal(fields.find((f: { code: string }) => f.code === code)?.type, 'tracking_data');
    }
    const select = fields.find((f: { type: string }) => f.type === 'select');
    assert.ok(select.enums.length >= 3);
    const contactFields = (await (await api('/api/v4/contacts/custom_fields?limit=250')).json())._embedded.custom_fields;
    const phone = contactFields.find((f: { code: string }) => f.code === 'PHONE');
    assert.equal(phone.type, 'multitext');
    assert.ok(phone.enums.some((e: { value: string }) => e.value === 'MOB'));
    assert.ok(contactFields.some((f: { code: string }) => f.code === 'EMAIL'));

    // the gateway creates its own api-only field
    const created = await api('/api/v4/leads/custom_fields', { json: [{ name: 'quiz result', type: 'textarea', is_api_only: true, code: 'QUIZ_RESULT' }] });
    assert.equal(created.status, 200);
    assert.equal((await created.json())._embedded.custom_fields[0].is_api_only, true);

    // mutations are visible at once
    sim.updateStatus(acc.id, nth(acc.pipelines, 0).id, nth(nth(acc.pipelines, 0).statuses, 1).id, { name: 'Переименован' });
    sim.removePipeline(acc.id, nth(acc.pipelines, 1).id);
    const after = (await (await api('/api/v4/leads/pipelines')).json())._embedded.pipelines;
    assert.equal(after.length, 1);
    assert.equal(after[0]._embedded.statuses[1].name, 'Переименован');
  });

  test('pages follow _links.next; past the end and empty → 204; limit > 250 → 400', async () => {
    const { acc, api } = connect({ tagsPerEntity: { leads: 7, contacts: 0 } });
    const seen: string[] = [];
    let next: string | undefined = `/api/v4/leads/tags?limit=3`;
    let pages = 0;
    while (next) {
      const res: Response = await api(next.replace(sim.url, ''));
      assert.equal(res.status, 200);
      const body = await res.json();
      pages++;
      assert.equal(body._page, pages);
      assert.ok(body._links.self.href.startsWith(sim.url + '/api/v4/leads/tags'));
      if (pages > 1) assert.ok(body._links.prev.href);
      seen.push(...body._embedded.tags.map((t: { name: string }) => t.name));
      next = body._links.next?.href;
    }
    assert.equal(pages, 3);
    assert.deepEqual(
      seen,
      acc.tags.leads.map((t) => t.name),
    );
    const past = await api('/api/v4/leads/tags?limit=3&page=4');
    assert.equal(past.status, 204);
    assert.equal(await past.text(), '');
    assert.equal((await api('/api/v4/contacts/tags')).status, 204);
    const tooBig = await api('/api/v4/leads/tags?limit=251');
    assert.equal(tooBig.status, 400);
    assert.ok((await tooBig.json())['validation-errors']);
  });

  test('customers off → 402', async () => {
    const { api } = connect({ customersEnabled: false });
    assert.equal((await api('/api/v4/customers/custom_fields')).status, 402);
    assert.equal((await api('/api/v4/customers/tags')).status, 402);
  });
});
