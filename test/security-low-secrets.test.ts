// Issue 16 (Low), secrets: production requires an HS256 secret of at least 32 bytes; token keys have ids (TOKEN_ENCRYPTION_KEYS, TOKEN_ENCRYPTION_KEY = k1) so
// they can be rotated; a ciphertext is bound to its account and column; tokens stored in the
// format before key ids still decrypt and are rewritten in the new one on the next write.
import { createCipheriv, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../src/platform/config.ts';
import { decryptSecret, encryptSecret, readAccessToken, saveTokens, tokenAad, TokenDecryptError } from '../src/platform/amo/index.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';

const KEY_1 = Buffer.alloc(32, 11);
const KEY_2 = Buffer.alloc(32, 22);
const DEPLOYMENT = {
  NODE_ENV: 'production',
  DATABASE_URL: 'postgresql://gw@db.internal:5432/gateway',
  PUBLIC_URL: 'https://gateway.example.com',
  AMO_CLIENT_ID: 'client',
  AMO_CLIENT_SECRET: 'secret',
  AMO_REDIRECT_URI: 'https://gateway.example.com/webhook/create',
  TOKEN_ENCRYPTION_KEY: KEY_1.toString('base64'),
  AUTH_JWT_SECRET: 'an-operator-secret-of-enough-length-0123',
  AUTH_ISSUER: 'https://quiz.example.com',
  AUTH_AUDIENCE: 'quiz-amocrm-gateway',
};

function refusal(env: Record<string, string | undefined>): string {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.message;
  }
  return assert.fail('the settings were accepted');
}

/** A value in the format before key ids: `v1.<iv>.<tag>.<ciphertext>`, no associated data. */
function v1(plain: string, key: Buffer): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
  const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return ['v1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), ct.toString('base64url')].join('.');
}

describe('production settings', () => {
  test('an HS256 secret shorter than 32 bytes is refused; 32 bytes pass', () => {
    assert.match(refusal({ ...DEPLOYMENT, AUTH_JWT_SECRET: 'x'.repeat(31) }), /AUTH_JWT_SECRET: AUTH_JWT_SECRET must be at least 32 bytes/);
    assert.equal(loadConfig({ ...DEPLOYMENT, AUTH_JWT_SECRET: 'x'.repeat(32) }).auth.jwtSecret, 'x'.repeat(32));
  });

  test('a token key is required, TOKEN_ENCRYPTION_KEY or TOKEN_ENCRYPTION_KEYS', () => {
    assert.match(refusal({ ...DEPLOYMENT, TOKEN_ENCRYPTION_KEY: undefined }), /TOKEN_ENCRYPTION_KEY is required in production/);
    const keys = loadConfig({ ...DEPLOYMENT, TOKEN_ENCRYPTION_KEY: undefined, TOKEN_ENCRYPTION_KEYS: `k2:${KEY_2.toString('base64')}` }).tokenKeys;
    assert.equal(keys.current, 'k2');
  });
});

