// Scenario 3, delivery: quiz results produced on the real Kafka broker's quiz.results, turned
// into amoCRM leads by the delivery worker of one gateway process or more (child processes, production
// defaults) against the simulator at 7 requests/s per account. Phase A: one account; phase B:
// many accounts. The bound of an account is 7 calls/s ÷ (amoCRM calls per lead, counted in the
// simulator's log); of a phase, that times the accounts. CPU per result is taken per part from
// /proc (workers, this process with the simulator and the producer, the Kafka broker, PostgreSQL's
// backends of the bench database and its server processes); their sum gives the machine's ceiling
// (cores × 1000 ms ÷ total ms per result), printed next to the figure and the goal.
//
//   BENCH_DELIVERY_ONE        results of phase A (5,000)
//   BENCH_DELIVERY_ACCOUNTS   accounts of phase B (100)
//   BENCH_DELIVERY_PER        results per account in phase B (100)
//   BENCH_DELIVERY_DEADLINE   seconds a phase may run before it is cut short and reported (200)
//   BENCH_DELIVERY_PASSES     the worker's passesInFlight (default: the production default, 4)
//   BENCH_DELIVERY_WORKERS    worker processes (replicas: the same consumer group, leases keep them
//                             apart): one count (default 1), or a list such as "1,2": phase B then runs
//                             once per count, on the same accounts (phase A runs with the first count)
//   BENCH_CPU_PROF=1          the worker writes a CPU profile to bench/prof/
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { createAmoSimulator } from '@quiz-gateway/amo-sim';
import { slotSpacingMs } from '../src/platform/amo/rate-limit.ts';
import { createLogger } from '../src/platform/logger.ts';
import { createQueue, TOPICS } from '../src/platform/queue/index.ts';
import { connectSimAccount, testAmoConfig, TEST_AMO_CLIENT_ID, TEST_AMO_CLIENT_SECRET, TEST_AMO_REDIRECT } from '../test/helpers/amo.ts';
import { benchDatabase, cpuBetween, cpuSnapshot, kafkaBrokerPid, postgresPids, report, round, rssMiB, sleep, startChild, summary, type Child, type CpuParts } from './lib.ts';

const RPS = 7;
const ONE = Number(process.env.BENCH_DELIVERY_ONE ?? 5000);
const ACCOUNTS = Number(process.env.BENCH_DELIVERY_ACCOUNTS ?? 100);
const PER = Number(process.env.BENCH_DELIVERY_PER ?? 100);
const DEADLINE_S = Number(process.env.BENCH_DELIVERY_DEADLINE ?? 200);
const WORKER_COUNTS = (process.env.BENCH_DELIVERY_WORKERS ?? '1').split(',').map((n) => Math.max(1, Number(n) || 1));
const brokers = process.env.KAFKA_BROKERS;
if (!brokers) throw new Error('KAFKA_BROKERS is not set (bench/run.sh starts the broker)');

const topicPrefix = `bench${randomBytes(3).toString('hex')}.`;
const logger = createLogger({ level: 'error' });
const sim = createAmoSimulator({ clientId: TEST_AMO_CLIENT_ID, clientSecret: TEST_AMO_CLIENT_SECRET, redirectUri: TEST_AMO_REDIRECT, rateLimitRps: RPS });
await sim.start();
const bdb = await benchDatabase();
const db = bdb.db;
const queue = await createQueue({ brokers: brokers.split(','), topicPrefix, logger }); // creates the topics
let workers: Child[] = [];
/** `n` worker processes (stopping the ones running): replicas of one gateway, as production runs them. */
async function startWorkers(n: number) {
  await Promise.all(workers.map((w) => w.stop()));
  workers = Array.from({ length: n }, () =>
    startChild(
      'bench/delivery-worker.ts',
      [],
      { DATABASE_URL: bdb.url, KAFKA_BROKERS: brokers!, KAFKA_TOPIC_PREFIX: topicPrefix },
      process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir=bench/prof'] : [],
    ),
  );
  await Promise.all(workers.map((w) => w.ready));
}
const brokerPid = kafkaBrokerPid(Number(brokers.split(',')[0]!.split(':').pop()));
/** The processes whose CPU a phase counts (from /proc: utime + stime). */
const cpuParts: CpuParts = {
  workers: () => workers.map((w) => w.proc.pid!),
  // the simulator runs in this process, with the producer and the poll of the counts
  benchProcess: () => [process.pid],
  kafkaBroker: () => (brokerPid ? [brokerPid] : []),
  postgresBackends: () => postgresPids(bdb.name).bench,
  postgresServer: () => postgresPids(bdb.name).server,
  postgresOtherDatabases: () => postgresPids(bdb.name).others,
};

