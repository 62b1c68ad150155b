// Issue 16 (Medium): a token refresh holds no database connection while amoCRM answers. It
// claims the row by a short lease, calls the token endpoint with no transaction open, then
// stores; with a pool of two and the token endpoint stalled for two accounts, GraphQL still
// answers. A pair amoCRM issued survives a failed store (retried), and stays single-flight.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createAmoSimulator, type AmoSimulator } from '@quiz-gateway/amo-sim';
import { createDb, type Db } from '../src/platform/db.ts';
import { readAccessToken, refreshAccessToken, type FetchLike, type TokenContext } from '../src/platform/amo/index.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApp, tokenFor, type TestApp } from './helpers/app.ts';
import { until } from './helpers/wait.ts';
import { connectSimAccount, TEST_AMO_CLIENT_ID, TEST_AMO_CLIENT_SECRET, TEST_AMO_REDIRECT, testAmoConfig } from './helpers/amo.ts';

let testDb: TestDatabase;
let sim: AmoSimulator;
let small: Db;
let gw: TestApp;
const config = testAmoConfig();

before(async () => {
  testDb = await createTestDatabase();
  sim = createAmoSimulator({ clientId: TEST_AMO_CLIENT_ID, clientSecret: TEST_AMO_CLIENT_SECRET, redirectUri: TEST_AMO_REDIRECT });
  await sim.start();
  small = createDb(testDb.url, { max: 2 });
  gw = await startTestApp({ ...testDb, db: small });
});
after(async () => {
  await gw?.stop();
  await small?.$disconnect();
  await sim?.stop();
  await testDb?.drop();
});

const settledFlag = <T>(p: Promise<T>) => {
  const state = { settled: false };
  p.then(
    () => (state.settled = true),
    () => (state.settled = true),
  );
  return state;
};

test('with the token endpoint stalled for two accounts and a pool of two, GraphQL still answers', async () => {
  const a = await connectSimAccount(testDb.db, sim, config, { quizAccountId: 'refresh-a', accessExpiresAt: new Date(Date.now() - 1000) });
  const b = await connectSimAccount(testDb.db, sim, config, { quizAccountId: 'refresh-b', accessExpiresAt: new Date(Date.now() - 1000) });
  // amoCRM holds every token request until the test lets them through
  let tokenRequestsHeld = 0;
  let letThrough!: () => void;
  const amoAnswers = new Promise<void>((resolve) => (letThrough = resolve));
  const stalledFetch: FetchLike = async (input, init) => {
    tokenRequestsHeld++;
    await amoAnswers;
    return fetch(input, init);
  };
  const ctx: TokenContext = { db: small, config, fetch: stalledFetch };
  const refreshes = [refreshAccessToken(ctx, a.accountId), refreshAccessToken(ctx, b.accountId), refreshAccessToken(ctx, a.accountId, { knownVersion: 1 })] as const;
  const flags = refreshes.map(settledFlag);
  await until('both token requests to wait for amoCRM', async () => tokenRequestsHeld === 2);
  const answered = gw.gql('{ account { id name } }', {}, await tokenFor('refresh-a'));
  // a bound on waiting, not a timing claim: a refresh holding a connection would leave the query queued for good
  const res = await Promise.race([
    answered,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the query waited for a connection the refreshes held')), 60_000).unref()),
  ]);
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  assert.equal(res.data.account.id !== undefined, true);
  assert.deepEqual(
    flags.map((f) => f.settled),
    [false, false, false],
    'the query answered while every refresh was still waiting for amoCRM',
  );
  letThrough();

  const [ra, rb, waiter] = await Promise.all(refreshes);
  assert.equal(ra.refreshed, true);
  assert.equal(rb.refreshed, true);
  assert.equal(waiter.refreshed, false, 'the second refresh of A used the pair the first one stored');
  assert.equal(waiter.version, ra.version);
  assert.equal(sim.refreshCount(a.amoId), 1, 'single flight: one refresh request for A');
  assert.equal(sim.refreshCount(b.amoId), 1);
});

test('a store that fails after amoCRM rotated the pair is retried: the new pair is kept and works', async () => {
  const c = await connectSimAccount(testDb.db, sim, config, { quizAccountId: 'refresh-c', accessExpiresAt: new Date(Date.now() - 1000) });
  let failedStores = 0;
  // the database drops the first write of the refreshed pair
  const flaky = new Proxy(small, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop !== '$queryRaw' && prop !== '$executeRaw') return typeof value === 'function' ? value.bind(target) : value;
      return (strings: TemplateStringsArray, ...values: unknown[]) => {
        if (failedStores === 0 && strings.join('?').includes('refresh_token_enc =')) {
          failedStores++;
          return Promise.reject(new Error('connection terminated unexpectedly'));
        }
        return (value as (s: TemplateStringsArray, ...v: unknown[]) => Promise<unknown>).call(target, strings, ...values);
      };
    },
  }) as Db;
  const first = await refreshAccessToken({ db: flaky, config }, c.accountId);
  assert.equal(failedStores, 1, 'the first store failed');
  assert.equal(first.refreshed, true);
  assert.equal(sim.refreshCount(c.amoId), 1);

  const stored = await readAccessToken(testDb.db, config.tokenEncryptionKey, c.accountId);
  assert.equal(stored.accessToken, first.accessToken);
  assert.equal(stored.version, first.version);
  // the stored refresh token is the live one: the next refresh is accepted
  const second = await refreshAccessToken({ db: small, config }, c.accountId, { knownVersion: first.version });
  assert.equal(second.refreshed, true);
  assert.equal(sim.refreshCount(c.amoId), 2);
});
