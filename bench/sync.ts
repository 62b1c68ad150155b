// Scenario 2, the catalogue sync of a large account: 500 users, 50 pipelines × 30 statuses,
// 1,000 fields and 10,000 tags per entity at the simulator, which allows 7 requests/s. The
// bound is (amoCRM requests the sync made, counted in the simulator's log) ÷ 7 per second.
// Runs twice: a first sync (every row inserted) and a re-sync of unchanged data. The sync uses
// the product's limiter with a counter of late wake-ups (requests that took a new slot), and an
// over-limit window, if any, is printed request by request.
//
//   BENCH_SYNC_TAGS / BENCH_SYNC_FIELDS / BENCH_SYNC_USERS  override the account's size
//   BENCH_SYNC_CONCURRENCY  amoCRM lists fetched at once (default: the product's, 2; 1 is the
//                        sequential sync before it)
//   BENCH_SYNC_LATENCY_MS  the simulator answers every API request that much later (amoCRM's own
//                        answer time: ~100-300 ms for a page of 250, against ~ms at the simulator)
//   BENCH_SYNC_STALL_MS  blocks the event loop that long every 2.9 s (a GC pause, a descheduled
//                        process): the case that made 8 requests in one second before late
//                        wake-ups took a new slot
import { createAmoSimulator } from '@quiz-gateway/amo-sim';
import os from 'node:os';
import { createRateLimiter, slotSpacingMs, windowMsOf } from '../src/platform/amo/rate-limit.ts';
import { createDb } from '../src/platform/db.ts';
import { requestSync, runSyncJob } from '../src/features/catalogue/index.ts';
import { connectSimAccount, testAmoConfig, TEST_AMO_CLIENT_ID, TEST_AMO_CLIENT_SECRET, TEST_AMO_REDIRECT } from '../test/helpers/amo.ts';
import { deliveryServices } from '../test/helpers/delivery.ts';
import { benchDatabase, cpuMs, report, round } from './lib.ts';

const RPS = 7;
const size = {
  users: Number(process.env.BENCH_SYNC_USERS ?? 500),
  pipelines: 50,
  statusesPerPipeline: 27, // + unsorted + 142 + 143 = 30 statuses per pipeline
  fieldsPerEntity: Number(process.env.BENCH_SYNC_FIELDS ?? 1000),
  tagsPerEntity: Number(process.env.BENCH_SYNC_TAGS ?? 10_000),
};

const concurrency = process.env.BENCH_SYNC_CONCURRENCY ? Number(process.env.BENCH_SYNC_CONCURRENCY) : undefined;
const latencyMs = Number(process.env.BENCH_SYNC_LATENCY_MS ?? 0);
const stallMs = Number(process.env.BENCH_SYNC_STALL_MS ?? 0);
if (stallMs > 0) {
  setInterval(() => {
    const end = Date.now() + stallMs;
    while (Date.now() < end);
  }, 2900).unref();
}

const sim = createAmoSimulator({ clientId: TEST_AMO_CLIENT_ID, clientSecret: TEST_AMO_CLIENT_SECRET, redirectUri: TEST_AMO_REDIRECT, rateLimitRps: RPS });
await sim.start();
const bdb = await benchDatabase();
// a client of our own that reports every statement with its duration
let sqlCount = 0;
let sqlMs = 0;
const db = createDb(bdb.url, {
  onQuery: (_sql, ms) => {
    sqlCount++;
    sqlMs += ms;
  },
});
const services = await deliveryServices(db);
// the product's limiter, counting the requests that woke late and took a new slot
let lateWakeups = 0;
const rateLimiter = createRateLimiter(db, { rps: RPS, onLate: () => lateWakeups++ });

