// The per-account differences of real amoCRM accounts the simulator models (setAccountOptions),
// the faults that act after processing, deterministic lead reads, search, duplicates and customers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createAmoSimulator, type AmoSimulator, type SeedAccountOptions } from '../src/index.ts';
import { connectApi, nth } from './helpers.ts';

let sim: AmoSimulator;
let base: string;

before(async () => {
  sim = createAmoSimulator({ clientId: 'var-client', clientSecret: 'var-secret', redirectUri: 'http://127.0.0.1:1/cb', rateLimitRps: 1000 });
  base = await sim.start();
});
after(() => sim.stop());

// answers are checked field by field, so a loose type keeps the assertions short
type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

function connect(opts: SeedAccountOptions = {}) {
  const { acc, api } = connectApi(sim, base, opts);
  /** POST leads/complex; resolves to [status, body]. */
  const complex = async (leads: unknown[]): Promise<[number, Json]> => {
    const res = await api('/api/v4/leads/complex', { json: leads });
    return [res.status, await res.json()];
  };
  return { acc, api, complex };
}

const control = async (method: string, ...args: unknown[]) => {
  const res = await fetch(`${base}/_sim/${method}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(args) });
  assert.ok(res.status === 200 || res.status === 204, `${method} → ${res.status}`);
  return res.status === 204 ? undefined : res.json();
};

/** [code, path, detail] of every validation error of a 400 answer. */
const errorsOf = (body: Json) => body['validation-errors'].flatMap((g: Json) => g.errors.map((e: Json) => [e.code, e.path, e.detail]));
const NSC = 'The value you selected is not a valid choice.';
const newField = (name: string) => [{ name, type: 'text' }];

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
    assert.deepEqual(errorsOf(body), [...inactive('_embedded.contacts.0.responsible_user_id'), ...inactive('_embedded.companies.0.responsible_user_id')]);
    assert.equal(sim.leads(acc.id).length + sim.contacts(acc.id).length + sim.companies(acc.id).length, 0);
    sim.setAccountOptions(acc.id, { rejectInactiveResponsible: false });
    assert.equal((await complex([{ name: 'l', responsible_user_id: u.id }]))[0], 200);
    assert.equal(nth(sim.leads(acc.id), 0).responsible_user_id, u.id);
  });
});

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

describe('faults that act after processing', () => {
  test('slowAfter: stored, answer late (a client that gave up still left a lead)', async () => {
    const { acc, api } = connect();
    sim.injectFault(acc.id, { kind: 'slowAfter', delayMs: 400, path: 'leads/complex' });
    await assert.rejects(api('/api/v4/leads/complex', { json: [{ name: 'опоздала' }], signal: AbortSignal.timeout(100) }));
    assert.equal(sim.leads(acc.id).length, 1);
    sim.injectFault(acc.id, { kind: 'slowAfter', delayMs: 200 });
    const t0 = Date.now();
    const res = await api('/api/v4/leads/complex', { json: [{ name: 'дождалась' }] });
    assert.equal(res.status, 200);
    assert.ok(Date.now() - t0 >= 190);
    assert.equal((await res.json())[0].id, nth(sim.leads(acc.id), 1).id);
  });

  test('resetAfter and 5xx after: stored, then no answer / a gateway page; plain 5xx stores nothing', async () => {
    const { acc, api } = connect();
    sim.injectFault(acc.id, { kind: 'resetAfter', path: 'leads/complex' });
    await assert.rejects(api('/api/v4/leads/complex', { json: [{ name: 'сброс' }] }));
    assert.equal(sim.leads(acc.id).length, 1);
    sim.injectFault(acc.id, { kind: '5xx', status: 504, after: true });
    const res = await api('/api/v4/leads/complex', { json: [{ name: 'таймаут шлюза' }] });
    assert.equal(res.status, 504);
    assert.match(res.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await res.text(), /504 Gateway Time-out/);
    assert.equal(sim.leads(acc.id).length, 2);
    sim.injectFault(acc.id, { kind: '5xx', status: 502 });
    assert.equal((await api('/api/v4/leads/complex', { json: [{ name: 'не дошла' }] })).status, 502);
    assert.equal(sim.leads(acc.id).length, 2);
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(
      sim.requestLog(acc.id).map((e) => [e.status, e.via]),
      [
        [0, 'fault'],
        [504, 'fault'],
        [502, 'fault'],
      ],
    );
  });

  test('blockAfter429s per account: repeated 429s → 403 HTML block, other accounts untouched', async () => {
    const a = connect();
    const b = connect();
    sim.setAccountOptions(a.acc.id, { blockAfter429s: 2 });
    for (const x of [a, b]) sim.injectFault(x.acc.id, { kind: '429', count: 2 });
    for (const x of [a, b]) for (let i = 0; i < 2; i++) assert.equal((await x.api('/api/v4/account')).status, 429);
    const blocked = await a.api('/api/v4/account');
    assert.equal(blocked.status, 403);
    assert.match(blocked.headers.get('content-type') ?? '', /text\/html/);
    assert.equal(sim.isBlocked(a.acc.id), true);
    assert.equal((await b.api('/api/v4/account')).status, 200);
    assert.equal(sim.isBlocked(b.acc.id), false);
  });
});

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

describe('control API over HTTP', () => {
  test('setAccountOptions, updateField and customers over /_sim', async () => {
    const { acc, api } = connect();
    const updated = await control('setAccountOptions', acc.id, { tokenUserIsAdmin: false, searchDelayMs: 10, blockAfter429s: 3, customFieldLimit: 99 });
    assert.deepEqual([updated.tokenUserIsAdmin, updated.searchDelayMs, updated.blockAfter429s, updated.customFieldLimit, updated.unsortedEnabled], [false, 10, 3, 99, true]);
    assert.equal((await api('/api/v4/leads/custom_fields', { json: newField('x') })).status, 403);
    const f = acc.fields.leads.find((x) => x.type === 'text')!;
    const p = nth(acc.pipelines, 0);
    const field = await control('updateField', acc.id, 'leads', f.id, { required_statuses: [{ status_id: nth(p.statuses, 1).id, pipeline_id: p.id }] });
    assert.deepEqual(field.required_statuses, [{ status_id: nth(p.statuses, 1).id, pipeline_id: p.id }]);
    await api('/api/v4/customers', { json: [{ name: 'через HTTP' }] });
    assert.deepEqual(
      (await control('customers', acc.id)).map((c: Json) => c.name),
      ['через HTTP'],
    );
    const seeded = await control('seedAccount', { options: { unsortedEnabled: false } });
    assert.equal(seeded.unsortedEnabled, false);
  });
});
