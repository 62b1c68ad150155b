// AmoClient.addTagsTo with a fake fetch and limiter (no PostgreSQL, no simulator): the PATCH body
// carries only ids and tags_to_add (never _embedded.tags, which would replace every tag), each
// call takes a limiter slot, a 502 is retried (adding a tag twice is a no-op), a 400 is thrown.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AmoClient } from '../src/platform/amo/client.ts';
import { AmoValidationError, type AccountAccess, type RateLimiter } from '../src/platform/amo/index.ts';

const AMO_ID = 42;

function setup(answers: Response[]) {
  const access: AccountAccess = {
    accountId: 'acc-1',
    load: async () => ({
      origin: 'https://t.amocrm.test',
      host: 't.amocrm.test',
      amoId: AMO_ID,
      accessToken: 'tok',
      accessExpiresAt: new Date(Date.now() + 3_600_000),
      version: 1,
    }),
    refresh: async () => null,
    markBlocked: async () => {},
    markStale: async () => {},
  };
  const slots: number[] = [];
  const rateLimiter: RateLimiter = {
    spacingMs: 150,
    acquire: async (amoId) => {
      slots.push(amoId);
      return { arrived: () => {}, unanswered: () => {}, unsent: () => {} };
    },
    penalize: async () => {},
  };
  const sent: { method: string; path: string; body: unknown }[] = [];
  const fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    sent.push({ method: init?.method ?? 'GET', path: new URL(String(input)).pathname, body: typeof init?.body === 'string' ? JSON.parse(init.body) : undefined });
    const a = answers.shift();
    if (!a) throw new Error('unexpected request');
    return a;
  };
  const client = new AmoClient({ access, rateLimiter, fetch, backoffMs: 1, maxBackoffMs: 1, sleep: async () => {} });
  return { client, sent, slots };
}

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/hal+json' } });

describe('AmoClient.addTagsTo', () => {
  test('PATCH contacts with tags_to_add only; resolves to the ids amoCRM updated; one slot a call', async () => {
    const w = setup([
      json(200, {
        _embedded: {
          contacts: [
            { id: 7, updated_at: 1, request_id: '0' },
            { id: 9, request_id: '1' },
          ],
        },
      }),
    ]);
    const updates = [
      { id: 7, tags_to_add: [{ id: 1 }, { name: 'B' }] },
      { id: 9, tags_to_add: [{ name: 'B' }] },
    ];
    assert.deepEqual(await w.client.addTagsTo('contacts', updates), [7, 9]);
    assert.deepEqual(w.sent, [{ method: 'PATCH', path: '/api/v4/contacts', body: updates }]);
    assert.deepEqual(w.slots, [AMO_ID]);
  });

  test('a 502 is retried (idempotent), a 400 refusal is thrown as a validation error', async () => {
    const ok = setup([json(502, { title: 'Bad Gateway' }), json(200, { _embedded: { companies: [{ id: 3 }] } })]);
    assert.deepEqual(await ok.client.addTagsTo('companies', [{ id: 3, tags_to_add: [{ name: 'x' }] }]), [3]);
    assert.equal(ok.sent.length, 2);
    assert.equal(ok.sent[1]!.path, '/api/v4/companies');

    const refused = setup([
      json(400, { title: 'Bad Request', status: 400, 'validation-errors': [{ request_id: '0', errors: [{ code: 'NotFound', path: 'id', detail: 'Entity not found.' }] }] }),
    ]);
    await assert.rejects(refused.client.addTagsTo('contacts', [{ id: 5, tags_to_add: [{ id: 1 }] }]), AmoValidationError);
  });

  test('nothing to add: no call; more than 50 entities: refused before any call', async () => {
    const w = setup([]);
    assert.deepEqual(await w.client.addTagsTo('contacts', []), []);
    const many = Array.from({ length: 51 }, (_, i) => ({ id: i + 1, tags_to_add: [{ id: 1 }] }));
    await assert.rejects(w.client.addTagsTo('contacts', many), RangeError);
    assert.equal(w.sent.length, 0);
  });
});
