// The rate limit, injected faults (also those that act after the request was processed) and blocks.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SIM_OPTIONS, UNTHROTTLED_OPTIONS, nth, simulatorSuite } from './helpers.ts';

describe('rate limit and faults', () => {
  const { sim, connect } = simulatorSuite(SIM_OPTIONS);

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

describe('faults that act after processing', () => {
  const { sim, connect } = simulatorSuite(UNTHROTTLED_OPTIONS);

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
