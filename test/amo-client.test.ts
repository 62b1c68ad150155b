// The amoCRM client (src/platform/amo) against the simulator over HTTP: typed calls, paging,
// typed errors, absorbed faults, blocks, and one rate limit shared by replicas. Tokens:
// amo-client-tokens.test.ts; the client's logic without a database: amo-client-unit.test.ts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AmoSimulator } from '@quiz-gateway/amo-sim';
import type { Db } from '../src/platform/db.ts';
import { AmoBlockedError, AmoNetworkError, AmoValidationError, createAmoClient } from '../src/platform/amo/index.ts';
import { connectSimAccount } from './helpers/amo.ts';
import { at, only } from './helpers/narrow.ts';
import { until } from './helpers/wait.ts';
import { config, logger, startAmoClientKit, type AmoClientKit } from './amo-client.kit.ts';

let kit: AmoClientKit;
let sim: AmoSimulator;
let db: Db;

before(async () => {
  kit = await startAmoClientKit();
  ({ sim, db } = kit);
});

after(async () => {
  await kit?.stop();
});

describe('API calls', () => {
  test('a list spanning several pages returns exactly the simulator data; an empty list (204) is []', async () => {
    const a = await connectSimAccount(db, sim, config, { seed: { tagsPerEntity: { leads: 600, contacts: 0, companies: 3, customers: 0 } } });
    const c = kit.client(a.accountId);
    const tags = await c.listTags('leads');
    const expected = sim.account(a.amoId).tags.leads.map((t) => ({ id: t.id, name: t.name, color: t.color }));
    assert.equal(expected.length, 600);
    assert.deepEqual(tags, expected);
    const tagGets = sim.requestLog(a.amoId).filter((e) => e.path.startsWith('/api/v4/leads/tags'));
    assert.equal(tagGets.length, 3);
    assert.ok(tagGets.every((e) => /limit=250/.test(e.path)));
    assert.deepEqual(await c.listTags('contacts'), []);
  });

  test('typed helpers: account, users, pipelines with statuses, fields, complex leads, notes, search, webhooks', async () => {
    const a = await connectSimAccount(db, sim, config, { seed: { pipelines: 2, users: 3 } });
    const c = kit.client(a.accountId);
    const snapshot = sim.account(a.amoId);

    const account = await c.getAccount(['drive_url']);
    assert.equal(account.id, a.amoId);
    assert.equal(account.subdomain, snapshot.subdomain);

    const users = await c.listUsers();
    assert.deepEqual(users.map((u) => u.id).sort(), snapshot.users.map((u) => u.id).sort());

    const pipelines = await c.listPipelines();
    assert.equal(pipelines.length, 2);
    for (const p of pipelines) {
      const statusIds = p._embedded.statuses.map((s) => s.id);
      assert.ok(statusIds.includes(142) && statusIds.includes(143));
    }

    const fields = await c.listCustomFields('leads');
    assert.deepEqual(
      fields.map((f) => f.id),
      snapshot.fields.leads.map((f) => f.id),
    );
    const created = only(await c.createCustomFields('leads', [{ name: 'Quiz result id', type: 'text', code: 'QUIZ_RESULT_ID' }]), 'created field');
    assert.equal(created.code, 'QUIZ_RESULT_ID');

    const pipeline = pipelines[0]!;
    const status = pipeline._embedded.statuses.find((s) => s.type === 0 && s.id !== 142 && s.id !== 143)!;
    const results = await c.createLeadsComplex([
      {
        name: 'Quiz lead',
        pipeline_id: pipeline.id,
        status_id: status.id,
        request_id: 'res-1',
        custom_fields_values: [{ field_id: created.id, values: [{ value: 'res-1' }] }],
        _embedded: { contacts: [{ name: 'Ivan' }] },
      },
    ]);
    assert.equal(results.length, 1);
    const result = results[0]!;
    assert.deepEqual(result.request_id, ['res-1']);
    assert.ok(result.id > 0 && result.contact_id);

    const notes = await c.addLeadNotes(result.id, 'Answers: 42');
    assert.equal(notes.length, 1);
    assert.equal(sim.leads(a.amoId)[0]?.notes[0]?.params.text, 'Answers: 42');

    const lead = await c.getLead(result.id, ['contacts']);
    assert.equal(lead?.id, result.id);
    assert.equal(lead?._embedded?.contacts?.[0]?.id, result.contact_id);
    assert.equal(await c.getLead(999_999_999), null);

    const found = await c.searchLeads('res-1');
    assert.deepEqual(
      found.map((l) => l.id),
      [result.id],
    );
    assert.deepEqual(await c.searchLeads('no-such-result'), []);

    const hook = await c.subscribeWebhook('http://127.0.0.1:1/amo/webhook/abc', ['status_lead', 'delete_lead']);
    assert.deepEqual(hook.settings, ['status_lead', 'delete_lead']);
    assert.equal(sim.webhooks(a.amoId).length, 1);
    await c.unsubscribeWebhook('http://127.0.0.1:1/amo/webhook/abc');
    assert.equal(sim.webhooks(a.amoId).length, 0);
  });

  test('validation errors are typed, with path, code, detail and request id', async () => {
    const a = await connectSimAccount(db, sim, config);
    const c = kit.client(a.accountId);
    await assert.rejects(c.createLeadsComplex([{ name: 'x', pipeline_id: 1, request_id: 'bad-1' }]), (e: unknown) => {
      assert.ok(e instanceof AmoValidationError);
      assert.equal(e.status, 400);
      assert.equal(e.errors.length, 1);
      assert.equal(e.errors[0]?.requestId, 'bad-1');
      assert.equal(e.errors[0]?.code, 'NotSupportedChoice');
      assert.match(e.message, /pipeline_id/);
      return true;
    });
    assert.equal(sim.leads(a.amoId).length, 0);
  });

  test('429 burst, 5xx, a reset and a slow answer are absorbed', async () => {
    const a = await connectSimAccount(db, sim, config);
    const c = kit.client(a.accountId, { timeoutMs: 400 });
    sim.injectFault(a.amoId, { kind: '429', count: 3 });
    assert.equal((await c.getAccount()).id, a.amoId);
    sim.injectFault(a.amoId, { kind: '429', count: 1, retryAfterSec: 1 });
    assert.equal((await c.getAccount()).id, a.amoId);
    sim.injectFault(a.amoId, { kind: '5xx', status: 502, count: 2 });
    sim.injectFault(a.amoId, { kind: '5xx', status: 500, count: 1 });
    assert.equal((await c.listUsers()).length, sim.account(a.amoId).users.length);
    sim.injectFault(a.amoId, { kind: 'reset', count: 1 });
    assert.equal((await c.getAccount()).id, a.amoId);
    sim.injectFault(a.amoId, { kind: 'slow', delayMs: 1500, count: 1 });
    assert.equal((await c.getAccount()).id, a.amoId);
    assert.equal(sim.faults(a.amoId).length, 0);
    const statuses = sim.requestLog(a.amoId).map((e) => e.status);
    assert.equal(statuses.filter((s) => s === 429).length, 4);
    assert.ok(statuses.includes(502) && statuses.includes(500) && statuses.includes(0));
  });

  test('a POST is not retried after a timeout (it may have been processed)', async () => {
    const a = await connectSimAccount(db, sim, config);
    const c = kit.client(a.accountId, { timeoutMs: 300 });
    const pipeline = at(sim.account(a.amoId).pipelines, 0, 'pipeline');
    sim.injectFault(a.amoId, { kind: 'slow', delayMs: 800, count: 1, path: 'leads/complex' });
    await assert.rejects(c.createLeadsComplex([{ name: 'slow', pipeline_id: pipeline.id }]), (e: unknown) => {
      assert.ok(e instanceof AmoNetworkError);
      assert.equal(e.maybeProcessed, true);
      return true;
    });
    // amoCRM finishes the request the client gave up on: from then on it holds what it got
    await until('amoCRM stored the slow lead', async () => sim.leads(a.amoId).some((l) => l.name === 'slow'));
    assert.equal(sim.requestLog(a.amoId).filter((e) => e.path.startsWith('/api/v4/leads/complex')).length, 1);
    assert.equal(sim.leads(a.amoId).filter((l) => l.name === 'slow').length, 1, 'one lead: the POST was sent once');
  });

  test('403 with the HTML block page: AmoBlockedError, blockedAt set, no further requests', async () => {
    const a = await connectSimAccount(db, sim, config);
    const c = kit.client(a.accountId);
    sim.block(a.amoId);
    await assert.rejects(c.getAccount(), AmoBlockedError);
    const row = await db.amoAccount.findUniqueOrThrow({ where: { id: a.accountId } });
    assert.ok(row.blockedAt instanceof Date);
    const before = sim.requestLog(a.amoId).length;
    await assert.rejects(c.listUsers(), AmoBlockedError);
    await assert.rejects(kit.client(a.accountId).getAccount(), AmoBlockedError);
    assert.equal(sim.requestLog(a.amoId).length, before);
  });

  test('402 on customers: fields and tags are empty lists', async () => {
    const a = await connectSimAccount(db, sim, config, { seed: { customersEnabled: false } });
    const c = kit.client(a.accountId);
    assert.deepEqual(await c.listCustomFields('customers'), []);
    assert.deepEqual(await c.listTags('customers'), []);
    assert.ok(sim.requestLog(a.amoId).some((e) => e.status === 402));
  });
});

describe('shared rate limit', () => {
  test('two replicas firing 60 requests at one account stay within 7 per second and all succeed', async () => {
    const a = await connectSimAccount(db, sim, config);
    const replicas = [kit.newDb(), kit.newDb()].map((d) => createAmoClient({ db: d, config, logger, accountId: a.accountId }));
    const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => replicas[i % 2]!.getAccount()));
    assert.equal(answers.length, 60);
    assert.ok(answers.every((x) => x.id === a.amoId));
    const log = sim.requestLog(a.amoId);
    assert.equal(log.length, 60, 'no retries were needed');
    assert.ok(log.every((e) => e.status === 200));
    assert.ok(sim.maxRequestsInAnySecond(a.amoId) <= 7, `max ${sim.maxRequestsInAnySecond(a.amoId)} in a second`);
  });
});
