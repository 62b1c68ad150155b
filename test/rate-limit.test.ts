// The per-account amoCRM limiter: a request woken late fires (the rule counts windows from
// answers, so lateness only delays), a 429 sends this process's sleepers back to reserve after Retry-After, and a full
// gateway (connect → sync → rule → 120 deliveries → reconnect) never sends amoCRM more than 7
// requests in any second, as the simulator's own log counts them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRateLimiter } from '../src/platform/amo/index.ts';
import type { Db } from '../src/platform/db.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { tokenFor } from './helpers/app.ts';
import { TEST_AMO_CLIENT_ID } from './helpers/amo.ts';
import { startStack, type Stack } from './helpers/stack.ts';
import { until } from './helpers/wait.ts';

let tdb: TestDatabase;

before(async () => {
  tdb = await createTestDatabase();
});
after(async () => {
  await tdb?.drop();
});

let nextAmoId = 900_000;

/** The reserve statements among a Db's raw queries (releases go through $queryRaw too). */
const isReserve = (args: unknown[]) => String((args[0] as string[] | undefined)?.join?.('') ?? '').includes('amo_rate_reserve');

/**
 * A limiter on a clock of its own: real time plus `stall`. The fake sleep moves that clock by the
 * time slept (nothing really waits) plus `wakeStalls.shift()`.
 */
function harness() {
  const h = { stall: 0, reservations: 0, wakeStalls: [] as number[], sleeps: [] as number[], lates: [] as number[] };
  const db = new Proxy(tdb.db, {
    get(target, prop, receiver) {
      if (prop !== '$queryRaw') return Reflect.get(target, prop, receiver);
      return async (...args: unknown[]) => {
        if (isReserve(args)) h.reservations++;
        return (target.$queryRaw as (...a: unknown[]) => Promise<unknown>)(...args);
      };
    },
  }) as Db;
  const limiter = createRateLimiter(db, {
    rps: 7,
    now: () => Date.now() + h.stall,
    sleep: async (ms) => {
      h.sleeps.push(ms);
      h.stall += ms + (h.wakeStalls.shift() ?? 0);
    },
    onLate: (_id, late) => h.lates.push(late),
  });
  return { h, limiter };
}

describe('late wake-ups', () => {
  test('a request woken 150 ms after its slot fires there (a late send only arrives later), reported as late', async () => {
    const { h, limiter } = harness();
    const amoId = nextAmoId++;
    for (let i = 0; i < 7; i++) (await limiter.acquire(amoId)).arrived(); // seven answered at once: the 8th waits a window
    assert.equal(h.reservations, 7);
    await until('the answers are logged', async () => {
      const rows = await tdb.db.$queryRaw<Array<{ n: number }>>`
        SELECT count(*)::int AS n FROM amo_rate_limit, unnest(recent_arrivals) a WHERE amo_id = ${amoId} AND a IS NOT NULL`;
      return rows[0]?.n === 7;
    });
    h.wakeStalls.push(150);
    await limiter.acquire(amoId);
    assert.equal(h.reservations, 8, 'one reserve: no new slot for a late wake-up');
    assert.equal(h.sleeps.length, 1);
    assert.ok(h.sleeps[0]! > 500, `slept ${h.sleeps[0]} ms: a window after the answers`);
    assert.equal(h.lates.length, 1);
    assert.ok(h.lates[0]! >= 150, `late by ${h.lates[0]}`);
  });
});

describe('429', () => {
  test("penalize sends this process's sleepers of the account back to reserve after Retry-After", async () => {
    const amoId = nextAmoId++;
    const sleeps: Array<{ ms: number; resolve: () => void }> = [];
    let reservations = 0;
    const db = new Proxy(tdb.db, {
      get(target, prop, receiver) {
        if (prop !== '$queryRaw') return Reflect.get(target, prop, receiver);
        return (...args: unknown[]) => {
          if (isReserve(args)) reservations++;
          return (target.$queryRaw as (...a: unknown[]) => Promise<unknown>)(...args);
        };
      },
    }) as Db;
    const limiter = createRateLimiter(db, {
      rps: 7,
      // short waits (for the answers to be logged) pass at once; slots a window or more away are parked
      sleep: (ms, signal) =>
        new Promise<void>((resolve, reject) => {
          if (ms < 300) return void setTimeout(resolve, ms);
          sleeps.push({ ms, resolve });
          signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
        }),
    });
    for (let i = 0; i < 7; i++) (await limiter.acquire(amoId)).arrived(); // the window is full: the next two sleep
    const waiting = [limiter.acquire(amoId), limiter.acquire(amoId)];
    await until('two sleepers', async () => sleeps.length === 2);
    const before = reservations;
    await limiter.penalize(amoId, 5_000);
    await until('both reserved again', async () => sleeps.length === 4);
    assert.equal(reservations, before + 2);
    for (const s of sleeps.slice(2)) assert.ok(s.ms >= 5_000 - 100, `a new slot ${s.ms} ms away lies inside Retry-After`);
    for (const s of sleeps.slice(2)) s.resolve();
    await Promise.all(waiting);
  });

  test("a caller's abort still rejects with its own reason", async () => {
    const amoId = nextAmoId++;
    const limiter = createRateLimiter(tdb.db, { rps: 7 });
    for (let i = 0; i < 7; i++) await limiter.acquire(amoId); // seven unanswered: the next one waits
    const ac = new AbortController();
    const waiting = limiter.acquire(amoId, ac.signal);
    ac.abort(new Error('stopping'));
    await assert.rejects(waiting, /stopping/);
  });
});

