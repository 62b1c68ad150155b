import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAmoSimulator, FIELD_TYPES, type AmoSimulator, type SeedAccountOptions } from '../src/index.ts';
import { connectApi, nth } from './helpers.ts';

const CLIENT_ID = 'test-client';
const CLIENT_SECRET = 'test-secret';
const REDIRECT = 'http://127.0.0.1:1/webhook/create';

let sim: AmoSimulator;
let base: string;

before(async () => {
  sim = createAmoSimulator({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUri: REDIRECT, webhookBackoffMs: 30, webhookTimeoutMs: 500 });
  base = await sim.start();
});
after(() => sim.stop());

const connect = (opts: SeedAccountOptions = {}) => connectApi(sim, base, opts);

async function grantCode(accountId: number, state = 'st-1'): Promise<URL> {
  const res = await fetch(`${base}/oauth?client_id=${CLIENT_ID}&state=${state}&mode=post_message&account_id=${accountId}&consent=allow`, { redirect: 'manual' });
  assert.equal(res.status, 302);
  return new URL(res.headers.get('location') as string);
}

function tokenRequest(body: Record<string, unknown>, form = false) {
  return fetch(`${base}/oauth2/access_token`, {
    method: 'POST',
    headers: { 'content-type': form ? 'application/x-www-form-urlencoded' : 'application/json' },
    body: form ? new URLSearchParams(body as Record<string, string>).toString() : JSON.stringify(body),
  });
}

const exchange = (code: string, redirect_uri = REDIRECT) =>
  tokenRequest({ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, grant_type: 'authorization_code', code, redirect_uri });
const refresh = (refresh_token: string, form = false) =>
  tokenRequest({ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, grant_type: 'refresh_token', refresh_token, redirect_uri: REDIRECT }, form);

function bearer(token: string) {
  return { headers: { authorization: `Bearer ${token}` } };
}

describe('OAuth', () => {
  test('authorize page, consent → code, code works once', async () => {
    const acc = sim.seedAccount();
    const page = await fetch(`${base}/oauth?client_id=${CLIENT_ID}&state=x&mode=popup`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<form/);

    const loc = await grantCode(acc.id, 'st-42');
    assert.equal(loc.origin + loc.pathname, REDIRECT);
    assert.equal(loc.searchParams.get('referer'), sim.host);
    assert.equal(loc.searchParams.get('state'), 'st-42');
    assert.equal(loc.searchParams.get('platform'), '1');
    assert.equal(loc.searchParams.get('client_id'), CLIENT_ID);
    const code = loc.searchParams.get('code') as string;

    const res = await exchange(code);
    assert.equal(res.status, 200);
    const pair = await res.json();
    assert.equal(pair.token_type, 'Bearer');
    assert.equal(pair.expires_in, 86400);
    const claims = JSON.parse(Buffer.from(pair.access_token.split('.')[1], 'base64url').toString());
    assert.equal(claims.account_id, acc.id);
    assert.equal(claims.api_domain, sim.host);
    assert.ok(claims.exp > Date.now() / 1000 && claims.jti);

    const me = await fetch(`${base}/api/v4/account`, bearer(pair.access_token));
    assert.equal(me.status, 200);
    const account = await me.json();
    assert.equal(account.id, acc.id);
    assert.equal(account.country, 'RU');
    assert.equal(account.currency, 'RUB');

    const again = await exchange(code);
    assert.equal(again.status, 400);
    assert.match(again.headers.get('content-type') ?? '', /problem\+json/);
    const err = await again.json();
    assert.equal(err.error, 'invalid_grant');
    assert.equal(err.title, 'Некорректный запрос');
    assert.equal(err.type, 'https://developers.amocrm.ru/v3/errors/OAuthProblemJson');

    // state is echoed only if sent; deny → access_denied
    const noState = new URL(sim.authorize({ accountId: acc.id, consent: 'allow' }));
    assert.equal(noState.searchParams.has('state'), false);
    const denied = new URL(sim.authorize({ accountId: acc.id, state: 'st-9', consent: 'deny' }));
    assert.equal(denied.searchParams.get('error'), 'access_denied');
    assert.equal(denied.searchParams.get('state'), 'st-9');
    assert.equal(denied.searchParams.has('code'), false);
  });

  test('expired code and redirect_uri mismatch', async () => {
    const acc = sim.seedAccount();
    const expired = new URL(sim.authorize({ accountId: acc.id, state: 's', consent: 'allow' })).searchParams.get('code') as string;
    sim.advanceClock(1201_000);
    try {
      const res = await exchange(expired);
      assert.equal(res.status, 400);
      const body = await res.json();
      assert.equal(body.error, 'invalid_grant');
      assert.match(body.hint, /expired/);
    } finally {
      sim.advanceClock(-1201_000);
    }
    const code = (await grantCode(acc.id)).searchParams.get('code') as string;
    const bad = await exchange(code, REDIRECT + '/');
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).error, 'invalid_grant');
    assert.equal((await exchange(code)).status, 200); // a mismatch does not burn the code

    const wrongSecret = await tokenRequest({ client_id: CLIENT_ID, client_secret: 'nope', grant_type: 'refresh_token', refresh_token: 'x' });
    assert.equal(wrongSecret.status, 401);
    assert.equal((await wrongSecret.json()).error, 'invalid_client');
  });

  test('a refresh token works once and kills every earlier one', async () => {
    const acc = sim.seedAccount();
    const code = (await grantCode(acc.id)).searchParams.get('code') as string;
    const first = await (await exchange(code)).json();
    const older = sim.issueTokens(acc.id); // a second live refresh token of the same account

    const r1 = await refresh(first.refresh_token, true); // form-encoded works too
    assert.equal(r1.status, 200);
    const second = await r1.json();
    assert.notEqual(second.refresh_token, first.refresh_token);

    const reuse = await refresh(first.refresh_token);
    assert.equal(reuse.status, 400);
    const err = await reuse.json();
    assert.equal(err.error, 'invalid_grant');
    assert.equal(err.hint, 'Token has been revoked');

    const killed = await refresh(older.refresh_token);
    assert.equal(killed.status, 400);

    const r2 = await refresh(second.refresh_token);
    assert.equal(r2.status, 200);
    const third = await r2.json();
    assert.equal((await fetch(`${base}/api/v4/account`, bearer(third.access_token))).status, 200);
    assert.equal(sim.refreshCount(acc.id), 4);
    assert.deepEqual(
      sim.tokenRequests(acc.id).map((t) => t.status),
      [200, 200, 400, 400, 200],
    );

    sim.expireAccessTokens(acc.id);
    const expired = await fetch(`${base}/api/v4/account`, bearer(third.access_token));
    assert.equal(expired.status, 401);
    assert.match(expired.headers.get('content-type') ?? '', /application\/problem\+json/);
    const fresh = await (await refresh(third.refresh_token)).json();
    assert.equal((await fetch(`${base}/api/v4/account`, bearer(fresh.access_token))).status, 200);

    sim.revoke(acc.id);
    assert.equal((await fetch(`${base}/api/v4/account`, bearer(fresh.access_token))).status, 401);
    const dead = await refresh(fresh.refresh_token);
    assert.equal(dead.status, 400);
    assert.equal((await dead.json()).error, 'invalid_grant');
  });

  test('missing or forged token → 401; unknown route → 404', async () => {
    assert.equal((await fetch(`${base}/api/v4/account`)).status, 401);
    assert.equal((await fetch(`${base}/api/v4/account`, bearer('a.b.c'))).status, 401);
    const { api } = connect();
    const nf = await api('/api/v4/nothing');
    assert.equal(nf.status, 404);
    assert.equal((await nf.json()).status, 404);
  });
});

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
      const res: Response = await api(next.replace(base, ''));
      assert.equal(res.status, 200);
      const body = await res.json();
      pages++;
      assert.equal(body._page, pages);
      assert.ok(body._links.self.href.startsWith(base + '/api/v4/leads/tags'));
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