interface Acc {
  accountId: string;
  amoId: number;
  quizAccountId: string;
}

/** A connected account with just what the rule needs in the cache (copyCatalogue takes ~2.5 s an account). */
async function setupAccount(): Promise<Acc> {
  const conn = await connectSimAccount(db, sim, testAmoConfig(), { seed: { pipelines: 1, statusesPerPipeline: 2, fieldsPerEntity: 0, tagsPerEntity: 1 } });
  const acc = sim.account(conn.amoId);
  const p = acc.pipelines[0];
  const s = p?.statuses[1];
  if (!p || !s) throw new Error(`account ${conn.amoId}: the seed made no pipeline with a second status`);
  const pipeline = await db.pipeline.create({ data: { accountId: conn.accountId, amoId: p.id, name: p.name, sort: p.sort, isMain: p.is_main }, select: { id: true } });
  const step = await db.step.create({ data: { accountId: conn.accountId, pipelineId: pipeline.id, amoId: s.id, name: s.name, sort: s.sort, type: s.type }, select: { id: true } });
  const contactFields = acc.fields.contacts.filter((f) => f.code === 'PHONE' || f.code === 'EMAIL');
  await db.customField.createMany({
    data: contactFields.map((f) => ({
      accountId: conn.accountId,
      entity: 'CONTACT' as const,
      amoId: f.id,
      name: f.name,
      code: f.code,
      rawType: f.type,
      sort: f.sort,
      options: (f.enums ?? []).map((o) => ({ amoId: o.id, value: o.value, sort: o.sort })),
    })),
  });
  await db.rule.create({ data: { accountId: conn.accountId, quizId: 'quiz-bench', pipelineId: pipeline.id, stepId: step.id } });
  return conn;
}

