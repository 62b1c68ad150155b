// Issue 16 (Medium): the OAuth callback's `referer` is chosen by whoever opens the callback,
// and the gateway posts the code and its client secret to that host. Only amoCRM's domains
// (or, outside production, simulator hosts listed in AMO_ALLOWED_HOSTS) are ever called.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { acceptableAmoHost, amoOrigin, exchangeCode } from '../src/platform/amo/index.ts';
import { loadConfig } from '../src/platform/config.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { tokenFor } from './helpers/app.ts';
import { TEST_AMO_CLIENT_ID, testAmoConfig } from './helpers/amo.ts';
import { startStack, type Stack } from './helpers/stack.ts';

let testDb: TestDatabase;
let stack: Stack;

/** A host that is not the simulator: 127.0.0.2 is loopback too, but not listed in AMO_ALLOWED_HOSTS. */
async function listener(answer: (req: IncomingMessage) => { status: number; headers?: Record<string, string> }, host = '127.0.0.2') {
  const seen: string[] = [];
  const server: Server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    req.resume();
    const { status, headers } = answer(req);
    res.writeHead(status, headers).end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return { seen, host: `${host}:${port}`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

before(async () => {
  testDb = await createTestDatabase();
  stack = await startStack(testDb);
});
after(async () => {
  await stack?.stop();
  await testDb?.drop();
});

test('account hosts: amoCRM domains over https; http only for listed simulator host names, never in production', () => {
  const dev = { allowHttp: true, allowedHosts: ['127.0.0.1', 'localhost'] };
  assert.equal(amoOrigin('example.amocrm.ru', dev), 'https://example.amocrm.ru');
  assert.equal(amoOrigin('example.kommo.com', { allowHttp: false }), 'https://example.kommo.com');
  assert.equal(amoOrigin('127.0.0.1:4010', dev), 'http://127.0.0.1:4010');
  for (const host of ['127.0.0.2:80', '10.0.0.5', 'metadata.google.internal', 'evil.example.com:8080', 'amocrm.ru.evil.com', 'example.amocrm.ru:8443']) {
    assert.equal(acceptableAmoHost(host, dev), false, host);
    assert.throws(() => amoOrigin(host, dev), /not an amoCRM domain|https/, host);
  }
  assert.throws(() => amoOrigin('http://example.amocrm.ru', dev), /https/);

  const production = loadConfig({
    NODE_ENV: 'production',
    DATABASE_URL: 'postgresql://gw@db/gw',
    PUBLIC_URL: 'https://gw.example.com',
    AMO_CLIENT_ID: 'c',
    AMO_CLIENT_SECRET: 's',
    AMO_REDIRECT_URI: 'https://gw.example.com/webhook/create',
    TOKEN_ENCRYPTION_KEY: Buffer.alloc(32, 3).toString('base64'),
    AUTH_JWT_SECRET: 'x'.repeat(40),
    AUTH_ISSUER: 'https://quiz.example.com',
    AUTH_AUDIENCE: 'quiz-amocrm-gateway',
    AMO_ALLOW_HTTP: 'true',
  });
  assert.equal(production.amo.allowHttp, false, 'AMO_ALLOW_HTTP has no effect in production');
  assert.equal(acceptableAmoHost('127.0.0.1:4010', production.amo), false);
  assert.equal(acceptableAmoHost('example.amocrm.com', production.amo), true);
});

test('a callback whose referer names another host is refused, and that host receives nothing', async () => {
  const other = await listener(() => ({ status: 200 }));
  try {
    const res = await stack.gw.gql('mutation { connectAccount { link } }', {}, await tokenFor('sec-hosts'));
    const state = new URL(res.data.connectAccount.link).searchParams.get('state')!;
    const callback = await fetch(`${stack.gw.url}/webhook/create?code=some-code&referer=${encodeURIComponent(other.host)}&state=${state}&client_id=${TEST_AMO_CLIENT_ID}`);
    assert.equal(callback.status, 400);
    // the callback is answered only after its code exchange (were there one) got its answer, so
    // whatever reached the referer's host was already recorded
    assert.deepEqual(other.seen, [], 'no request (and no client secret) reached the referer’s host');
  } finally {
    await other.close();
  }
});

test('the token request does not follow a redirect: the code and client secret go nowhere else', async () => {
  const target = await listener(() => ({ status: 200 }));
  const redirecting = await listener(() => ({ status: 307, headers: { location: `http://${target.host}/oauth2/access_token` } }), '127.0.0.1');
  try {
    await assert.rejects(exchangeCode({ config: testAmoConfig({ allowedHosts: ['127.0.0.1', '127.0.0.2'] }) }, redirecting.host, 'a-code'));
    assert.deepEqual(redirecting.seen, ['POST /oauth2/access_token']);
    assert.deepEqual(target.seen, [], 'the redirect was not followed');
  } finally {
    await target.close();
    await redirecting.close();
  }
});
