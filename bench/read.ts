// Scenario 1, the read path: 50 pipelines × 30 steps of one tenant, read at concurrency 32 with
// autocannon, through the gateway and through a bare node:http handler with one hand-written SQL
// statement (json_agg) on the same database. Each server runs in a child process; the load
// generator runs here. Rounds alternate bare/gateway so drifting machine load hits both.
//
//   BENCH_READ_SECONDS  seconds per measured round (20)   BENCH_READ_ROUNDS  rounds per server (2)
//   BENCH_CPU_PROF=1    the gateway child writes a CPU profile to bench/prof/ (bench/prof-summary.ts reads it)
import autocannon from 'autocannon';
import { buildApp } from '../src/app.ts';
import { createDb } from '../src/platform/db.ts';
import { seedDemoAccount } from '../src/dev/seed-data.ts';
import { testConfig, tokenFor } from '../test/helpers/app.ts';
import { benchDatabase, report, round, startChild } from './lib.ts';

const SECONDS = Number(process.env.BENCH_READ_SECONDS ?? 20);
const ROUNDS = Number(process.env.BENCH_READ_ROUNDS ?? 2);
const CONNECTIONS = 32;
const QUERY = '{ pipelines(first: 50) { edges { node { name steps(first: 30) { edges { node { name } } } } } } }';

const bdb = await benchDatabase();
const quizAccountId = 'bench-read-tenant';
try {
  // 50 live pipelines with 27 ordinary steps + unsorted + won + lost = 30 steps each
  await seedDemoAccount(bdb.db, { quizAccountId, pipelines: 50, stepsPerPipeline: 27, archivedPipelines: 0 });
  const token = await tokenFor(quizAccountId);
  const headers = { 'content-type': 'application/json', accept: 'application/graphql-response+json', authorization: `Bearer ${token}` };
  const body = JSON.stringify({ query: QUERY });

  // SQL statements per request: an in-process gateway whose client counts every statement.
  let statements = 0;
  const countingDb = createDb(bdb.url, { onQuery: () => statements++ });
  const app = await buildApp({ config: testConfig({ DATABASE_URL: bdb.url }), db: countingDb, workers: false });
  const base = await app.start(0, '127.0.0.1');
  const answers: string[] = [];
  const COUNT_REQS = 10;
  let sqlFirstRequest = 0;
  for (let i = 0; i < COUNT_REQS; i++) {
    if (i === 1) {
      sqlFirstRequest = statements; // executed (the response cache was empty)
      statements = 0;
    }
    const res = await fetch(`${base}/graphql`, { method: 'POST', headers, body });
    answers.push(await res.text());
  }
  const sqlPerRequest = statements / (COUNT_REQS - 1); // served from the response cache
  await app.stop();
  await countingDb.$disconnect();

  const firstAnswer = answers[0];
  if (firstAnswer === undefined) throw new Error('the gateway gave no answer');
  const gatewayAnswer = JSON.parse(firstAnswer);
  const edges = gatewayAnswer.data.pipelines.edges;
  if (edges.length !== 50 || edges.some((e: any) => e.node.steps.edges.length !== 30)) throw new Error(`unexpected answer: ${firstAnswer.slice(0, 300)}`);

  const servers = {
    bare: startChild('bench/read-server.ts', ['bare'], { DATABASE_URL: bdb.url }),
    gateway: startChild(
      'bench/read-server.ts',
      ['gateway'],
      { DATABASE_URL: bdb.url, LOG_LEVEL: 'silent' },
      process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir=bench/prof'] : [],
    ),
  };
  const urls = { bare: (await servers.bare.ready).url as string, gateway: (await servers.gateway.ready).url as string };
  try {
    // the same JSON from both
    const bareAnswer = await (await fetch(urls.bare, { method: 'POST', headers, body })).json();
    const same = JSON.stringify(bareAnswer) === JSON.stringify(gatewayAnswer);
    if (!same) throw new Error('the bare handler does not answer the same JSON as the gateway');

    const run = (url: string, duration: number) => autocannon({ url, method: 'POST', headers, body, connections: CONNECTIONS, duration });
    const results: Record<'bare' | 'gateway', autocannon.Result[]> = { bare: [], gateway: [] };
    for (const name of ['bare', 'gateway'] as const) await run(urls[name], 3); // warm-up (JIT, pools)
    for (let r = 0; r < ROUNDS; r++) {
      for (const name of ['bare', 'gateway'] as const) {
        const res = await run(urls[name], SECONDS);
        if (res.non2xx || res.errors) throw new Error(`${name}: ${res.non2xx} non-2xx, ${res.errors} errors`);
        results[name].push(res);
        console.log(`  round ${r + 1} ${name}: ${round(res.requests.average)} req/s, p50 ${res.latency.p50} ms, p99 ${res.latency.p99} ms`);
      }
    }
    const agg = (rs: autocannon.Result[]) => ({
      reqPerSec: round(rs.reduce((n, r) => n + r.requests.average, 0) / rs.length),
      p50Ms: round(rs.reduce((n, r) => n + r.latency.p50, 0) / rs.length),
      p99Ms: round(rs.reduce((n, r) => n + r.latency.p99, 0) / rs.length),
      rounds: rs.map((r) => ({ reqPerSec: r.requests.average, p50Ms: r.latency.p50, p99Ms: r.latency.p99 })),
    });
    const bare = agg(results.bare);
    const gateway = agg(results.gateway);
    const throughput = round(gateway.reqPerSec / bare.reqPerSec, 3);
    const p99 = round(gateway.p99Ms / bare.p99Ms, 2);
    const summary = {
      figure: `${throughput}× the bare server's throughput (${gateway.reqPerSec} vs ${bare.reqPerSec} req/s), p99 ${p99}× (${gateway.p99Ms} vs ${bare.p99Ms} ms)`,
      goal: '≥ 0.5× throughput, p99 ≤ 2× bare',
      met: throughput >= 0.5 && p99 <= 2,
    };
    console.log(`  figure: ${summary.figure}\n  goal:   ${summary.goal} → ${summary.met ? 'met' : 'NOT met'}`);
    report('read', {
      query: QUERY,
      connections: CONNECTIONS,
      secondsPerRound: SECONDS,
      rounds: ROUNDS,
      responseBytes: Buffer.byteLength(firstAnswer),
      sqlStatementsPerRequest: { gateway: round(sqlPerRequest, 2), gatewayFirstRequest: sqlFirstRequest, bare: 1 },
      bare,
      gateway,
      ratio: {
        throughputGatewayOverBare: throughput,
        p50GatewayOverBare: round(gateway.p50Ms / bare.p50Ms, 2),
        p99GatewayOverBare: p99,
      },
      summary,
    });
  } finally {
    await Promise.all([servers.bare.stop(), servers.gateway.stop()]);
  }
} finally {
  await bdb.drop();
}