describe('rate limit and faults', () => {
  test('more than 7 requests in a second → 429; maxRequestsInAnySecond counts them all', async () => {
    const { acc, api } = connect();
    const statuses = await Promise.all(Array.from({ length: 12 }, () => api('/api/v4/account').then(async (r) => (await r.arrayBuffer(), r.status))));
    assert.equal(statuses.filter((s) => s === 200).length, 7);
    assert.equal(statuses.filter((s) => s === 429).length, 5);
    assert.equal(sim.maxRequestsInAnySecond(acc.id), 12);
    assert.equal(sim.requestLog(acc.id).filter((e) => e.status === 429).length, 5);
    await new Promise((r) => setTimeout(r, 1010));
    assert.equal((await api('/api/v4/account')).status, 200);
  });

  test('5xx, 429 with Retry-After, slow, reset, block, path-scoped faults', async () => {
    const { acc, api } = connect();
    sim.injectFault(acc.id, { kind: '5xx', status: 503, count: 2 });
    sim.injectFault(acc.id, { kind: '429', count: 1, retryAfterSec: 2 });
    sim.injectFault(acc.id, { kind: 'slow', delayMs: 150, count: 1 });
    assert.equal((await api('/api/v4/account')).status, 503);
    assert.equal((await api('/api/v4/account')).status, 503);
    const limited = await api('/api/v4/account');
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get('retry-after'), '2');
    const t0 = Date.now();
    assert.equal((await api('/api/v4/account')).status, 200);
    assert.ok(Date.now() - t0 >= 140);
    assert.deepEqual(sim.faults(acc.id), []);

    const b = connect();
    sim.injectFault(b.acc.id, { kind: 'reset', count: 1 });
    await assert.rejects(b.api('/api/v4/account'));
    assert.equal((await b.api('/api/v4/account')).status, 200);
    sim.injectFault(b.acc.id, { kind: '5xx', path: '/leads/pipelines' });
    assert.equal((await b.api('/api/v4/account')).status, 200);
    assert.equal((await b.api('/api/v4/leads/pipelines')).status, 500);

    const c = connect();
    sim.injectFault(c.acc.id, { kind: 'block' });
    const blocked = await c.api('/api/v4/account');
    assert.equal(blocked.status, 403);
    assert.match(blocked.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await blocked.text(), /<html/i);
    assert.equal((await c.api('/api/v4/users')).status, 403);
    sim.unblock(c.acc.id);
    assert.equal((await c.api('/api/v4/account')).status, 200);
    assert.deepEqual(
      sim.requestLog(c.acc.id).map((e) => e.status),
      [403, 403, 200],
    );
  });
});

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

