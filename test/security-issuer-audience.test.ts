// Issue 16: production requires AUTH_ISSUER and AUTH_AUDIENCE (a token the quiz platform's issuer signed for
// another of its services must not open this one), and every token's iss and aud are checked, over HTTP
// and on the websocket.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { ConfigError, loadConfig } from '../src/platform/config.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApp, TEST_AUTH_AUDIENCE, TEST_AUTH_CLAIMS, TEST_AUTH_ISSUER, tokenFor, type TestApp } from './helpers/app.ts';
import { wsClient } from './helpers/stack.ts';

const root = path.resolve(import.meta.dirname, '..');

const DEPLOYMENT: Record<string, string> = {
  NODE_ENV: 'production',
  DATABASE_URL: 'postgresql://gw@db.internal:5432/gateway',
  PUBLIC_URL: 'https://gateway.example.com',
  AMO_CLIENT_ID: 'client',
  AMO_CLIENT_SECRET: 'secret',
  AMO_REDIRECT_URI: 'https://gateway.example.com/webhook/create',
  TOKEN_ENCRYPTION_KEY: Buffer.alloc(32, 5).toString('base64'),
  AUTH_JWT_SECRET: 'an-operator-secret-of-enough-length-0123',
  ...TEST_AUTH_CLAIMS,
};

function without(...keys: string[]): Record<string, string> {
  return Object.fromEntries(Object.entries(DEPLOYMENT).filter(([k]) => !keys.includes(k)));
}

function refusal(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  return assert.fail('the settings were accepted');
}

describe('production settings', () => {
  test('AUTH_ISSUER and AUTH_AUDIENCE are required; with both the settings load', () => {
    assert.match(refusal(without('AUTH_ISSUER')), /AUTH_ISSUER: AUTH_ISSUER is required in production/);
    assert.match(refusal(without('AUTH_AUDIENCE')), /AUTH_AUDIENCE: AUTH_AUDIENCE is required in production/);
    const both = refusal(without('AUTH_ISSUER', 'AUTH_AUDIENCE'));
    assert.match(both, /AUTH_ISSUER is required/);
    assert.match(both, /AUTH_AUDIENCE is required/);
    assert.match(refusal({ ...DEPLOYMENT, AUTH_ISSUER: '  ' }), /AUTH_ISSUER is required/, 'blank is unset');
    // a deployment that forgot NODE_ENV is production too
    assert.match(refusal(without('NODE_ENV', 'AUTH_AUDIENCE')), /AUTH_AUDIENCE is required/);
    const config = loadConfig(DEPLOYMENT);
    assert.equal(config.auth.issuer, TEST_AUTH_ISSUER);
    assert.equal(config.auth.audience, TEST_AUTH_AUDIENCE);
    // development and test keep them optional
    assert.equal(loadConfig({ NODE_ENV: 'test' }).auth.issuer, undefined);
  });

  test('the gateway (src/main.ts) refuses to start without them and says why', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: root,
      env: { PATH: process.env.PATH, ...without('AUTH_ISSUER', 'AUTH_AUDIENCE'), PORT: '0', HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 2, output);
    assert.match(output, /AUTH_ISSUER is required in production/);
    assert.match(output, /AUTH_AUDIENCE is required in production/);
  });
});

describe('a production gateway checks iss and aud', () => {
  let testDb: TestDatabase;
  let gw: TestApp;
  before(async () => {
    testDb = await createTestDatabase();
    gw = await startTestApp(testDb, {
      config: {
        ...DEPLOYMENT,
        DATABASE_URL: testDb.url,
        AUTH_JWT_SECRET: 'the-issuer-audience-test-secret-0123456789',
        TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      },
    });
  });
  after(async () => {
    await gw?.stop();
    await testDb?.drop();
  });

  const secret = 'the-issuer-audience-test-secret-0123456789';
  const tokens = {
    'another audience': () => tokenFor('ia-tenant', { secret, audience: 'another-service' }),
    'another issuer': () => tokenFor('ia-tenant', { secret, issuer: 'https://elsewhere.example' }),
    'no audience': () => tokenFor('ia-tenant', { secret, audience: null }),
    'no issuer': () => tokenFor('ia-tenant', { secret, issuer: null }),
  };

  test('the right issuer and audience pass, over HTTP and the websocket', async () => {
    const token = await tokenFor('ia-tenant', { secret });
    const res = await gw.gql('{ __typename }', {}, token);
    assert.equal(res.status, 200);
    assert.deepEqual(res.data, { __typename: 'Query' });
    const client = wsClient(gw.url, token);
    try {
      const answer = await new Promise<unknown>((resolve, reject) => {
        let value: unknown;
        client.subscribe({ query: '{ __typename }' }, { next: (v) => (value = v), error: reject, complete: () => resolve(value) });
      });
      assert.deepEqual(answer, { data: { __typename: 'Query' } });
    } finally {
      await client.dispose();
    }
  });

  for (const [name, make] of Object.entries(tokens)) {
    test(`a token with ${name} is UNAUTHENTICATED over HTTP and closes the websocket with 4401`, async () => {
      const token = await make();
      const res = await gw.gql('{ __typename }', {}, token);
      assert.equal(res.status, 401);
      assert.equal(res.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
      assert.equal('data' in res, false);

      let closed: (code: number) => void;
      const closedWith = new Promise<number>((resolve) => (closed = resolve));
      const client = wsClient(gw.url, token, { onClose: (code) => closed(code) });
      try {
        const outcome = new Promise<string>((resolve) => {
          client.subscribe({ query: '{ __typename }' }, { next: () => resolve('answered'), error: () => resolve('refused'), complete: () => resolve('completed') });
        });
        assert.equal(await closedWith, 4401);
        assert.equal(await outcome, 'refused', 'no answer on a refused connection');
      } finally {
        await client.dispose();
      }
    });
  }
});