async function phase(label: string, accounts: Acc[], perAccount: number) {
  for (const a of accounts) sim.clearRequestLog(a.amoId);
  // leads already there (an earlier run on the same accounts) are not this phase's
  const leadsBefore = accounts.reduce((n, a) => n + sim.leads(a.amoId).length, 0);
  const total = accounts.length * perAccount;
  const producedAt = new Map<string, number>();
  // results arrive mixed: round-robin over the accounts
  const messages: { key: string; value: unknown }[] = [];
  for (let i = 0; i < perAccount; i++) {
    for (const a of accounts) {
      const resultId = `${label}-${i}`;
      messages.push({
        key: a.quizAccountId,
        value: {
          quizAccountId: a.quizAccountId,
          resultId,
          quizId: 'quiz-bench',
          contact: { name: `Клиент ${i}`, phone: `+7 900 ${String(i).padStart(7, '0')}` },
          answers: [{ questionId: 'q1', title: 'Площадь', values: [String(i)] }],
        },
      });
    }
  }
  const cpu0 = cpuSnapshot(cpuParts);
  const started = Date.now();
  for (let i = 0; i < messages.length; i += 500) {
    const batch = messages.slice(i, i + 500);
    const now = Date.now();
    for (const m of batch) producedAt.set(`${m.key}/${(m.value as { resultId: string }).resultId}`, now);
    await queue.publishBatch(TOPICS.quizResults, batch);
  }
  const producedMs = Date.now() - started;
  const quizAccountIds = accounts.map((a) => a.quizAccountId);
  let accepted = 0;
  const deadline = started + DEADLINE_S * 1000;
  while (Date.now() < deadline) {
    const [delivered, counted] = await Promise.all([
      db.delivery.count({ where: { quizAccountId: { in: quizAccountIds }, resultId: { startsWith: `${label}-` }, status: 'DELIVERED' } }),
      db.delivery.count({ where: { quizAccountId: { in: quizAccountIds }, resultId: { startsWith: `${label}-` } } }),
    ]);
    accepted = counted;
    if (delivered >= total) break;
    await sleep(500);
  }
  const cpu = cpuBetween(cpu0, cpuSnapshot(cpuParts));
  const rows = await db.delivery.findMany({
    where: { quizAccountId: { in: quizAccountIds }, resultId: { startsWith: `${label}-` } },
    select: { quizAccountId: true, resultId: true, status: true, createdAt: true, deliveredAt: true, lastError: true },
  });
  const done = rows.filter((r) => r.status === 'DELIVERED' && r.deliveredAt);
  const lastDelivered = Math.max(...done.map((r) => r.deliveredAt!.getTime()));
  const elapsedMs = (done.length >= total ? lastDelivered : Date.now()) - started;
  const endToEnd = done.map((r) => r.deliveredAt!.getTime() - producedAt.get(`${r.quizAccountId}/${r.resultId}`)!);
  const toAccepted = rows.map((r) => r.createdAt.getTime() - producedAt.get(`${r.quizAccountId}/${r.resultId}`)!);
  const lastAccepted = Math.max(...rows.map((r) => r.createdAt.getTime()));

  // amoCRM calls per lead, from the simulator's logs
  const calls: Record<string, number> = {};
  let served = 0;
  let s429 = 0;
  let maxInSecond = 0;
  for (const a of accounts) {
    maxInSecond = Math.max(maxInSecond, sim.maxRequestsInAnySecond(a.amoId));
    for (const r of sim.requestLog(a.amoId)) {
      if (!r.path.startsWith('/api/v4/')) continue;
      if (r.status === 429) s429++;
      else served++;
      const kind = `${r.method} ${r.path
        .replace(/\?.*$/, '')
        .replace(/^\/api\/v4\//, '')
        .replace(/\/\d+\//g, '/{id}/')} ${r.status}`;
      calls[kind] = (calls[kind] ?? 0) + 1;
    }
  }
  const leads = accounts.reduce((n, a) => n + sim.leads(a.amoId).length, 0) - leadsBefore;
  const callsPerLead = served / Math.max(1, leads);
  const boundPerAccount = RPS / callsPerLead;
  const limiterBoundPerAccount = 1000 / slotSpacingMs(RPS) / callsPerLead;
  const throughput = done.length / (elapsedMs / 1000);
  const workerCpuMs = cpu.workers ?? 0;
  const perResult = (ms: number) => round(ms / Math.max(1, done.length), 3);
  // what the delivery costs the machine: every part but other sessions' databases (the machine is shared)
  const counted = ['workers', 'benchProcess', 'kafkaBroker', 'postgresBackends', 'postgresServer'].filter((k) => k !== 'kafkaBroker' || brokerPid);
  const totalCpuMs = counted.reduce((n, k) => n + (cpu[k] ?? 0), 0);
  const totalMsPerResult = totalCpuMs / Math.max(1, done.length);
  const result = {
    label,
    accounts: accounts.length,
    results: total,
    delivered: done.length,
    leadsInAmo: leads,
    cutShortAtDeadline: done.length < total,
    notDelivered: rows
      .filter((r) => r.status !== 'DELIVERED')
      .slice(0, 3)
      .map((r) => ({ status: r.status, lastError: r.lastError })),
    produceSeconds: round(producedMs / 1000, 2),
    acceptedAll: accepted >= total,
    lastAcceptedAfterSeconds: round((lastAccepted - started) / 1000, 2),
    elapsedSeconds: round(elapsedMs / 1000, 1),
    resultsPerSecond: round(throughput, 2),
    amoCalls: calls,
    amoCallsServed: served,
    amo429: s429,
    maxRequestsInAnySecondOfAnAccount: maxInSecond,
    callsPerLead: round(callsPerLead, 3),
    steadyCallsPerLead: round(
      Object.entries(calls)
        .filter(([k]) => /leads\/complex|notes/.test(k) && !/ 429$/.test(k))
        .reduce((n, [, v]) => n + v, 0) / Math.max(1, leads),
      3,
    ),
    boundResultsPerSecond: round(boundPerAccount * accounts.length, 2),
    throughputOverBound: round(throughput / (boundPerAccount * accounts.length), 3),
    limiterBoundResultsPerSecond: round(limiterBoundPerAccount * accounts.length, 2),
    throughputOverLimiterBound: round(throughput / (limiterBoundPerAccount * accounts.length), 3),
    produceToAcceptedMs: summary(toAccepted),
    produceToDeliveredMs: summary(endToEnd),
    workers: workers.length,
    workerCpuSeconds: round(workerCpuMs / 1000, 2),
    workerCpuShareOfOneCore: round(workerCpuMs / elapsedMs, 3),
    workerCpuMsPerResult: round(workerCpuMs / Math.max(1, done.length), 2),
    workerRssMiB: workers.map((w) => rssMiB(w.proc.pid!)),
    producerAndSimulatorCpuSeconds: round((cpu.benchProcess ?? 0) / 1000, 2),
    // CPU ms per delivered result of each part over the phase (/proc utime + stime); the Kafka broker and
    // PostgreSQL's server processes are shared with whatever else runs on the machine
    cpuMsPerResult: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, perResult(v)])),
    kafkaBrokerMeasured: brokerPid !== null,
    totalCpuMsPerResult: round(totalMsPerResult, 3),
    totalCpuCountedParts: counted,
    // the machine's ceiling at this cost: all of its cores busy with nothing but this
    cpuCeilingResultsPerSecond: round((os.cpus().length * 1000) / totalMsPerResult, 0),
    throughputOverCpuCeiling: round(throughput / ((os.cpus().length * 1000) / totalMsPerResult), 3),
  };
  console.log(
    `  ${label}: ${done.length}/${total} delivered in ${result.elapsedSeconds} s, ${result.resultsPerSecond} results/s (bound ${result.boundResultsPerSecond}), p50 ${result.produceToDeliveredMs.p50} ms, p99 ${result.produceToDeliveredMs.p99} ms`,
  );
  return result;
}