describe('hooks', () => {
  let server: Server;
  let hookUrl: string;
  const received: Array<{ url: string; body: string; type: string }> = [];
  let failNext = 0;

  before(async () => {
    server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        received.push({ url: req.url ?? '', body, type: req.headers['content-type'] ?? '' });
        if (req.url?.startsWith('/webhook/delete')) {
          const u = new URL(req.url, 'http://x');
          const expected = createHmac('sha256', CLIENT_SECRET)
            .update(`${u.searchParams.get('client_uuid')}|${u.searchParams.get('account_id')}`)
            .digest('hex');
          res.writeHead(u.searchParams.get('signature') === expected ? 200 : 401).end();
          return;
        }
        if (failNext > 0) {
          failNext--;
          res.writeHead(500).end();
        } else res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    hookUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  test('disconnect hook is signed with HMAC-SHA256 of "client_uuid|account_id"', async () => {
    const { acc } = connect();
    assert.equal(await sim.sendDisconnectHook(acc.id, `${hookUrl}/webhook/delete`), 200);
    const u = new URL(received.at(-1)!.url, 'http://x');
    assert.equal(u.searchParams.get('account_id'), String(acc.id));
    assert.equal(u.searchParams.get('client_uuid'), CLIENT_ID);
    assert.equal(await sim.sendDisconnectHook(acc.id, `${hookUrl}/webhook/delete`, { signature: 'forged' }), 401);
  });

  test('status webhook arrives form-encoded and is retried after a 500; replay', async () => {
    const { acc, api } = connect();
    const sub = await api('/api/v4/webhooks', { json: { destination: `${hookUrl}/amo/events`, settings: ['status_lead'] } });
    assert.equal(sub.status, 200);
    assert.equal(sim.webhooks(acc.id).length, 1);
    const [lead] = await (await api('/api/v4/leads/complex', { json: [{ name: 'Сделка' }] })).json();
    const stored = nth(sim.leads(acc.id), 0);
    const target = nth(acc.pipelines, 0).statuses.at(-3)!;

    failNext = 1;
    const before = received.length;
    const delivery = nth(await sim.changeLeadStatus(acc.id, lead.id, target.id), 0);
    assert.equal(delivery.ok, true);
    assert.deepEqual(
      delivery.attempts.map((a) => a.status),
      [500, 200],
    );
    const got = received.slice(before);
    assert.equal(got.length, 2);
    assert.equal(nth(got, 1).type, 'application/x-www-form-urlencoded');
    const form = new URLSearchParams(nth(got, 1).body);
    assert.equal(form.get('leads[status][0][id]'), String(lead.id));
    assert.equal(form.get('leads[status][0][status_id]'), String(target.id));
    assert.equal(form.get('leads[status][0][pipeline_id]'), String(nth(acc.pipelines, 0).id));
    assert.equal(form.get('leads[status][0][old_status_id]'), String(stored.status_id));
    assert.equal(form.get('account[subdomain]'), acc.subdomain);
    assert.equal(form.get('account[id]'), String(acc.id));

    const replay = await sim.replayLastWebhook(acc.id);
    assert.equal(replay.ok, true);
    assert.equal(received.at(-1)!.body, nth(got, 1).body);

    const del = await api('/api/v4/webhooks', { method: 'DELETE', json: { destination: `${hookUrl}/amo/events` } });
    assert.equal(del.status, 204);
    assert.deepEqual(await sim.changeLeadStatus(acc.id, lead.id, 142), []);
  });
});

describe('control API over HTTP', () => {
  test('seed, inject a fault and read back over /_sim', async () => {
    const call = async (method: string, ...args: unknown[]) => {
      const res = await fetch(`${base}/_sim/${method}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(args) });
      return res.status === 204 ? undefined : res.json();
    };
    const acc = await call('seedAccount', { subdomain: 'remote', pipelines: 1 });
    assert.equal(acc.subdomain, 'remote');
    const tokens = await call('issueTokens', acc.id);
    await call('injectFault', acc.id, { kind: '5xx', status: 502, count: 1, path: '^/api/v4/account' });
    assert.equal((await fetch(`${base}/api/v4/account`, bearer(tokens.access_token))).status, 502);
    assert.equal((await fetch(`${base}/api/v4/account`, bearer(tokens.access_token))).status, 200);
    const log = await call('requestLog', acc.id);
    assert.deepEqual(
      log.map((e: { status: number }) => e.status),
      [502, 200],
    );
    const redirect = await call('authorize', { accountId: acc.id, state: 'remote-state', consent: 'allow' });
    assert.equal(new URL(redirect).searchParams.get('state'), 'remote-state');
    assert.equal((await fetch(`${base}/_sim/nope`, { method: 'POST' })).status, 404);
  });
});
