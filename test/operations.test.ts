// Issue 6, operations: health, readiness, metrics, log redaction, shutdown and queue lag.
// Query and body limits and production mode: operations-hardening.test.ts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decryptSecret, tokenAad } from '../src/platform/amo/index.ts';
import { createDb } from '../src/platform/db.ts';
import { countAmoCalls } from '../src/platform/http/metrics.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApp, tokenFor, type TestApp } from './helpers/app.ts';
import { TEST_AMO_CLIENT_ID, TEST_AMO_CLIENT_SECRET } from './helpers/amo.ts';
import { kafkaSettings, startStack, untilListening, wsClient, type Stack } from './helpers/stack.ts';
import { only } from './helpers/narrow.ts';

let testDb: TestDatabase;
let gw: TestApp;
let token: string;

before(async () => {
  testDb = await createTestDatabase();
  gw = await startTestApp(testDb);
  token = await tokenFor('ops-tenant');
});
after(async () => {
  await gw?.stop();
  await testDb?.drop();
});

describe('health', () => {
  test('/healthz and /readyz answer 200 with the database and queue up', async () => {
    const health = await fetch(`${gw.url}/healthz`);
    assert.equal(health.status, 200);
    const ready = await fetch(`${gw.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { database: true, queue: true });
  });

  test('/readyz is 503 when the database is unreachable (/healthz stays 200)', async () => {
    const unreachable = createDb('postgresql://postgres@127.0.0.1:1/nowhere');
    const broken = await startTestApp({ ...testDb, db: unreachable });
    try {
      const ready = await fetch(`${broken.url}/readyz`);
      assert.equal(ready.status, 503);
      assert.deepEqual(await ready.json(), { database: false, queue: true });
      assert.equal((await fetch(`${broken.url}/healthz`)).status, 200);
    } finally {
      await broken.stop();
      await unreachable.$disconnect();
    }
  });
});

describe('/metrics', () => {
  test('Prometheus text with HTTP, GraphQL, delivery, sync, amoCRM and queue series', async () => {
    // Some traffic: a named query, a failing one, a miss.
    assert.equal((await gw.gql('query AccountOverview { account { id } }', {}, token)).status, 200);
    await gw.gql('query Broken { nope }', {}, token);
    await fetch(`${gw.url}/no-such-page`);
    // Deliveries in every status, written as the workers would.
    const counts = { PENDING: 3, DELIVERED: 2, FAILED: 1 } as const;
    let n = 0;
    for (const [status, count] of Object.entries(counts)) {
      for (let i = 0; i < count; i++) {
        await testDb.db.delivery.create({
          data: { quizAccountId: 'ops-tenant', quizId: 'q1', resultId: `r${n++}`, payload: {}, status: status as keyof typeof counts },
        });
      }
    }
    gw.app.services.metrics!.amoCalls.inc({ status: '200' });

    const res = await fetch(`${gw.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    for (const name of [
      'process_cpu_user_seconds_total',
      'nodejs_eventloop_lag_seconds',
      'gateway_http_request_duration_seconds',
      'gateway_graphql_operation_duration_seconds',
      'gateway_deliveries',
      'gateway_sync_job_duration_seconds',
      'gateway_amo_calls_total',
      'gateway_queue_lag_messages',
    ]) {
      assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), `${name} is exposed`);
    }
    assert.match(text, /^gateway_http_request_duration_seconds_count\{route="\/graphql",method="POST",status="200"\} \d+/m);
    assert.match(text, /^gateway_http_request_duration_seconds_count\{route="unmatched",method="GET",status="404"\} 1$/m);
    assert.match(text, /^gateway_graphql_operation_duration_seconds_count\{operation="AccountOverview",type="query",error="false"\} 1$/m);
    assert.match(text, /^gateway_graphql_operation_duration_seconds_count\{operation="Broken",type="query",error="true"\} 1$/m);
    assert.match(text, /^gateway_amo_calls_total\{status="200"\} 1$/m);
    assert.match(text, /^gateway_queue_lag_messages\{topic="quiz\.results"\} 0$/m);

    // The gauge is what the database says.
    const rows = await testDb.db.$queryRaw<{ status: string; count: bigint }[]>`SELECT status::text AS status, count(*) AS count FROM delivery GROUP BY status`;
    assert.equal(rows.length, 3);
    for (const row of rows) {
      assert.match(text, new RegExp(`^gateway_deliveries\\{status="${row.status}"\\} ${Number(row.count)}$`, 'm'));
    }
  });

  test('sync job durations come from jobs finished since the previous scrape, each once', async () => {
    const account = await testDb.db.amoAccount.create({
      data: { quizAccountId: 'ops-sync', amoId: 424242, subdomain: 'opssync', name: 'Ops', host: 'opssync.amocrm.ru', webhookSecret: 'w' },
    });
    const now = Date.now();
    await testDb.db.syncJob.create({
      data: { accountId: account.id, scopes: ['TAGS'], status: 'SUCCEEDED', startedAt: new Date(now + 1000), finishedAt: new Date(now + 3500) },
    });
    const count = async () => {
      const text = await (await fetch(`${gw.url}/metrics`)).text();
      return Number(/^gateway_sync_job_duration_seconds_count\{status="SUCCEEDED"\} (\d+)$/m.exec(text)?.[1] ?? 0);
    };
    assert.equal(await count(), 1);
    assert.equal(await count(), 1, 'not observed again');
  });
});

