// The per-account differences of real amoCRM accounts (setAccountOptions): custom field rights and
// limits, Unsorted, required fields, removed entities, inactive users.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type Json, NSC, UNTHROTTLED_OPTIONS, errorsOf, newField, nth, simulatorSuite } from './helpers.ts';

const { sim, connect, control } = simulatorSuite(UNTHROTTLED_OPTIONS);

describe('custom field creation rights and limits', () => {
  test('tokenUserIsAdmin: false → 403 problem+json, not a block; reads keep working', async () => {
    const { acc, api } = connect();
    await control('setAccountOptions', acc.id, { tokenUserIsAdmin: false });
    for (const entity of ['leads', 'contacts', 'companies', 'customers']) {
      const res = await api(`/api/v4/${entity}/custom_fields`, { json: newField('Ответ квиза') });
      assert.equal(res.status, 403);
      assert.match(res.headers.get('content-type') ?? '', /application\/problem\+json/);
      const body = await res.json();
      assert.equal(body.title, 'Forbidden');
      assert.equal(body.status, 403);
      assert.match(body.detail, /administrator rights are required/);
      assert.equal(body.type, 'https://httpstatus.es/403');
    }
    assert.equal(sim.isBlocked(acc.id), false);
    for (const path of ['/api/v4/account', '/api/v4/users', '/api/v4/leads/custom_fields', '/api/v4/leads/pipelines']) assert.equal((await api(path)).status, 200, path);
    assert.equal(sim.account(acc.id).fields.leads.length, acc.fields.leads.length);
    sim.setAccountOptions(acc.id, { tokenUserIsAdmin: true });
    assert.equal((await api('/api/v4/leads/custom_fields', { json: newField('Теперь можно') })).status, 200);
  });

  test('customFieldLimit → FieldsLimitExceeded, nothing created', async () => {
    const { acc, api } = connect();
    const n = acc.fields.contacts.length;
    sim.setAccountOptions(acc.id, { customFieldLimit: n });
    const res = await api('/api/v4/contacts/custom_fields', { json: newField('Лишнее') });
    assert.equal(res.status, 400);
    assert.match(res.headers.get('content-type') ?? '', /application\/problem\+json/);
    const body = await res.json();
    assert.equal(body.title, 'Bad Request');
    assert.deepEqual(
      body['validation-errors'].map((g: Json) => [g.request_id, g.errors[0].code, g.errors[0].path]),
      [['0', 'FieldsLimitExceeded', '']],
    );
    sim.setAccountOptions(acc.id, { customFieldLimit: n + 1 });
    // two new fields where one fits: the whole request fails
    const two = await api('/api/v4/contacts/custom_fields', { json: [...newField('Первое'), ...newField('Второе')] });
    assert.equal(two.status, 400);
    assert.deepEqual(
      errorsOf(await two.json()).map((e: string[]) => e[0]),
      ['FieldsLimitExceeded'],
    );
    assert.equal(sim.account(acc.id).fields.contacts.length, n);
    assert.equal((await api('/api/v4/contacts/custom_fields', { json: newField('Одно') })).status, 200);
    assert.equal(sim.account(acc.id).fields.contacts.length, n + 1);
    // each entity is counted on its own: customers have fewer fields than the limit
    assert.ok(acc.fields.customers.length < n);
    assert.equal((await api('/api/v4/customers/custom_fields', { json: newField('Покупателю можно') })).status, 200);
  });

  test('customFieldsCreateStatus: 404 → 404 problem+json, nothing created; GET unaffected', async () => {
    const { acc, api } = connect();
    sim.setAccountOptions(acc.id, { customFieldsCreateStatus: 404 });
    const res = await api('/api/v4/leads/custom_fields', { json: newField('x') });
    assert.equal(res.status, 404);
    assert.match(res.headers.get('content-type') ?? '', /application\/problem\+json/);
    const body = await res.json();
    assert.equal(body.title, 'Not Found');
    assert.equal(body.status, 404);
    assert.equal(sim.account(acc.id).fields.leads.length, acc.fields.leads.length);
    assert.equal((await api('/api/v4/leads/custom_fields')).status, 200);
  });
});

