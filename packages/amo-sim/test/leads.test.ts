// leads/complex, lead notes, metadata and duplicate control.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SIM_OPTIONS, nth, simulatorSuite } from './helpers.ts';

const { sim, connect } = simulatorSuite(SIM_OPTIONS);

describe('leads', () => {
  test('leads/complex stores exactly what was sent; invalid enum → validation-errors, nothing stored', async () => {
    const { acc, api } = connect();
    const select = acc.fields.leads.find((f) => f.type === 'select')!;
    const utm = acc.fields.leads.find((f) => f.code === 'UTM_SOURCE')!;
    const numeric = acc.fields.leads.find((f) => f.type === 'numeric')!;
    const phone = acc.fields.contacts.find((f) => f.code === 'PHONE')!;
    const pipeline = nth(acc.pipelines, 1);
    const lead = {
      name: 'Квиз: кухня',
      price: 150000,
      pipeline_id: pipeline.id,
      status_id: nth(pipeline.statuses, 2).id,
      responsible_user_id: nth(acc.users, 0).id,
      custom_fields_values: [
        { field_id: select.id, values: [{ enum_id: nth(select.enums ?? [], 1).id }] },
        { field_id: utm.id, values: [{ value: 'yandex' }] },
        { field_id: numeric.id, values: [{ value: '12.5' }] },
      ],
      _embedded: {
        tags: [{ id: nth(acc.tags.leads, 0).id }, { name: 'новый тег' }],
        contacts: [{ first_name: 'Иван', custom_fields_values: [{ field_code: 'PHONE', values: [{ value: '+7 900 123-45-67', enum_code: 'WORK' }] }] }],
        companies: [{ name: 'ООО Кухни' }],
      },
      request_id: 'res-1',
    };
    const res = await api('/api/v4/leads/complex', { json: [lead] });
    assert.equal(res.status, 200);
    const [out] = await res.json();
    assert.equal(out.merged, false);
    assert.deepEqual(out.request_id, ['res-1']);
    const stored = sim.leads(acc.id).find((l) => l.id === out.id)!;
    assert.deepEqual(stored.raw, lead);
    assert.deepEqual(stored.custom_fields_values, lead.custom_fields_values);
    assert.equal(stored.status_id, nth(pipeline.statuses, 2).id);
    assert.equal(stored.contact!.id, out.contact_id);
    assert.deepEqual(stored.contact!.custom_fields_values, nth(lead._embedded.contacts, 0).custom_fields_values);
    assert.equal(stored.company!.name, 'ООО Кухни');
    assert.deepEqual(
      stored.tags.map((t) => t.name),
      [nth(acc.tags.leads, 0).name, 'новый тег'],
    );
    assert.ok(phone);

    const got = await (await api(`/api/v4/leads/${out.id}?with=contacts`)).json();
    assert.equal(got._embedded.contacts[0].id, out.contact_id);
    assert.equal(got.custom_fields_values.find((v: { field_id: number }) => v.field_id === select.id).values[0].value, nth(select.enums ?? [], 1).value);

    const bad = await api('/api/v4/leads/complex', {
      json: [
        { name: 'ok' },
        {
          name: 'bad',
          custom_fields_values: [
            { field_id: select.id, values: [{ enum_id: 1 }] },
            { field_id: numeric.id, values: [{ value: 'abc' }] },
          ],
        },
      ],
    });
    assert.equal(bad.status, 400);
    const err = await bad.json();
    assert.equal(err['validation-errors'].length, 1);
    assert.equal(err['validation-errors'][0].request_id, '1');
    assert.deepEqual(
      err['validation-errors'][0].errors.map((e: { code: string; path: string }) => [e.code, e.path]),
      [
        ['NotSupportedChoice', 'custom_fields_values.0.values.0.enum_id'],
        ['InvalidType', 'custom_fields_values.1.values.0.value'],
      ],
    );
    assert.equal(sim.leads(acc.id).length, 1);
    const tooMany = await api('/api/v4/leads/complex', { json: Array.from({ length: 51 }, () => ({ name: 'x' })) });
    assert.equal(tooMany.status, 400);
  });

  test('metadata → unsorted status; duplicate control merges by phone; query search; notes', async () => {
    const { acc, api } = connect({ duplicateControl: true });
    const pipeline = nth(acc.pipelines, 0);
    const metadata = { category: 'forms', form_id: 'quiz-1', form_name: 'Квиз', form_page: 'https://site.ru', form_sent_at: 1700000000, ip: '1.2.3.4', referer: 'https://ya.ru' };
    const contact = (email: string) => ({
      name: 'Пётр',
      custom_fields_values: [
        { field_code: 'PHONE', values: [{ value: '+79001112233', enum_code: 'MOB' }] },
        { field_code: 'EMAIL', values: [{ value: email, enum_code: 'WORK' }] },
      ],
    });
    const [a] = await (
      await api('/api/v4/leads/complex', {
        json: [{ name: 'Заявка первая', pipeline_id: pipeline.id, status_id: nth(pipeline.statuses, 2).id, _embedded: { metadata, contacts: [contact('p@x.ru')] } }],
      })
    ).json();
    const [b] = await (await api('/api/v4/leads/complex', { json: [{ name: 'Заявка вторая', _embedded: { metadata, contacts: [contact('other@x.ru')] } }] })).json();
    const leads = sim.leads(acc.id);
    assert.equal(nth(leads, 0).status_id, nth(pipeline.statuses, 0).id);
    assert.equal(nth(pipeline.statuses, 0).type, 1);
    assert.deepEqual(nth(leads, 0).metadata, metadata);
    assert.equal(b.merged, true);
    assert.equal(b.contact_id, a.contact_id);
    assert.equal(sim.contacts(acc.id).length, 1);

    const found = await (await api(`/api/v4/leads?query=${encodeURIComponent('вторая')}`)).json();
    assert.deepEqual(
      found._embedded.leads.map((l: { id: number }) => l.id),
      [b.id],
    );
    assert.equal((await api('/api/v4/leads?query=nothing-like-this')).status, 204);

    const note = await api(`/api/v4/leads/${a.id}/notes`, { json: [{ note_type: 'common', params: { text: 'Ответы квиза' } }] });
    assert.equal(note.status, 200);
    const notes = await (await api(`/api/v4/leads/${a.id}/notes`)).json();
    assert.equal(notes._embedded.notes[0].params.text, 'Ответы квиза');
    assert.equal(nth(nth(sim.leads(acc.id), 0).notes, 0).params.text, 'Ответы квиза');
  });

  test('leads/notes adds notes to several leads at once; one bad entity_id rejects the whole request', async () => {
    const { acc, api } = connect();
    const made = await (
      await api('/api/v4/leads/complex', {
        json: [
          { name: 'a', request_id: 'a' },
          { name: 'b', request_id: 'b' },
          { name: 'c', request_id: 'c' },
        ],
      })
    ).json();
    const [a, b, c] = made.map((x: { id: number }) => x.id);
    const other = connect();
    const [foreign] = await (await other.api('/api/v4/leads/complex', { json: [{ name: 'чужая' }] })).json();

    const res = await api('/api/v4/leads/notes', {
      json: [
        { entity_id: a, note_type: 'common', params: { text: 'для a' }, request_id: 'n-a' },
        { entity_id: b, note_type: 'common', params: { text: 'для b' }, request_id: 'n-b' },
      ],
    });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.deepEqual(
      body._embedded.notes.map((n: { entity_id: number; request_id: string }) => [n.entity_id, n.request_id]),
      [
        [a, 'n-a'],
        [b, 'n-b'],
      ],
    );
    assert.ok(body._embedded.notes.every((n: { id: unknown }) => Number.isInteger(n.id)));
    const byLead = () => new Map(sim.leads(acc.id).map((l) => [l.id, l.notes.map((n) => n.params.text)]));
    assert.deepEqual([...byLead().values()], [['для a'], ['для b'], []]);
    // the per-lead list sees it
    assert.equal((await (await api(`/api/v4/leads/${b}/notes`)).json())._embedded.notes[0].params.text, 'для b');

    // a deleted lead, another account's lead, a missing entity_id, a bad note type: 400, nothing stored
    await sim.deleteLead(acc.id, c);
    const bad = await api('/api/v4/leads/notes', {
      json: [
        { entity_id: a, note_type: 'common', params: { text: 'ещё a' }, request_id: 'ok' },
        { entity_id: c, note_type: 'common', params: { text: 'удалённая' }, request_id: 'deleted' },
        { entity_id: foreign.id, note_type: 'common', params: { text: 'чужая' }, request_id: 'foreign' },
        { note_type: 'common', params: { text: 'без сделки' } },
        { entity_id: b, note_type: 'nope', params: { text: 'x' }, request_id: 'type' },
      ],
    });
    assert.equal(bad.status, 400);
    const err = await bad.json();
    assert.deepEqual(
      err['validation-errors'].map((g: { request_id: string; errors: Array<{ path: string; code: string }> }) => [g.request_id, g.errors.map((e) => `${e.path}:${e.code}`)]),
      [
        ['deleted', ['entity_id:NotFound']],
        ['foreign', ['entity_id:NotFound']],
        ['3', ['entity_id:FieldMissing']],
        ['type', ['note_type:NotSupportedChoice']],
      ],
    );
    assert.deepEqual([...byLead().values()], [['для a'], ['для b'], []], 'nothing stored');
    assert.equal(nth(sim.leads(other.acc.id), 0).notes.length, 0);

    const tooMany = await api('/api/v4/leads/notes', { json: Array.from({ length: 51 }, () => ({ entity_id: a, note_type: 'common', params: { text: 'x' } })) });
    assert.equal(tooMany.status, 400);
    assert.equal((await api('/api/v4/leads/notes', { json: [] })).status, 400);
  });
});
