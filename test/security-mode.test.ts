// Issue 16 (High): development is an explicit choice. A deployment that
// configures real services but forgets NODE_ENV gets production's checks, the
// built-in secret and key are refused there, and the banner never prints a
// token signed with an operator's secret.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jwtVerify } from 'jose';
import { ConfigError, loadConfig } from '../src/platform/config.ts';
import { devToken } from '../src/dev/dev-token.ts';

const DEPLOYMENT = {
  DATABASE_URL: 'postgresql://gw@db.internal:5432/gateway',
  PUBLIC_URL: 'https://gateway.example.com',
  AMO_CLIENT_ID: 'client',
  AMO_CLIENT_SECRET: 'secret',
  AMO_REDIRECT_URI: 'https://gateway.example.com/webhook/create',
  TOKEN_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64'),
  AUTH_JWT_SECRET: 'an-operator-secret-of-enough-length-0123',
  AUTH_ISSUER: 'https://quiz.example.com',
  AUTH_AUDIENCE: 'quiz-amocrm-gateway',
};

function refusal(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  assert.fail(`settings accepted: ${JSON.stringify(env)}`);
}

test('nothing configured and no NODE_ENV: development on embedded defaults, with the built-in secret', () => {
  const config = loadConfig({});
  assert.equal(config.env, 'development');
  assert.equal(config.isProduction, false);
  assert.equal(config.auth.devSecret, true);
  assert.equal(config.graphiql, true);
});

test('DATABASE_URL or KAFKA_BROKERS without NODE_ENV is production: the built-in secret and key are refused', () => {
  const reals: Record<string, string>[] = [{ DATABASE_URL: DEPLOYMENT.DATABASE_URL }, { KAFKA_BROKERS: 'kafka.internal:9092' }];
  for (const real of reals) {
    const message = refusal(real);
    assert.match(message, /TOKEN_ENCRYPTION_KEY: TOKEN_ENCRYPTION_KEY is required in production/);
    assert.match(message, /AUTH_JWT_SECRET or AUTH_JWKS_URL is required in production/);
  }
  const config = loadConfig(DEPLOYMENT);
  assert.equal(config.env, 'production');
  assert.equal(config.graphiql, false, 'no GraphiQL in a deployment that forgot NODE_ENV');
  assert.equal(config.auth.devSecret, false);
});

test('the built-in values named explicitly are refused in production too', () => {
  const dev = loadConfig({ NODE_ENV: 'development' });
  const message = refusal({
    ...DEPLOYMENT,
    AUTH_JWT_SECRET: dev.auth.jwtSecret!,
    TOKEN_ENCRYPTION_KEY: dev.tokenEncryptionKey.toString('base64'),
  });
  assert.match(message, /AUTH_JWT_SECRET: the built-in development secret is refused/);
  assert.match(message, /TOKEN_ENCRYPTION_KEY: the built-in development key is refused/);
});

test('NODE_ENV=development is the explicit choice that keeps development with real services', () => {
  const config = loadConfig({ NODE_ENV: 'development', DATABASE_URL: DEPLOYMENT.DATABASE_URL });
  assert.equal(config.isProduction, false);
  assert.equal(config.auth.devSecret, true);
});

test('the dev token is signed only with the built-in secret, never with an operator’s', async () => {
  const builtIn = loadConfig({ NODE_ENV: 'development' });
  const token = await devToken(builtIn, 'demo');
  assert.ok(token, 'the built-in secret gives the demo tenant a token');
  const { payload } = await jwtVerify(token, new TextEncoder().encode(builtIn.auth.jwtSecret!));
  assert.equal(payload.accountId, 'demo');

  const operator = loadConfig({ NODE_ENV: 'development', AUTH_JWT_SECRET: DEPLOYMENT.AUTH_JWT_SECRET });
  assert.equal(await devToken(operator, 'demo'), undefined);
});