describe('logs', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack(testDb);
  });
  after(async () => {
    await stack?.stop();
  });

  test('every request is logged; no JWT, amoCRM token, secret or OAuth code reaches the logs', async () => {
    const owner = await tokenFor('ops-owner');
    const amo = stack.sim.seedAccount({ pipelines: 1 });
    const connect = await stack.gw.gql('mutation { connectAccount { link } }', {}, owner);
    const link = new URL(connect.data.connectAccount.link);
    const state = link.searchParams.get('state')!;
    const redirect = stack.sim.authorize({ accountId: amo.id, state, consent: 'allow', clientId: TEST_AMO_CLIENT_ID });
    const code = new URL(redirect).searchParams.get('code')!;
    assert.equal((await fetch(redirect)).status, 200);
    assert.equal((await stack.gw.gql('{ account { amoId } }', {}, owner)).data.account.amoId, amo.id);
    // A refused token is logged too (the request, not the token).
    await stack.gw.gql('{ account { id } }', {}, `${owner}x`);

    const rows = await testDb.db.$queryRaw<{ account_id: string; access_token_enc: string; refresh_token_enc: string }[]>`
      SELECT t.account_id, t.access_token_enc, t.refresh_token_enc FROM amo_token t JOIN amo_account a ON a.id = t.account_id WHERE a.quiz_account_id = 'ops-owner'`;
    const row = only(rows, 'token row');
    const key = Buffer.alloc(32, 42);
    const secrets = {
      'bearer JWT': owner,
      'JWT signature': owner.split('.')[2],
      'amoCRM access token': decryptSecret(row.access_token_enc, key, tokenAad(row.account_id, 'access')),
      'amoCRM refresh token': decryptSecret(row.refresh_token_enc, key, tokenAad(row.account_id, 'refresh')),
      'client secret': TEST_AMO_CLIENT_SECRET,
      'OAuth code': code,
      'OAuth state': state,
    };
    const logs = stack.logs.text;
    for (const [what, secret] of Object.entries(secrets)) {
      assert.ok(secret && secret.length >= 8, what);
      assert.ok(!logs.includes(secret), `${what} found in the logs`);
    }

    const requests = logs
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((entry) => entry.msg === 'request');
    const graphql = requests.filter((r) => r.route === '/graphql');
    assert.ok(graphql.length >= 3);
    assert.deepEqual([...new Set(graphql.map((r) => r.status))].sort(), [200, 401]);
    for (const r of graphql) {
      assert.equal(r.level, 30);
      assert.equal(r.method, 'POST');
      assert.equal(typeof r.durationMs, 'number');
      assert.equal(r.authorization, '[redacted]');
    }
    const callback = requests.find((r) => r.route === '/webhook/create');
    assert.ok(callback, 'the OAuth callback is logged');
    assert.equal(callback.status, 200);
  });
});

describe('shutdown', () => {
  test('stop() closes open websockets with 1001, refuses new requests, and is idempotent', async () => {
    const own = await startTestApp(testDb);
    let closedWith: number | undefined;
    const closed = new Promise<void>((resolve) => {
      const client = wsClient(own.url, token, {
        onClose: (code) => {
          closedWith = code;
          resolve();
        },
      });
      // A live subscription, as the SPA keeps one.
      client.subscribe({ query: 'subscription { syncCompleted { id } }' }, { next: () => {}, error: () => {}, complete: () => {} });
    });
    // Connected and subscribed (the server says so).
    await untilListening(() => own.app.services.pubsub.listening('sync.completed', 'ops-tenant') > 0);
    const first = own.stop();
    const second = own.stop();
    assert.equal(first, second, 'one shutdown');
    await first;
    await closed;
    assert.equal(closedWith, 1001);
    await own.stop();
    await assert.rejects(fetch(`${own.url}/healthz`));
  });
});

describe('amoCRM call counter', () => {
  test('countAmoCalls counts responses by status and failures as "error"', async () => {
    const metrics = gw.app.services.metrics!;
    const fake = async (input: string | URL | Request) => {
      if (String(input).includes('down')) throw new TypeError('fetch failed');
      return new Response('{}', { status: String(input).includes('limited') ? 429 : 201 });
    };
    const counted = countAmoCalls(metrics, fake)!;
    await counted('https://a.amocrm.ru/api/v4/leads');
    await counted('https://a.amocrm.ru/api/v4/limited');
    await assert.rejects(counted('https://a.amocrm.ru/api/v4/down'));
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    assert.match(text, /^gateway_amo_calls_total\{status="201"\} 1$/m);
    assert.match(text, /^gateway_amo_calls_total\{status="429"\} 1$/m);
    assert.match(text, /^gateway_amo_calls_total\{status="error"\} 1$/m);
    assert.equal(countAmoCalls(undefined, fake), fake, 'no metrics: the fetch as it was');
  });
});

describe('queue lag on Kafka', () => {
  test('lag of the workers group, from the broker', { skip: process.env.KAFKA_BROKERS ? false : 'KAFKA_BROKERS not set' }, async () => {
    const kafka = await startTestApp(testDb, { config: kafkaSettings() });
    try {
      const { queue } = kafka.app.services;
      assert.equal(queue.kind, 'kafka');
      // No workers run here: nothing consumes, so everything published waits.
      for (let i = 0; i < 3; i++) await queue.publish('quiz.results', `tenant-${i}`, { quizAccountId: `tenant-${i}`, n: i });
      await queue.publish('amo.tasks', 'tenant-0', { type: 'noop' });
      const text = await (await fetch(`${kafka.url}/metrics`)).text();
      assert.match(text, /^gateway_queue_lag_messages\{topic="quiz\.results"\} 3$/m);
      assert.match(text, /^gateway_queue_lag_messages\{topic="amo\.tasks"\} 1$/m);
    } finally {
      await kafka.stop();
    }
  });
});
