// /api/v4/tasks: adding (validated all first, problem+json 400), listing with filters (204 when empty), task types.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type Json, NSC, UNTHROTTLED_OPTIONS, errorsOf, nth, simulatorSuite } from './helpers.ts';

const { sim, connect } = simulatorSuite(UNTHROTTLED_OPTIONS);

describe('tasks', () => {
  test('POST stores each task as sent and answers ids by request_id; GET filters by lead and reads it back', async () => {
    const { acc, api, complex } = connect({ users: 3 });
    const [, [lead, other]] = await complex([{ name: 'a' }, { name: 'b' }]);
    const user = nth(acc.users, 1).id;
    const res = await api('/api/v4/tasks', {
      json: [
        { text: 'Позвонить клиенту', complete_till: 1_900_000_000, task_type_id: 1, entity_type: 'leads', entity_id: lead.id, responsible_user_id: user, request_id: 'r1' },
        { text: 'Встреча', complete_till: 1_900_000_600, task_type_id: 2, entity_type: 'leads', entity_id: other.id, request_id: 'r2' },
      ],
    });
    assert.equal(res.status, 200);
    const body: Json = await res.json();
    const added = body._embedded.tasks;
    assert.deepEqual(
      added.map((t: Json) => t.request_id),
      ['r1', 'r2'],
    );
    assert.ok(added.every((t: Json) => Number.isInteger(t.id)));
    const stored = sim.tasks(acc.id);
    assert.equal(stored.length, 2);
    const first = nth(stored, 0);
    assert.equal(first.text, 'Позвонить клиенту');
    assert.equal(first.responsible_user_id, user);
    assert.equal(first.complete_till, 1_900_000_000);
    assert.equal(first.entity_id, lead.id);
    assert.equal(first.is_completed, false);
    // no responsible_user_id: the token's user
    assert.equal(nth(stored, 1).responsible_user_id, acc.current_user_id);

    const list = await api(`/api/v4/tasks?filter[entity_type]=leads&filter[entity_id]=${lead.id}`);
    assert.equal(list.status, 200);
    const tasks = (await list.json())._embedded.tasks;
    assert.equal(tasks.length, 1);
    assert.equal(tasks[0].id, added[0].id);
    assert.equal(tasks[0].task_type_id, 1);
    assert.equal(tasks[0].responsible_user_id, user);
    assert.equal(tasks[0].request_id, undefined);
    const both = await api(`/api/v4/tasks?filter[entity_type]=leads&filter[entity_id][]=${lead.id}&filter[entity_id][]=${other.id}&filter[task_type]=2`);
    assert.deepEqual(
      (await both.json())._embedded.tasks.map((t: Json) => t.id),
      [added[1].id],
    );
    const one = await api(`/api/v4/tasks/${added[0].id}`);
    assert.equal((await one.json()).text, 'Позвонить клиенту');
  });

  test('GET with nothing matching is 204 with no body; entity_id without entity_type is refused', async () => {
    const { api } = connect();
    const empty = await api('/api/v4/tasks?filter[entity_type]=leads&filter[entity_id]=123');
    assert.equal(empty.status, 204);
    assert.equal(await empty.text(), '');
    const bad = await api('/api/v4/tasks?filter[entity_id]=123');
    assert.equal(bad.status, 400);
    assert.deepEqual(errorsOf(await bad.json()), [['FieldMissing', 'filter[entity_type]', 'This field is missing.']]);
    const limit = await api('/api/v4/tasks?limit=251');
    assert.equal(limit.status, 400);
  });

  test('one invalid task rejects the whole request (problem+json 400 naming it), nothing stored', async () => {
    const inactive = { name: 'Уволен', rights: { is_active: false } } as Json;
    const { acc, api, complex } = connect({ users: [{ name: 'Админ' }, inactive], taskTypes: [{ id: 3_100_001, name: 'Отправить КП' }] });
    const [, [lead]] = await complex([{ name: 'a' }]);
    const ok = { text: 'ok', complete_till: 1_900_000_000, entity_type: 'leads', entity_id: lead.id };
    const res = await api('/api/v4/tasks', {
      json: [
        { ...ok, request_id: 'good' },
        { complete_till: 'soon', task_type_id: 99, entity_type: 'leads', entity_id: 1, request_id: 'bad' },
        { ...ok, responsible_user_id: nth(acc.users, 1).id, request_id: 'inactive' },
        { ...ok, task_type_id: 3_100_001, request_id: 'custom' },
      ],
    });
    assert.equal(res.status, 400);
    assert.match(res.headers.get('content-type') ?? '', /application\/problem\+json/);
    const body: Json = await res.json();
    assert.deepEqual(
      body['validation-errors'].map((g: Json) => g.request_id),
      ['bad', 'inactive'],
    );
    assert.deepEqual(errorsOf(body), [
      ['FieldMissing', 'text', 'This field is missing.'],
      ['InvalidType', 'complete_till', 'This value should be of type int.'],
      ['NotSupportedChoice', 'task_type_id', NSC],
      ['NotFound', 'entity_id', 'Entity not found.'],
      ['NotSupportedChoice', 'responsible_user_id', 'User is inactive'],
    ]);
    assert.equal(sim.tasks(acc.id).length, 0);
    // the account's own type is accepted, and listed with the standard ones
    const custom = await api('/api/v4/tasks', { json: [{ ...ok, task_type_id: 3_100_001 }] });
    assert.equal(custom.status, 200);
    const account = await (await api('/api/v4/account?with=task_types')).json();
    assert.deepEqual(
      account._embedded.task_types.map((t: Json) => t.id),
      [1, 2, 3_100_001],
    );
  });

  test('more than 50 tasks in one request, an empty list or a non-array are refused', async () => {
    const { acc, api } = connect();
    const many = Array.from({ length: 51 }, () => ({ text: 'x', complete_till: 1_900_000_000 }));
    const res = await api('/api/v4/tasks', { json: many });
    assert.equal(res.status, 400);
    assert.equal((nth(errorsOf(await res.json()), 0) as Json)[0], 'TooManyEntities');
    assert.equal((await api('/api/v4/tasks', { json: [] })).status, 400);
    assert.equal((await api('/api/v4/tasks', { json: { text: 'x' } })).status, 400);
    assert.equal(sim.tasks(acc.id).length, 0);
  });
});
