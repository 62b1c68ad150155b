// The amoCRM client's HTTP, retry and limit logic with no PostgreSQL and no simulator: a fake
// AccountAccess (account state and tokens), a fake fetch (amoCRM's answers, scripted) and a fake
// limiter; the backoff waits go through the client's injectable sleep (recorded, not waited).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AmoClient } from '../src/platform/amo/client.ts';
import {
  AmoBlockedError,
  AmoError,
  AmoHttpError,
  AmoNetworkError,
  AmoRateLimitedError,
  AmoServerError,
  AmoUnauthorizedError,
  type AccountAccess,
  type AccountState,
  type AmoRetryOptions,
  type RateLimiter,
} from '../src/platform/amo/index.ts';

const ORIGIN = 'https://t.amocrm.test';
const AMO_ID = 42;

/** An account whose token is `tok-{version}`; `refresh` bumps the version. Every call is logged. */
function fakeAccess(options: { expiresInMs?: number; canRefresh?: boolean } = {}) {
  const log: string[] = [];
  let version = 1;
  const expires = () => new Date(Date.now() + (options.expiresInMs ?? 3_600_000));
  const access: AccountAccess = {
    accountId: 'acc-1',
    async load(): Promise<AccountState> {
      log.push('load');
      return { origin: ORIGIN, host: 't.amocrm.test', amoId: AMO_ID, accessToken: `tok-${version}`, accessExpiresAt: expires(), version };
    },
    async refresh(knownVersion) {
      log.push(`refresh ${knownVersion}`);
      if (options.canRefresh === false) return null;
      version = knownVersion + 1;
      return { accessToken: `tok-${version}`, accessExpiresAt: new Date(Date.now() + 3_600_000), version };
    },
    async markBlocked(state) {
      log.push(`blocked ${state.amoId} ${state.host}`);
    },
    async markStale(reason) {
      log.push(`stale: ${reason}`);
    },
  };
  return { access, log };
}

/** Records slots taken and penalties; `penalize` may fail (the client then sleeps itself). */
function fakeLimiter(options: { penalizeFails?: boolean } = {}) {
  const acquired: number[] = [];
  const penalties: Array<[number, number]> = [];
  /** per slot taken, in order: what the client said of its request ('arrived' once its answer came, 'unanswered' on a failure without one, 'unsent') */
  const outcomes: string[] = [];
  const limiter: RateLimiter = {
    spacingMs: 150,
    async acquire(amoId, signal) {
      if (signal?.aborted) throw signal.reason;
      acquired.push(amoId);
      const i = outcomes.push('open') - 1;
      return {
        arrived: () => void (outcomes[i] = outcomes[i] === 'open' ? 'arrived' : `${outcomes[i]}, then arrived`),
        unanswered: () => void (outcomes[i] = outcomes[i] === 'open' ? 'unanswered' : `${outcomes[i]}, then unanswered`),
        unsent: () => void (outcomes[i] = outcomes[i] === 'open' ? 'unsent' : `${outcomes[i]}, then unsent`),
      };
    },
    async penalize(amoId, ms) {
      if (options.penalizeFails) throw new Error('no database');
      penalties.push([amoId, ms]);
    },
  };
  return { limiter, acquired, penalties, outcomes };
}

interface Sent {
  method: string;
  url: URL;
  authorization: string | undefined;
  body: unknown;
  signal: AbortSignal | undefined;
}

type Answer = Response | Error | ((sent: Sent) => Response | Promise<Response>);

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/hal+json', ...headers } });

/** A fetch answering `answers` in order (an Error is thrown as a network failure); what was sent is in `sent`. */
function fakeFetch(answers: Answer[]) {
  const sent: Sent[] = [];
  const fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const headers = (init?.headers ?? {}) as Record<string, string>;
    const s: Sent = {
      method: init?.method ?? 'GET',
      url: new URL(String(input)),
      authorization: headers.authorization,
      body: typeof init?.body === 'string' ? JSON.parse(init.body) : undefined,
      signal: init?.signal ?? undefined,
    };
    sent.push(s);
    const a = answers.shift();
    if (a === undefined) throw new Error(`unexpected request ${s.method} ${s.url.pathname}`);
    if (a instanceof Error) throw a;
    return typeof a === 'function' ? a(s) : a;
  };
  return { fetch, sent };
}

