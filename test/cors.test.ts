// Issue 15: in production only the origins CORS_ORIGINS lists may call /graphql from a browser
// (not yoga's permissive default); development stays permissive when none are listed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ConfigError, loadConfig } from '../src/platform/config.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApp, TEST_AUTH_CLAIMS, tokenFor, type TestApp } from './helpers/app.ts';

const ADMIN = 'https://admin.example.com';
const QUIZ = 'https://quiz.example.com:8443';
const STRANGER = 'https://evil.example.net';

let testDb: TestDatabase;
let listed: TestApp;
let unlisted: TestApp;
let development: TestApp;

/** The settings production insists on, with nothing built in. */
function production(extra: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'production',
    DATABASE_URL: testDb.url,
    PUBLIC_URL: 'https://gateway.example.com',
    AMO_CLIENT_ID: 'cors-client',
    AMO_CLIENT_SECRET: 'cors-client-secret',
    AMO_REDIRECT_URI: 'https://gateway.example.com/webhook/create',
    TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    ...TEST_AUTH_CLAIMS,
    ...extra,
  };
}

before(async () => {
  testDb = await createTestDatabase();
  listed = await startTestApp(testDb, { config: production({ CORS_ORIGINS: `${ADMIN}, ${QUIZ}/` }) });
  unlisted = await startTestApp(testDb, { config: production() });
  development = await startTestApp(testDb, { config: { NODE_ENV: 'development' } });
});
after(async () => {
  for (const app of [listed, unlisted, development]) await app?.stop();
  await testDb?.drop();
});

function preflight(app: TestApp, origin: string): Promise<Response> {
  return fetch(`${app.url}/graphql`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
  });
}

async function post(app: TestApp, origin: string): Promise<Response> {
  return fetch(`${app.url}/graphql`, {
    method: 'POST',
    headers: { origin, 'content-type': 'application/json', authorization: `Bearer ${await tokenFor('cors-tenant')}` },
    body: JSON.stringify({ query: '{ __typename }' }),
  });
}

describe('production with CORS_ORIGINS', () => {
  test('a preflight from each listed origin is allowed, for the bearer token and a JSON body', async () => {
    assert.equal(listed.config.isProduction, true);
    for (const origin of [ADMIN, QUIZ]) {
      const res = await preflight(listed, origin);
      assert.equal(res.status, 204);
      assert.equal(res.headers.get('access-control-allow-origin'), origin);
      assert.deepEqual(res.headers.get('access-control-allow-headers')?.split(/,\s*/), ['authorization', 'content-type', 'accept']);
      assert.match(res.headers.get('access-control-allow-methods') ?? '', /\bPOST\b/);
      assert.equal(res.headers.get('access-control-allow-credentials'), null, 'no cookies: tokens travel in a header');
    }
  });

  test("an unlisted origin's preflight and request get no Access-Control-Allow-Origin", async () => {
    for (const origin of [STRANGER, `${ADMIN}.evil.example.net`, 'http://admin.example.com', 'null']) {
      const res = await preflight(listed, origin);
      assert.equal(res.headers.get('access-control-allow-origin'), null, `preflight from ${origin}`);
      assert.equal(res.headers.get('access-control-allow-headers'), null);
    }
    const res = await post(listed, STRANGER);
    assert.equal(res.status, 200, 'the server answers; the browser withholds it from the page');
    assert.equal(res.headers.get('access-control-allow-origin'), null);
  });

  test('a listed origin reads the answer of a request', async () => {
    const res = await post(listed, QUIZ);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), QUIZ);
    assert.deepEqual(await res.json(), { data: { __typename: 'Query' } });
  });
});

test('production without CORS_ORIGINS allows no other origin', async () => {
  for (const origin of [ADMIN, STRANGER]) {
    assert.equal((await preflight(unlisted, origin)).headers.get('access-control-allow-origin'), null, origin);
    assert.equal((await post(unlisted, origin)).headers.get('access-control-allow-origin'), null, origin);
  }
});

test('development without CORS_ORIGINS stays permissive (yoga echoes the origin)', async () => {
  assert.equal(development.config.isProduction, false);
  assert.equal((await preflight(development, STRANGER)).headers.get('access-control-allow-origin'), STRANGER);
});

test('CORS_ORIGINS takes origins only: no path, no wildcard, no other scheme', () => {
  assert.deepEqual(loadConfig({ NODE_ENV: 'test', CORS_ORIGINS: ` ${ADMIN}/ ,${QUIZ}` }).corsOrigins, [ADMIN, QUIZ]);
  assert.deepEqual(loadConfig({ NODE_ENV: 'test' }).corsOrigins, []);
  for (const bad of ['*', 'https://admin.example.com/page', 'admin.example.com', 'ftp://admin.example.com', 'https://Admin.example.com']) {
    assert.throws(() => loadConfig({ NODE_ENV: 'test', CORS_ORIGINS: bad }), ConfigError, bad);
  }
});