type PhaseResult = Awaited<ReturnType<typeof phase>>;

/** Phase B's summary row: the figure, the per-part CPU and the machine's ceiling it implies, next to the goal. */
function rowOf(b: PhaseResult) {
  const parts = Object.entries(b.cpuMsPerResult)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return {
    figure:
      `${ACCOUNTS} accounts × ${PER}, ${b.workers} worker process${b.workers > 1 ? 'es' : ''}: ${b.resultsPerSecond} results/s, p99 produce→DELIVERED ${b.produceToDeliveredMs.p99} ms, ` +
      `worker ${b.workerCpuMsPerResult} ms CPU/result; CPU ms/result ${parts}; total ${b.totalCpuMsPerResult} → ${os.cpus().length}-core ceiling ${b.cpuCeilingResultsPerSecond} results/s (${b.throughputOverCpuCeiling}× of it)`,
    goal: '≥ 1,000 results/s, p99 produce→DELIVERED < 5 s',
    met: b.delivered === b.results && b.resultsPerSecond >= 1000 && b.produceToDeliveredMs.p99 < 5000,
  };
}

try {
  await startWorkers(WORKER_COUNTS[0]!);
  const t = Date.now();
  const one = await setupAccount();
  const phaseA = await phase('one-account', [one], ONE);
  const many: Acc[] = [];
  for (let i = 0; i < ACCOUNTS; i++) many.push(await setupAccount());
  console.log(`  set up ${ACCOUNTS} accounts in ${Date.now() - t} ms`);
  const phasesB: PhaseResult[] = [];
  for (const [k, n] of WORKER_COUNTS.entries()) {
    if (k > 0) {
      await startWorkers(n);
      await sleep(3000); // the new members' first rebalance of the consumer group, outside the measured phase
    }
    // result ids start with the label: each run's own (no label is another's prefix)
    phasesB.push(await phase(k === 0 ? 'many-accounts' : `w${n}-${k}-many-accounts`, many, PER));
  }
  // one row of the summary per phase (bench/run.sh prints them with the others)
  const summaries = [
    {
      figure: `1 account × ${ONE}: ${phaseA.resultsPerSecond} results/s = ${phaseA.throughputOverBound}× the 7-rps bound (${phaseA.boundResultsPerSecond}/s; ${phaseA.throughputOverLimiterBound}× the limiter's ${phaseA.limiterBoundResultsPerSecond}/s), p99 produce→DELIVERED ${phaseA.produceToDeliveredMs.p99} ms`,
      goal: '≥ 0.9× the 7-rps bound',
      met: phaseA.delivered === phaseA.results && phaseA.throughputOverBound >= 0.9,
    },
    ...phasesB.map(rowOf),
  ];
  for (const r of summaries) console.log(`\n  delivery: ${r.figure}\n    goal: ${r.goal} → ${r.met ? 'met' : 'NOT met'}`);
  report('delivery', {
    // every row in one too, for readers of a single `summary` (bench/summary.ts)
    summary: { figure: summaries.map((r) => r.figure).join('; '), goal: summaries.map((r) => r.goal).join('; '), met: summaries.every((r) => r.met) },
    summaries,
    rps: RPS,
    limiterSpacingMs: slotSpacingMs(RPS),
    scaledDown: ONE < 5000 || ACCOUNTS * PER < 10_000 ? `phase A: ${ONE} results (issue: 5,000); phase B: ${ACCOUNTS} × ${PER} (issue: 100 × 100)` : false,
    workerDefaults:
      'startDeliveryWorker(services) with production defaults: accountConcurrency 16, claimAccounts 16 (= accountConcurrency), batchSize 50 per account, claimLimit 800, passesInFlight 4, consumeConcurrency 4, pollMs 2000, group DELIVERY_GROUP',
    workerProcesses: WORKER_COUNTS,
    phases: [phaseA, ...phasesB],
  });
} finally {
  await Promise.all(workers.map((w) => w.stop()));
  await queue.close();
  await bdb.drop();
  await sim.stop();
}