describe('a whole gateway against the simulator', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack(tdb, { workers: true, simOptions: { rateLimitCountsRejected: true } });
  });
  after(async () => {
    await stack?.stop();
  });

  async function connect(token: string, amoId: number) {
    const res = await stack.gw.gql('mutation { connectAccount { link } }', {}, token);
    assert.equal(res.errors, undefined, JSON.stringify(res.errors));
    const link = new URL(res.data.connectAccount.link);
    const redirect = new URL(stack.sim.authorize({ accountId: amoId, state: link.searchParams.get('state')!, consent: 'allow', clientId: TEST_AMO_CLIENT_ID }));
    assert.equal((await fetch(`${stack.gw.url}${redirect.pathname}${redirect.search}`)).status, 200);
  }
  const lastSync = async (token: string) => (await stack.gw.gql('{ account { lastSync { id status error } } }', {}, token)).data.account.lastSync;
  const synced = (token: string, notId?: string) =>
    until(
      'a sync',
      async () => {
        const s = await lastSync(token);
        return s && s.id !== notId && s.status === 'SUCCEEDED' ? s : null;
      },
      120_000,
    );

  test('connect → sync → rule → 120 deliveries → reconnect: at most 7 requests in any second, no 429', async () => {
    const tenant = 'rl-e2e';
    const amo = stack.sim.seedAccount({ pipelines: 3, fieldsPerEntity: 300, tagsPerEntity: 600 });
    const token = await tokenFor(tenant);
    await connect(token, amo.id);
    const first = await synced(token);

    const ids = (await stack.gw.gql('{ pipelines(first: 1) { edges { node { id steps(first: 2) { edges { node { id } } } } } } }', {}, token)).data;
    const rule = await stack.gw.gql(
      'mutation($input: RuleInput!) { createQuizRule(quizId: "quiz-rl", input: $input) { id } }',
      {
        input: { pipelineId: ids.pipelines.edges[0].node.id, stepId: ids.pipelines.edges[0].node.steps.edges[1].node.id },
      },
      token,
    );
    assert.equal(rule.errors, undefined, JSON.stringify(rule.errors));

    const submit = (i: number) =>
      stack.gw.gql(
        'mutation($input: QuizResultInput!) { submitQuizResult(input: $input) { id } }',
        {
          input: { resultId: `rl-${i}`, quizId: 'quiz-rl', contact: { name: `Клиент ${i}`, phone: `+7901000${String(i).padStart(4, '0')}` }, answers: [] },
        },
        token,
      );
    for (let i = 0; i < 120; i += 20) await Promise.all(Array.from({ length: 20 }, (_, k) => submit(i + k)));
    const delivered = () => tdb.db.delivery.count({ where: { quizAccountId: tenant, status: 'DELIVERED' } });
    await until('the first deliveries', async () => (await delivered()) > 0, 120_000);

    // Another quiz account connected to the same amoCRM account keeps its limiter busy (its sync
    // pages through ~30 lists at full rate) while the tokens of the first die and its owner
    // connects again: the code exchange and the account read meet that sync, the new sync, the
    // webhook subscription and the deliveries that were waiting, all on one amoCRM account.
    const other = await tokenFor('rl-e2e-other');
    await connect(other, amo.id);
    const otherFirst = await synced(other);
    const resync = await stack.gw.gql('mutation { syncAccount { id } }', {}, other);
    assert.equal(resync.errors, undefined, JSON.stringify(resync.errors));
    await tdb.db.amoAccount.updateMany({ where: { quizAccountId: tenant, deletedAt: null }, data: { stale: true, staleAt: new Date() } });
    await connect(token, amo.id);
    await until('every delivery', async () => (await delivered()) === 120, 180_000);
    await synced(token, first.id);
    await synced(other, otherFirst.id);

    assert.equal(stack.sim.leads(amo.id).length, 120);
    const log = stack.sim.requestLog(amo.id);
    assert.ok(
      log.some((e) => e.path.startsWith('/api/v4/account')),
      'the account reads are in the log',
    );
    assert.deepEqual(
      log.filter((e) => e.status === 429).map((e) => `${e.method} ${e.path}`),
      [],
    );
    const max = stack.sim.maxRequestsInAnySecond(amo.id);
    assert.ok(max <= 7, `${max} requests in one second`);
  });
});