describe('lead validation per account', () => {
  test('unsortedEnabled: false → is_unsorted_on false; a lead with metadata is rejected, nothing stored', async () => {
    const { acc, api, complex } = connect({ pipelines: 2 });
    sim.setAccountOptions(acc.id, { unsortedEnabled: false });
    const pipelines = (await (await api('/api/v4/leads/pipelines')).json())._embedded.pipelines;
    assert.equal(pipelines.length, 2);
    assert.ok(pipelines.every((p: Json) => p.is_unsorted_on === false));
    assert.equal((await (await api('/api/v4/account')).json()).is_unsorted_on, false);
    const [status, body] = await complex([{ name: 'ok' }, { name: 'квиз', request_id: 'q-7', _embedded: { metadata: { category: 'forms', form_id: 'f' } } }]);
    assert.equal(status, 400);
    assert.deepEqual(body['validation-errors'], [
      { request_id: 'q-7', errors: [{ code: 'NotSupportedChoice', path: '_embedded.metadata', detail: 'Unsorted is disabled for this account' }] },
    ]);
    assert.equal(sim.leads(acc.id).length, 0);
    assert.equal((await complex([{ name: 'без метаданных' }]))[0], 200);
    sim.setAccountOptions(acc.id, { unsortedEnabled: true });
    assert.equal((await (await api('/api/v4/leads/pipelines')).json())._embedded.pipelines[0].is_unsorted_on, true);
  });

  test('required_statuses: a lead entering that step needs the field; unsorted leads are exempt', async () => {
    const { acc, api, complex } = connect();
    const p = nth(acc.pipelines, 0);
    const step = nth(p.statuses, 2);
    const f = sim.addField(acc.id, 'leads', { name: 'Бюджет квиза', type: 'text', required_statuses: [{ status_id: step.id, pipeline_id: p.id }] });
    const rendered = (await (await api(`/api/v4/leads/custom_fields/${f.id}`)).json()).required_statuses;
    assert.deepEqual(rendered, [{ status_id: step.id, pipeline_id: p.id }]);
    const [status, body] = await complex([{ name: 'нет бюджета', pipeline_id: p.id, status_id: step.id }]);
    assert.equal(status, 400);
    assert.deepEqual(body['validation-errors'], [
      { request_id: '0', errors: [{ code: 'FieldMissing', path: 'custom_fields_values', detail: `Field "Бюджет квиза" (#${f.id}) is required in status "${step.name}"` }] },
    ]);
    assert.equal(sim.leads(acc.id).length, 0);
    assert.equal((await complex([{ pipeline_id: p.id, status_id: step.id, custom_fields_values: [{ field_id: f.id, values: [{ value: '100' }] }] }]))[0], 200);
    assert.equal((await complex([{ pipeline_id: p.id, status_id: nth(p.statuses, 1).id }]))[0], 200);
    assert.equal((await complex([{ pipeline_id: p.id, status_id: step.id, _embedded: { metadata: { category: 'forms' } } }]))[0], 200);
    // updateField moves the requirement to another step
    sim.updateField(acc.id, 'leads', f.id, { required_statuses: [{ status_id: nth(p.statuses, 1).id, pipeline_id: p.id }] });
    assert.equal((await complex([{ pipeline_id: p.id, status_id: step.id }]))[0], 200);
    assert.equal((await complex([{ pipeline_id: p.id, status_id: nth(p.statuses, 1).id }]))[0], 400);
    // and POST custom_fields takes required_statuses too
    const created = await (
      await api('/api/v4/leads/custom_fields', { json: [{ name: 'Город', type: 'text', required_statuses: [{ status_id: 142, pipeline_id: p.id }] }] })
    ).json();
    assert.deepEqual(created._embedded.custom_fields[0].required_statuses, [{ status_id: 142, pipeline_id: p.id }]);
    assert.equal(sim.leads(acc.id).length, 4);
  });

  test('entities removed after a sync → NotSupportedChoice with a precise path; a tag by name is created', async () => {
    const { acc, api, complex } = connect({ pipelines: 2 });
    const leadField = acc.fields.leads.find((f) => f.type === 'text')!;
    const contactField = acc.fields.contacts.find((f) => f.type === 'text' && !f.code)!;
    const companyField = acc.fields.companies.find((f) => f.type === 'text' && !f.code)!;
    const [p0, p1] = [nth(acc.pipelines, 0), nth(acc.pipelines, 1)];
    const goneStatus = nth(p0.statuses, 3);
    for (const [e, id] of [
      ['leads', leadField.id],
      ['contacts', contactField.id],
      ['companies', companyField.id],
    ] as const)
      sim.removeField(acc.id, e, id);
    sim.removeTag(acc.id, 'leads', nth(acc.tags.leads, 0).id);
    sim.removeUser(acc.id, nth(acc.users, 2).id);
    sim.removePipeline(acc.id, p1.id);
    sim.removeStatus(acc.id, p0.id, goneStatus.id);
    const v = (id: number) => [{ field_id: id, values: [{ value: 'x' }] }];
    const cases: Array<[Json, string]> = [
      [{ custom_fields_values: [{ field_code: 'UTM_SOURCE', values: [{ value: 'ya' }] }, ...v(leadField.id)] }, 'custom_fields_values.1.field_id'],
      [{ _embedded: { contacts: [{ name: 'К', custom_fields_values: v(contactField.id) }] } }, '_embedded.contacts.0.custom_fields_values.0.field_id'],
      [{ _embedded: { companies: [{ name: 'О', custom_fields_values: v(companyField.id) }] } }, '_embedded.companies.0.custom_fields_values.0.field_id'],
      [{ _embedded: { tags: [{ name: 'ok' }, { id: nth(acc.tags.leads, 0).id }] } }, '_embedded.tags.1.id'],
      [{ responsible_user_id: nth(acc.users, 2).id }, 'responsible_user_id'],
      [{ pipeline_id: p1.id }, 'pipeline_id'],
      [{ pipeline_id: p0.id, status_id: goneStatus.id }, 'status_id'],
      [{ pipeline_id: p0.id, status_id: nth(p1.statuses, 1).id }, 'status_id'],
    ];
    for (const [lead, path] of cases) {
      const [status, body] = await complex([{ name: 'x', ...lead }]);
      assert.equal(status, 400, path);
      assert.deepEqual(errorsOf(body), [['NotSupportedChoice', path, NSC]], path);
    }
    assert.equal(sim.leads(acc.id).length, 0);
    const [status, [out]] = await complex([{ name: 'с новым тегом', _embedded: { tags: [{ name: 'квиз-2024' }] } }]);
    assert.equal(status, 200);
    const tag = sim.account(acc.id).tags.leads.find((t) => t.name === 'квиз-2024')!;
    assert.ok(tag.id > 0);
    assert.deepEqual(
      sim
        .leads(acc.id)
        .find((l) => l.id === out.id)!
        .tags.map((t) => t.id),
      [tag.id],
    );
    assert.equal((await (await api('/api/v4/leads/tags?query=квиз-2024')).json())._embedded.tags[0].id, tag.id);
  });

  test('inactive responsible user → "User is inactive" for lead, contact and company; switchable', async () => {
    const { acc, api, complex } = connect();
    const u = nth(acc.users, 1);
    sim.updateUser(acc.id, u.id, { rights: { is_active: false } });
    const users = (await (await api('/api/v4/users')).json())._embedded.users;
    assert.equal(users.find((x: Json) => x.id === u.id).rights.is_active, false);
    const inactive = (path: string) => [['NotSupportedChoice', path, 'User is inactive']];
    let [status, body] = await complex([{ name: 'l', responsible_user_id: u.id }]);
    assert.equal(status, 400);
    assert.deepEqual(errorsOf(body), inactive('responsible_user_id'));
    [status, body] = await complex([{ name: 'l', _embedded: { contacts: [{ name: 'c', responsible_user_id: u.id }], companies: [{ name: 'co', responsible_user_id: u.id }] } }]);
    assert.equal(status, 400);
    assert.deepEqual(errorsOf(body), [...inactive('_embedded.contacts.0.responsible_user_id'), ...inactive('_embedded.companies.0.responsible_user_id')]);
    assert.equal(sim.leads(acc.id).length + sim.contacts(acc.id).length + sim.companies(acc.id).length, 0);
    sim.setAccountOptions(acc.id, { rejectInactiveResponsible: false });
    assert.equal((await complex([{ name: 'l', responsible_user_id: u.id }]))[0], 200);
    assert.equal(nth(sim.leads(acc.id), 0).responsible_user_id, u.id);
  });
});