/** The first 8 requests within one second (none when the limit held): what they were and how far apart. */
function worstWindow(log: Array<{ at: number; method: string; path: string; status: number }>) {
  for (let i = 0; i + RPS < log.length; i++) {
    const window = log.slice(i, i + RPS + 1);
    const first = window[0];
    const last = window[RPS];
    if (!first || !last || last.at - first.at >= 1000) continue;
    return window.map((r, k) => `+${r.at - (window[k - 1]?.at ?? r.at)}ms ${r.status} ${r.method} ${r.path}`);
  }
  return [];
}
try {
  const t0 = Date.now();
  const conn = await connectSimAccount(db, sim, testAmoConfig(), { seed: size });
  const acc = sim.account(conn.amoId);
  if (latencyMs > 0) sim.injectFault(conn.amoId, { kind: 'slow', delayMs: latencyMs, count: 1_000_000, path: '/api/v4/' });
  const seeded = {
    users: acc.users.length,
    pipelines: acc.pipelines.length,
    steps: acc.pipelines.reduce((n, p) => n + p.statuses.length, 0),
    fields: Object.values(acc.fields).reduce((n, l) => n + l.length, 0),
    tags: Object.values(acc.tags).reduce((n, l) => n + l.length, 0),
  };
  console.log(`  seeded the simulator in ${Date.now() - t0} ms: ${JSON.stringify(seeded)}`);

  const runs: Array<{ wallOverBound: number; wallOverSlotSpacingBound: number; maxRequestsInAnySecond: number; status429: number; amoRequests: number }> = [];
  for (const label of ['first sync', 're-sync (unchanged)']) {
    sim.clearRequestLog(conn.amoId);
    sqlCount = 0;
    sqlMs = 0;
    lateWakeups = 0;
    const cpu0 = process.cpuUsage();
    const started = Date.now();
    const job = await requestSync(services, conn.accountId);
    const done = await runSyncJob(services, job.id, { client: { rateLimiter }, concurrency });
    const wallMs = Date.now() - started;
    if (done?.status !== 'SUCCEEDED') throw new Error(`sync ${done?.status}: ${done?.error}`);
    const log = sim.requestLog(conn.amoId).filter((r) => r.path.startsWith('/api/v4/'));
    const lastRequestAt = Math.max(...log.map((r) => new Date(r.at).getTime() + (r.durationMs ?? 0)));
    const byKind: Record<string, number> = {};
    for (const r of log) {
      const kind = r.path.replace(/\?.*$/, '').replace(/^\/api\/v4\//, '');
      byKind[kind] = (byKind[kind] ?? 0) + 1;
    }
    const requests = log.length;
    const boundMs = (requests / RPS) * 1000;
    // the limiter's own bound: a window (1 s + its margin) per 7 requests, from the first request's start
    const limiterMs = (Math.ceil(requests / RPS) - 1) * windowMsOf() + (requests > 0 ? 1 : 0);
    // the limiter's average spacing at full load (windowMs / rps) per request: its bound in steady state
    const spacingMs = requests * slotSpacingMs(RPS);
    const run = {
      label,
      counts: { users: done.users, pipelines: done.pipelines, steps: done.steps, fields: done.fields, tags: done.tags },
      amoRequests: requests,
      amoRequestsByPath: byKind,
      status429: log.filter((r) => r.status === 429).length,
      maxRequestsInAnySecond: sim.maxRequestsInAnySecond(conn.amoId),
      overLimitWindow: worstWindow(sim.requestLog(conn.amoId)),
      lateWakeups,
      wallSeconds: round(wallMs / 1000, 2),
      boundSeconds: round(boundMs / 1000, 2),
      wallOverBound: round(wallMs / boundMs, 3),
      limiterWindowMs: windowMsOf(),
      limiterBoundSeconds: round(limiterMs / 1000, 2),
      wallOverLimiterBound: round(wallMs / limiterMs, 3),
      slotSpacingMs: round(slotSpacingMs(RPS), 1),
      slotSpacingBoundSeconds: round(spacingMs / 1000, 2),
      wallOverSlotSpacingBound: round(wallMs / spacingMs, 3),
      loadavgAfter: os.loadavg().map((v) => round(v, 2)),
      writePhaseSeconds: round((started + wallMs - lastRequestAt) / 1000, 2),
      sqlStatements: sqlCount,
      sqlSecondsSum: round(sqlMs / 1000, 2),
      sqlShareOfWall: round(sqlMs / wallMs, 3),
      processCpuSeconds: round(cpuMs(cpu0) / 1000, 2),
    };
    console.log(`  ${label}: ${JSON.stringify(run)}`);
    runs.push(run);
  }
  const ratios = runs.map((r) => r.wallOverBound);
  const maxInSecond = Math.max(...runs.map((r) => r.maxRequestsInAnySecond));
  const status429 = runs.reduce((n, r) => n + r.status429, 0);
  const summary = {
    figure: `first sync ${ratios[0]}×, re-sync ${ratios[1]}× the bound (${runs[0]?.amoRequests} requests ÷ 7/s; ${runs.map((r) => r.wallOverSlotSpacingBound).join('× / ')}× the limiter's spacing); max ${maxInSecond} requests in any second, ${status429} × 429`,
    goal: '≤ 1.15× the bound, never more than 7 requests in any second, no 429',
    met: ratios.every((r) => r <= 1.15) && maxInSecond <= RPS && status429 === 0,
  };
  console.log(`  figure: ${summary.figure}\n  goal:   ${summary.goal} → ${summary.met ? 'met' : 'NOT met'}`);
  report(stallMs > 0 ? 'sync-stalls' : latencyMs > 0 ? 'sync-latency' : 'sync', {
    rps: RPS,
    account: size,
    concurrency: concurrency ?? 'default',
    latencyMs,
    stallMsEvery2900: stallMs,
    seeded,
    runs,
    summary,
  });
} finally {
  await services.queue.close();
  await bdb.drop();
  await sim.stop();
}
