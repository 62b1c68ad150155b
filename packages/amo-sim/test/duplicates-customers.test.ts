// Existing contacts and companies by id, contact and company search, and customers.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type Json, NSC, UNTHROTTLED_OPTIONS, errorsOf, nth, simulatorSuite } from './helpers.ts';

const { sim, connect } = simulatorSuite(UNTHROTTLED_OPTIONS);

describe('duplicates and customers', () => {
  test('existing contact/company by id is attached, not duplicated; unknown id → NotSupportedChoice', async () => {
    const { acc, complex } = connect();
    const [, [first]] = await complex([{ name: 'a', _embedded: { contacts: [{ name: 'Ирина' }], companies: [{ name: 'ООО Кухни' }] } }]);
    const [status, [second]] = await complex([{ name: 'b', _embedded: { contacts: [{ id: first.contact_id }], companies: [{ id: first.company_id }] } }]);
    assert.equal(status, 200);
    assert.equal(second.contact_id, first.contact_id);
    assert.equal(second.company_id, first.company_id);
    assert.equal(sim.contacts(acc.id).length, 1);
    assert.equal(sim.companies(acc.id).length, 1);
    assert.equal(nth(sim.leads(acc.id), 1).contact!.id, first.contact_id);
    const [bad, body] = await complex([{ name: 'c', _embedded: { contacts: [{ id: 1 }], companies: [{ id: 2 }] } }]);
    assert.equal(bad, 400);
    assert.deepEqual(errorsOf(body), [
      ['NotSupportedChoice', '_embedded.contacts.0.id', NSC],
      ['NotSupportedChoice', '_embedded.companies.0.id', NSC],
    ]);
  });

  test('contacts?query= by phone (last 10 digits) and email (any case); companies by name; delayed by searchDelayMs', async () => {
    const { acc, api, complex } = connect();
    const contact = {
      name: 'Олег',
      custom_fields_values: [
        { field_code: 'PHONE', values: [{ value: '8 (999) 123-45-67', enum_code: 'MOB' }] },
        { field_code: 'EMAIL', values: [{ value: 'Oleg@Example.RU', enum_code: 'WORK' }] },
      ],
    };
    const [, [out]] = await complex([{ name: 'x', _embedded: { contacts: [contact], companies: [{ name: 'ООО «Кухни Плюс»' }] } }]);
    await complex([{ name: 'y', _embedded: { contacts: [{ name: 'Другой', custom_fields_values: [{ field_code: 'PHONE', values: [{ value: '+7 999 000-00-00' }] }] }] } }]);
    const find = async (path: string) => {
      const res = await api(path);
      return res.status === 204 ? [] : (Object.values((await res.json())._embedded)[0] as Json[]).map((c: Json) => c.id);
    };
    for (const q of ['+79991234567', '9991234567', '+7 (999) 123-45-67', 'oleg@example.ru', 'OLEG@EXAMPLE.RU']) {
      assert.deepEqual(await find(`/api/v4/contacts?query=${encodeURIComponent(q)}`), [out.contact_id], q);
    }
    assert.deepEqual(await find(`/api/v4/contacts?query=${encodeURIComponent('+7 999 111-11-11')}`), []);
    assert.deepEqual(await find(`/api/v4/companies?query=${encodeURIComponent('кухни плюс')}`), [out.company_id]);
    assert.deepEqual(await find('/api/v4/companies?query=nothing'), []);
    sim.setAccountOptions(acc.id, { searchDelayMs: 60_000 });
    const [, [late]] = await complex([
      {
        name: 'z',
        _embedded: { contacts: [{ name: 'Поздний', custom_fields_values: [{ field_code: 'EMAIL', values: [{ value: 'late@x.ru' }] }] }], companies: [{ name: 'Поздняя фирма' }] },
      },
    ]);
    assert.deepEqual(await find('/api/v4/contacts?query=late%40x.ru'), []);
    assert.deepEqual(await find(`/api/v4/companies?query=${encodeURIComponent('Поздняя')}`), []);
    assert.deepEqual(await find(`/api/v4/contacts?filter[id]=${late.contact_id}`), [late.contact_id]);
    assert.deepEqual(await find(`/api/v4/companies?filter[id]=${late.company_id}`), [late.company_id]);
  });

  test('customers: create with validation, list/get with contacts, link (idempotent); 402 when off', async () => {
    const { acc, api, complex } = connect();
    const text = acc.fields.customers.find((f) => f.type === 'text')!;
    const [, [lead]] = await complex([{ name: 'для покупателя', _embedded: { contacts: [{ name: 'Покупатель' }] } }]);
    const customer = {
      name: 'Постоянный клиент',
      next_price: 5000,
      next_date: 1_800_000_000,
      custom_fields_values: [{ field_id: text.id, values: [{ value: 'VIP' }] }],
      _embedded: { tags: [{ name: 'опт' }] },
      request_id: 'cu-1',
    };
    const res = await api('/api/v4/customers', { json: [customer] });
    assert.equal(res.status, 200);
    const created = (await res.json())._embedded.customers;
    assert.deepEqual(
      created.map((c: Json) => c.request_id),
      ['cu-1'],
    );
    const id = created[0].id;

    const bad = await api('/api/v4/customers', { json: [{ name: 'ok' }, { name: 'bad', custom_fields_values: [{ field_id: 42, values: [{ value: 'x' }] }] }] });
    assert.equal(bad.status, 400);
    const badBody = await bad.json();
    assert.equal(badBody['validation-errors'][0].request_id, '1');
    assert.deepEqual(errorsOf(badBody), [['NotSupportedChoice', 'custom_fields_values.0.field_id', NSC]]);
    assert.equal((await api('/api/v4/customers', { json: Array.from({ length: 51 }, () => ({ name: 'x' })) })).status, 400);
    assert.equal(sim.customers(acc.id).length, 1);

    const linkOne = [{ to_entity_id: lead.contact_id, to_entity_type: 'contacts' }];
    for (let i = 0; i < 2; i++) {
      const linked = await api(`/api/v4/customers/${id}/link`, { json: linkOne });
      assert.equal(linked.status, 200);
      assert.deepEqual(
        (await linked.json())._embedded.links.map((l: Json) => [l.entity_id, l.to_entity_id, l.to_entity_type]),
        [[id, lead.contact_id, 'contacts']],
      );
    }
    assert.equal((await api('/api/v4/customers/link', { json: [{ entity_id: id, to_entity_id: lead.id, to_entity_type: 'leads' }] })).status, 200);
    const badLink = await api('/api/v4/customers/link', { json: [{ entity_id: id, to_entity_id: 1, to_entity_type: 'contacts' }] });
    assert.deepEqual(errorsOf(await badLink.json()), [['NotSupportedChoice', '0.to_entity_id', NSC]]);
    const stored = nth(sim.customers(acc.id), 0);
    assert.deepEqual([stored.contact_ids, stored.lead_ids], [[lead.contact_id], [lead.id]]);
    assert.deepEqual(stored.raw, customer);

    const one = await (await api(`/api/v4/customers/${id}?with=contacts`)).json();
    assert.deepEqual(
      one._embedded.contacts.map((c: Json) => c.id),
      [lead.contact_id],
    );
    assert.equal(one.custom_fields_values[0].values[0].value, 'VIP');
    assert.deepEqual(
      one._embedded.tags.map((t: Json) => t.name),
      ['опт'],
    );
    const list = await (await api(`/api/v4/customers?filter[id]=${id}&with=contacts`)).json();
    assert.deepEqual(
      list._embedded.customers.map((c: Json) => [c.id, c._embedded.contacts.length]),
      [[id, 1]],
    );
    assert.equal((await (await api(`/api/v4/customers?query=${encodeURIComponent('Постоянный')}`)).json())._embedded.customers[0].id, id);
    assert.equal((await api('/api/v4/customers?query=nobody')).status, 204);
    assert.equal((await api('/api/v4/customers/1')).status, 204);

    sim.setAccountOptions(acc.id, { customersEnabled: false });
    const off = await api('/api/v4/customers', { json: [{ name: 'x' }] });
    assert.equal(off.status, 402);
    assert.match(off.headers.get('content-type') ?? '', /application\/problem\+json/);
    assert.equal((await off.json()).status, 402);
  });
});