/** A network failure as undici reports it (`cause.code`). */
const netError = (code: string) => Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error(code), { code }) });

function setup(answers: Answer[], o: { access?: ReturnType<typeof fakeAccess>; penalizeFails?: boolean; retry?: AmoRetryOptions } = {}) {
  const a = o.access ?? fakeAccess();
  const l = fakeLimiter({ penalizeFails: o.penalizeFails });
  const f = fakeFetch(answers);
  const waits: number[] = [];
  const client = new AmoClient({
    access: a.access,
    rateLimiter: l.limiter,
    fetch: f.fetch,
    backoffMs: 100,
    maxBackoffMs: 1_000,
    sleep: async (ms, signal) => {
      if (signal?.aborted) throw signal.reason;
      waits.push(ms);
    },
    ...o.retry,
  });
  return { client, ...a, ...l, ...f, waits };
}

const USERS_PAGE = (users: unknown[], next?: string) => json(200, { _embedded: { users }, _links: next ? { next: { href: next } } : {} });

describe('AmoClient without PostgreSQL', () => {
  test('a 429 with Retry-After: the limiter is penalized by it (every replica waits), then the call is retried in a new slot', async () => {
    const w = setup([json(429, { title: 'Too Many Requests' }, { 'retry-after': '2' }), json(200, { id: AMO_ID, name: 'T', subdomain: 't' })]);
    assert.equal((await w.client.getAccount()).id, AMO_ID);
    assert.deepEqual(w.penalties, [[AMO_ID, 2_000]]);
    assert.deepEqual(w.acquired, [AMO_ID, AMO_ID], 'one slot per attempt');
    assert.deepEqual(w.outcomes, ['arrived', 'arrived'], 'each answer (the 429 too) proves its request arrived');
    assert.deepEqual(w.waits, [], 'the penalty is the wait: the next slot comes after it');
    assert.equal(w.sent.length, 2);
  });

  test('a 429 when the limiter cannot be penalized: the client waits Retry-After itself', async () => {
    const w = setup([json(429, {}, { 'retry-after': '3' }), json(200, { id: AMO_ID })], { penalizeFails: true });
    await w.client.getAccount();
    assert.deepEqual(w.waits, [3_000]);
  });

  test('a Retry-After longer than maxRetryAfterMs, or 429 after every retry: AmoRateLimitedError', async () => {
    const long = setup([json(429, {}, { 'retry-after': '120' })]);
    await assert.rejects(long.client.getAccount(), (e: unknown) => e instanceof AmoRateLimitedError && e.retryAfterMs === 120_000);
    assert.equal(long.sent.length, 1);

    const many = setup(
      Array.from({ length: 3 }, () => json(429, {})),
      { retry: { maxRetries: 2 } },
    );
    await assert.rejects(many.client.getAccount(), AmoRateLimitedError);
    assert.equal(many.sent.length, 3);
    assert.equal(many.penalties.length, 2);
  });

  test('a 5xx on a GET is retried with backoff (full jitter within the doubling cap), then succeeds', async () => {
    const w = setup([json(503, {}), json(502, {}), json(200, { id: AMO_ID })]);
    assert.equal((await w.client.getAccount()).id, AMO_ID);
    assert.equal(w.sent.length, 3);
    assert.equal(w.waits.length, 2);
    assert.ok(w.waits[0]! >= 50 && w.waits[0]! <= 100, `first backoff ${w.waits[0]}`);
    assert.ok(w.waits[1]! >= 100 && w.waits[1]! <= 200, `second backoff ${w.waits[1]}`);
  });

  test('a 5xx on a non-idempotent POST (leads/complex) throws at once with maybeProcessed', async () => {
    const w = setup([json(500, {})]);
    await assert.rejects(
      w.client.createLeadsComplex([{ name: 'x', request_id: 'r1' }]),
      (e: unknown) => e instanceof AmoServerError && e.maybeProcessed === true && e.status === 500,
    );
    assert.equal(w.sent.length, 1);
    assert.deepEqual(w.waits, []);
    assert.equal(w.sent[0]!.method, 'POST');
    assert.equal(w.sent[0]!.url.pathname, '/api/v4/leads/complex');
    assert.deepEqual(w.sent[0]!.body, [{ name: 'x', request_id: 'r1' }]);
  });

  test('a POST after a reset throws with maybeProcessed; after a refused connection (never sent) it is retried', async () => {
    const reset = setup([netError('ECONNRESET')]);
    await assert.rejects(reset.client.createLeadsComplex([{ name: 'x' }]), (e: unknown) => e instanceof AmoNetworkError && e.maybeProcessed === true);
    assert.equal(reset.sent.length, 1);
    assert.deepEqual(reset.outcomes, ['unanswered'], 'a reset may have reached amoCRM, or still reach it: its window counts from past the failure');

    const refused = setup([netError('ECONNREFUSED'), json(200, [{ id: 7, contact_id: 8, company_id: null, request_id: 'r1', merged: false }])]);
    assert.deepEqual(await refused.client.createLeadsComplex([{ name: 'x', request_id: 'r1' }]), [{ id: 7, contact_id: 8, company_id: null, request_id: ['r1'], merged: false }]);
    assert.equal(refused.sent.length, 2);
    // the limiter counts a window from an answer, or from a failure that may have reached amoCRM; a refused connection frees its slot
    assert.deepEqual(refused.outcomes, ['unsent', 'arrived']);
  });

  test('a 2xx whose body is not JSON: a non-idempotent call is maybe processed, never resent', async () => {
    const w = setup([new Response('<html>ok</html>', { status: 200, headers: { 'content-type': 'text/html' } })]);
    await assert.rejects(w.client.createLeadsComplex([{ name: 'x' }]), (e: unknown) => e instanceof AmoHttpError && e.maybeProcessed === true);
    assert.equal(w.sent.length, 1);
  });

  test('a 401: one refresh of the refused version, the call again with the new token', async () => {
    const w = setup([json(401, { title: 'Unauthorized' }), json(200, { id: AMO_ID })]);
    assert.equal((await w.client.getAccount()).id, AMO_ID);
    assert.deepEqual(w.log, ['load', 'refresh 1', 'load']);
    assert.deepEqual(
      w.sent.map((s) => s.authorization),
      ['Bearer tok-1', 'Bearer tok-2'],
    );
  });

  test('a 401 again after the refresh: the account is marked stale, AmoUnauthorizedError', async () => {
    const w = setup([json(401, {}), json(401, {})]);
    await assert.rejects(w.client.getAccount(), AmoUnauthorizedError);
    assert.deepEqual(w.log, ['load', 'refresh 1', 'load', 'stale: 401 after a token refresh']);
  });

  test('a 401 with an access that cannot refresh (a session): final, nothing marked', async () => {
    const w = setup([json(401, {})], { access: fakeAccess({ canRefresh: false }) });
    await assert.rejects(w.client.getAccount(), (e: unknown) => e instanceof AmoUnauthorizedError && /refused the access token/.test(e.message));
    assert.deepEqual(w.log, ['load', 'refresh 1']);
    assert.equal(w.sent.length, 1);
  });

  test('a token about to expire is refreshed before the request', async () => {
    const w = setup([json(200, { id: AMO_ID })], { access: fakeAccess({ expiresInMs: 10_000 }) });
    await w.client.getAccount();
    assert.deepEqual(w.log, ['load', 'refresh 1']);
    assert.equal(w.sent[0]!.authorization, 'Bearer tok-2');
  });

  test('a 403 in HTML: the account is marked blocked, AmoBlockedError; a 403 in JSON is a plain refusal', async () => {
    const html = setup([new Response('<!DOCTYPE html><html>blocked</html>', { status: 403, headers: { 'content-type': 'text/html' } })]);
    await assert.rejects(html.client.listUsers(), (e: unknown) => e instanceof AmoBlockedError && e.status === 403);
    assert.deepEqual(html.log, ['load', `blocked ${AMO_ID} t.amocrm.test`]);

    const jsonRefusal = setup([json(403, { title: 'Forbidden', detail: 'no rights' })]);
    await assert.rejects(jsonRefusal.client.listUsers(), (e: unknown) => e instanceof AmoHttpError && !(e instanceof AmoBlockedError) && e.status === 403);
    assert.deepEqual(jsonRefusal.log, ['load']);
  });

  test('a 204: null for one entity, an empty list for a list, [] for a create', async () => {
    const w = setup([new Response(null, { status: 204 }), new Response(null, { status: 204 }), new Response('', { status: 200 })]);
    assert.equal(await w.client.getLead(5), null);
    assert.deepEqual(await w.client.listUsers(), []);
    assert.deepEqual(await w.client.createLeadsComplex([{ name: 'x' }]), []);
    assert.equal(w.sent.length, 3);
  });

  test('HAL pagination: limit on the first page, then `_links.next` as given, until a page has none', async () => {
    const w = setup([USERS_PAGE([{ id: 1 }, { id: 2 }], `${ORIGIN}/api/v4/users?page=2&limit=250`), USERS_PAGE([{ id: 3 }])]);
    assert.deepEqual(
      (await w.client.listUsers()).map((u) => u.id),
      [1, 2, 3],
    );
    assert.equal(w.sent[0]!.url.pathname, '/api/v4/users');
    assert.equal(w.sent[0]!.url.searchParams.get('limit'), '250');
    assert.equal(w.sent[1]!.url.href, `${ORIGIN}/api/v4/users?page=2&limit=250`);
  });

  test('HAL pagination: a next link to another host is refused before anything is sent there', async () => {
    const w = setup([USERS_PAGE([{ id: 1 }], 'https://evil.test/api/v4/users?page=2')]);
    await assert.rejects(w.client.listUsers(), (e: unknown) => e instanceof AmoError && /another host/.test(e.message));
    assert.equal(w.sent.length, 1);
  });

  test('windowed lists and searches send amoCRM their filters', async () => {
    const w = setup([json(200, { _embedded: { leads: [{ id: 9 }] } }), json(200, { _embedded: { contacts: [{ id: 4 }] } })]);
    assert.deepEqual(
      (await w.client.listLeads({ from: 100, to: 200 }, { with: ['contacts'] })).map((l) => l.id),
      [9],
    );
    const q = w.sent[0]!.url.searchParams;
    assert.deepEqual([q.get('filter[created_at][from]'), q.get('filter[created_at][to]'), q.get('order[id]'), q.get('with')], ['100', '200', 'asc', 'contacts']);
    assert.deepEqual(
      (await w.client.searchContacts('+7 900', { idempotent: false })).map((c) => c.id),
      [4],
    );
    assert.deepEqual([w.sent[1]!.url.pathname, w.sent[1]!.url.searchParams.get('query'), w.sent[1]!.url.searchParams.get('limit')], ['/api/v4/contacts', '+7 900', '50']);
  });

  test('an aborted signal rejects with its reason: during the request, during a backoff, before the slot', async () => {
    const reason = new Error('stopping');

    const during = new AbortController();
    const hanging = setup([
      (s) =>
        new Promise<Response>((_, reject) => {
          s.signal!.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
          setImmediate(() => during.abort(reason));
        }),
    ]);
    await assert.rejects(hanging.client.getAccount(undefined, { signal: during.signal }), (e: unknown) => e === reason);

    // a backoff with the real (abortable) sleep: the abort ends it at once, no second attempt
    const backoff = new AbortController();
    const retrying = setup(
      [
        () => {
          setImmediate(() => backoff.abort(reason));
          return json(503, {});
        },
      ],
      { retry: { backoffMs: 60_000, maxBackoffMs: 60_000, sleep: undefined } },
    );
    const started = Date.now();
    await assert.rejects(retrying.client.listUsers({ signal: backoff.signal }), (e: unknown) => e === reason);
    assert.ok(Date.now() - started < 5_000, 'the backoff did not run out');
    assert.equal(retrying.sent.length, 1);

    const before = setup([]);
    await assert.rejects(before.client.createLeadsComplex([{ name: 'x' }], { signal: AbortSignal.abort(reason) }), (e: unknown) => e === reason);
    assert.equal(before.sent.length, 0);
  });
});