describe('token keys with ids', () => {
  test('TOKEN_ENCRYPTION_KEY alone is the key k1; TOKEN_ENCRYPTION_KEYS lists keys by id, the first encrypting new writes', () => {
    const single = loadConfig(DEPLOYMENT).tokenKeys;
    assert.equal(single.current, 'k1');
    assert.deepEqual(single.keys.get('k1'), KEY_1);
    const rotated = loadConfig({ ...DEPLOYMENT, TOKEN_ENCRYPTION_KEYS: `k2:${KEY_2.toString('base64')}` });
    assert.equal(rotated.tokenKeys.current, 'k2');
    assert.deepEqual(rotated.tokenKeys.keys.get('k1'), KEY_1, 'the old key still reads');
    assert.deepEqual(rotated.tokenEncryptionKey, KEY_2);
    assert.match(refusal({ ...DEPLOYMENT, TOKEN_ENCRYPTION_KEYS: 'k2:c2hvcnQ=' }), /TOKEN_ENCRYPTION_KEYS: key k2 must be 32 bytes/);
    assert.match(refusal({ ...DEPLOYMENT, TOKEN_ENCRYPTION_KEYS: `${KEY_2.toString('base64')}` }), /TOKEN_ENCRYPTION_KEYS: each entry is id:base64key/);
  });

  test('a value names its key: after a rotation old values decrypt, new ones use the new key, a removed key fails clearly', () => {
    const before = { current: 'k1', keys: new Map([['k1', KEY_1]]) };
    const after = {
      current: 'k2',
      keys: new Map([
        ['k2', KEY_2],
        ['k1', KEY_1],
      ]),
    };
    const aad = tokenAad('acc-1', 'access');
    const old = encryptSecret('access-token', before, aad);
    assert.equal(decryptSecret(old, after, aad), 'access-token');
    const fresh = encryptSecret('access-token', after, aad);
    assert.equal(fresh.split('.')[1], 'k2');
    assert.throws(
      () => decryptSecret(fresh, before, aad),
      (e: unknown) => e instanceof TokenDecryptError && /key id "k2"/.test(e.message),
    );
  });

  test('a ciphertext moved to another account or column fails to decrypt', () => {
    const keys = { current: 'k1', keys: new Map([['k1', KEY_1]]) };
    const stored = encryptSecret('refresh-token', keys, tokenAad('acc-1', 'refresh'));
    assert.equal(decryptSecret(stored, keys, tokenAad('acc-1', 'refresh')), 'refresh-token');
    assert.throws(() => decryptSecret(stored, keys, tokenAad('acc-2', 'refresh')), TokenDecryptError);
    assert.throws(() => decryptSecret(stored, keys, tokenAad('acc-1', 'access')), TokenDecryptError);
  });
});

describe('stored tokens', () => {
  let tdb: TestDatabase;
  before(async () => {
    tdb = await createTestDatabase();
  });
  after(async () => {
    await tdb?.drop();
  });

  const account = (quizAccountId: string, amoId: number) =>
    tdb.db.amoAccount.create({ data: { quizAccountId, amoId, name: 'A', subdomain: 'a', host: 'a.amocrm.ru', webhookSecret: randomBytes(8).toString('hex') } });
  const pair = (tag: string) => ({ accessToken: `access-${tag}`, refreshToken: `refresh-${tag}`, expiresIn: 86_400, accessExpiresAt: new Date(Date.now() + 86_400_000) });

  test("another account's ciphertext copied into a row is refused", async () => {
    const a = await account('aad-a', 920_001);
    const b = await account('aad-b', 920_002);
    await saveTokens(tdb.db, KEY_1, a.id, pair('a'));
    await saveTokens(tdb.db, KEY_1, b.id, pair('b'));
    assert.equal((await readAccessToken(tdb.db, KEY_1, a.id)).accessToken, 'access-a');
    const ofA = await tdb.db.amoToken.findUniqueOrThrow({ where: { accountId: a.id } });
    await tdb.db.amoToken.update({ where: { accountId: b.id }, data: { accessTokenEnc: ofA.accessTokenEnc } });
    await assert.rejects(readAccessToken(tdb.db, KEY_1, b.id), TokenDecryptError, "A's access token opened B's row");
    // and the refresh column's value in the access column
    await tdb.db.amoToken.update({ where: { accountId: a.id }, data: { accessTokenEnc: ofA.refreshTokenEnc } });
    await assert.rejects(readAccessToken(tdb.db, KEY_1, a.id), TokenDecryptError, 'the refresh token read as the access token');
  });

  test('a pair stored before key ids still decrypts, and the next write stores the new format', async () => {
    const a = await account('legacy-a', 920_003);
    await tdb.db.amoToken.create({
      data: { accountId: a.id, accessTokenEnc: v1('access-old', KEY_1), refreshTokenEnc: v1('refresh-old', KEY_1), accessExpiresAt: new Date(Date.now() + 3_600_000) },
    });
    const keys = loadConfig({ ...DEPLOYMENT, TOKEN_ENCRYPTION_KEYS: `k2:${KEY_2.toString('base64')}` }).tokenKeys;
    assert.equal((await readAccessToken(tdb.db, keys, a.id)).accessToken, 'access-old');
    await saveTokens(tdb.db, keys, a.id, pair('new'));
    const row = await tdb.db.amoToken.findUniqueOrThrow({ where: { accountId: a.id } });
    assert.match(row.accessTokenEnc, /^v2\.k2\./);
    assert.match(row.refreshTokenEnc, /^v2\.k2\./);
    assert.equal((await readAccessToken(tdb.db, keys, a.id)).accessToken, 'access-new');
  });
});
