// Issue 15: /metrics can require a bearer token of its own (METRICS_TOKEN); without it the route stays open.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { bearerMatches } from '../src/platform/http/bearer.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApp, tokenFor, type TestApp } from './helpers/app.ts';

const METRICS_TOKEN = 'metrics-scraper-token-0123456789';
let testDb: TestDatabase;
let guarded: TestApp;
let open: TestApp;

before(async () => {
  testDb = await createTestDatabase();
  guarded = await startTestApp(testDb, { config: { METRICS_TOKEN } });
  open = await startTestApp(testDb);
});
after(async () => {
  await guarded?.stop();
  await open?.stop();
  await testDb?.drop();
});

const scrape = (app: TestApp, authorization?: string) => fetch(`${app.url}/metrics`, { headers: authorization ? { authorization } : {} });

test('with METRICS_TOKEN set, /metrics answers 401 without the token or with another one', async () => {
  const tenantJwt = await tokenFor('metrics-tenant');
  for (const authorization of [undefined, 'Bearer wrong-token', `Bearer ${METRICS_TOKEN}x`, `Basic ${METRICS_TOKEN}`, `Bearer ${tenantJwt}`]) {
    const res = await scrape(guarded, authorization);
    const body = await res.text();
    assert.equal(res.status, 401, `authorization ${authorization ?? '(none)'}`);
    assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/);
    assert.doesNotMatch(body, /# TYPE/, 'no metric is shown');
  }
});

test('with METRICS_TOKEN set, /metrics answers 200 and the Prometheus text with the token', async () => {
  const res = await scrape(guarded, `Bearer ${METRICS_TOKEN}`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  assert.match(await res.text(), /# TYPE gateway_http_request_duration_seconds histogram/);
});

test('without METRICS_TOKEN, /metrics is open', async () => {
  const res = await scrape(open);
  assert.equal(res.status, 200);
  assert.match(await res.text(), /# TYPE gateway_http_request_duration_seconds histogram/);
});

test('bearerMatches takes only "Bearer <token>" with exactly that token', () => {
  assert.equal(bearerMatches(`Bearer ${METRICS_TOKEN}`, METRICS_TOKEN), true);
  assert.equal(bearerMatches(`bearer ${METRICS_TOKEN}`, METRICS_TOKEN), true);
  assert.equal(bearerMatches(undefined, METRICS_TOKEN), false);
  assert.equal(bearerMatches(`Bearer ${METRICS_TOKEN.slice(1)}`, METRICS_TOKEN), false);
  assert.equal(bearerMatches(METRICS_TOKEN, METRICS_TOKEN), false);
});
