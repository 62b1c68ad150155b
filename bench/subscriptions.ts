// Scenario 4, subscriptions: 10,000 graphql-ws clients (100 tenants × 100) subscribed to
// `deliveryUpdated` on one gateway process; each round publishes one event per tenant on the
// gateway's pubsub (10,000 messages out) and times publish → arrival at every client. Baseline in
// the same run: a bare `ws` server speaking the same graphql-ws messages with a prebuilt answer.
// Servers run in child processes (their RSS is their own); the clients run here.
//
//   BENCH_SUBS_CLIENTS (10000)  BENCH_SUBS_TENANTS (100)  BENCH_SUBS_ROUNDS (5)
//   BENCH_CPU_PROF=1  the gateway child writes a CPU profile to bench/prof/
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { tokenFor } from '../test/helpers/app.ts';
import { benchDatabase, report, round, sleep, startChild, summary } from './lib.ts';

const CLIENTS = Number(process.env.BENCH_SUBS_CLIENTS ?? 10_000);
const TENANTS = Number(process.env.BENCH_SUBS_TENANTS ?? 100);
const ROUNDS = Number(process.env.BENCH_SUBS_ROUNDS ?? 5);
const ROUND_TIMEOUT_MS = 120_000;
const QUERY = 'subscription { deliveryUpdated { id status } }';

const bdb = await benchDatabase();
const tenants = Array.from({ length: TENANTS }, (_, i) => `bench-sub-${i}`);
const payloads: Record<string, unknown> = {};
for (const t of tenants) {
  const d = await bdb.db.delivery.create({ data: { quizAccountId: t, quizId: 'quiz-bench', resultId: 'r1', payload: {} } });
  const row = { id: Buffer.from(`Delivery:${d.id}`).toString('base64'), status: d.status };
  payloads[t] = { type: 'delivery.updated', quizAccountId: t, deliveryId: d.id, quizId: d.quizId, status: d.status, row };
}
const tokens = await Promise.all(tenants.map((t) => tokenFor(t, { expiresIn: '2h' })));

async function measure(mode: 'bare' | 'gateway') {
  const prof = process.env.BENCH_CPU_PROF && mode === 'gateway' ? ['--cpu-prof', '--cpu-prof-dir=bench/prof'] : [];
  const child = startChild('bench/subs-server.ts', [mode], { DATABASE_URL: bdb.url, LOG_LEVEL: 'silent' }, ['--expose-gc', ...prof]);
  const { url } = await child.ready;
  const stats = async (gc = false) => {
    child.send({ cmd: 'stats', gc });
    return (await child.next()) as { rssMiB: number; heapMiB: number; heapTotalMiB: number; externalMiB: number; arrayBuffersMiB: number; cpuMs: number };
  };
  const idle = await stats(true);

  // arrival times per round, and how many arrived
  let roundNo = -1;
  const arrivals: number[][] = [];
  let arrived = 0;
  let onArrival: (() => void) | null = null;
  const clients: Client[] = [];
  let connected = 0;
  const t0 = Date.now();
  for (let i = 0; i < CLIENTS; i += 250) {
    const batch: Promise<void>[] = [];
    for (let k = i; k < Math.min(CLIENTS, i + 250); k++) {
      const tenant = k % TENANTS;
      batch.push(
        new Promise<void>((resolve, reject) => {
          const client = createClient({
            url: url.replace(/^http/, 'ws') + '/graphql',
            webSocketImpl: WebSocket,
            connectionParams: { authorization: `Bearer ${tokens[tenant]}` },
            retryAttempts: 0,
            lazy: false,
            keepAlive: 0,
            onNonLazyError: reject,
            on: {
              connected: () => {
                connected++;
                resolve();
              },
            },
          });
          clients.push(client);
          client.subscribe(
            { query: QUERY },
            {
              next: (r) => {
                if (r.errors) console.error('  subscription error', JSON.stringify(r.errors).slice(0, 300));
                arrivals[roundNo]?.push(Date.now());
                arrived++;
                onArrival?.();
              },
              error: (e) => console.error('  subscription failed', String((e as Error)?.message ?? e)),
              complete: () => {},
            },
          );
        }),
      );
    }
    await Promise.all(batch);
  }
  const connectSeconds = (Date.now() - t0) / 1000;
  await sleep(2000); // graphql-ws sends no "subscribed": let the last subscribes register
  const connectedStats = await stats(true);

  const rounds: { publishedAt: number; lastMs: number; latencies: number[]; cpuMs: number }[] = [];
  // memory after each round (warm-up included, no forced GC): where RSS grows, if it does
  const memory: { rssMiB: number; heapMiB: number; heapTotalMiB: number; externalMiB: number; arrayBuffersMiB: number }[] = [];
  for (let r = -1; r < ROUNDS; r++) {
    // r = -1: warm-up round (not measured)
    roundNo = r < 0 ? ROUNDS : r;
    const roundArrivals: number[] = [];
    arrivals[roundNo] = roundArrivals;
    arrived = 0;
    const before = await stats();
    const all = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${mode}: round ${r}: ${arrived}/${CLIENTS} arrived`)), ROUND_TIMEOUT_MS);
      onArrival = () => {
        if (arrived >= CLIENTS) {
          clearTimeout(timer);
          resolve();
        }
      };
    });
    child.send({ cmd: 'publish', tenants, payloads });
    const { publishedAt } = await child.next();
    await all;
    onArrival = null;
    const after = await stats();
    if (r >= 0) {
      const latencies = roundArrivals.map((t) => t - publishedAt);
      rounds.push({ publishedAt, lastMs: Math.max(...latencies), latencies, cpuMs: after.cpuMs - before.cpuMs });
    }
    await sleep(500);
    const { rssMiB, heapMiB, heapTotalMiB, externalMiB, arrayBuffersMiB } = await stats();
    memory.push({ rssMiB, heapMiB, heapTotalMiB, externalMiB, arrayBuffersMiB });
  }
  const end = await stats(true);
  for (const c of clients) void c.dispose();
  await sleep(1000);
  await child.stop();
  const lat = summary(rounds.flatMap((r) => r.latencies));
  const result = {
    clients: connected,
    connectSeconds: round(connectSeconds, 1),
    fanoutMs: { p50: lat.p50, p90: lat.p90, p99: lat.p99, max: lat.max },
    roundMs: rounds.map((r) => r.lastMs),
    messagesPerSecond: round(CLIENTS / (rounds.reduce((n, r) => n + r.lastMs, 0) / rounds.length / 1000), 0),
    serverCpuMsPerRound: round(rounds.reduce((n, r) => n + r.cpuMs, 0) / rounds.length, 0),
    serverCpuUsPerMessage: round((rounds.reduce((n, r) => n + r.cpuMs, 0) / rounds.length / CLIENTS) * 1000, 1),
    rssMiB: { idle: idle.rssMiB, connected: connectedStats.rssMiB, afterRounds: end.rssMiB },
    heapMiB: { idle: idle.heapMiB, connected: connectedStats.heapMiB, afterRounds: end.heapMiB },
    rssKiBPerClient: round(((connectedStats.rssMiB - idle.rssMiB) * 1024) / CLIENTS, 1),
    memoryAfterEachRound: memory,
  };
  console.log(`  ${mode}: ${JSON.stringify(result)}`);
  return result;
}

try {
  const bare = await measure('bare');
  const gateway = await measure('gateway');
  const p99Ratio = round(gateway.fanoutMs.p99 / bare.fanoutMs.p99, 2);
  const cpuRatio = round(gateway.serverCpuUsPerMessage / bare.serverCpuUsPerMessage, 2);
  const rssRounds = gateway.memoryAfterEachRound.map((m) => m.rssMiB);
  const rssMax = Math.max(gateway.rssMiB.connected, ...rssRounds);
  // flat: the last round's RSS within 10% of the first round's
  const rssFlat = (rssRounds.at(-1) ?? 0) <= (rssRounds[0] ?? 0) * 1.1;
  const summaryRow = {
    figure: `fan-out p99 ${gateway.fanoutMs.p99} ms vs bare ${bare.fanoutMs.p99} ms (${p99Ratio}×); CPU/message ${gateway.serverCpuUsPerMessage} vs ${bare.serverCpuUsPerMessage} µs (${cpuRatio}×); RSS ${rssRounds.join(' → ')} MiB over the rounds (max ${rssMax})`,
    goal: 'p99 ≤ 2× bare, CPU per message ≤ 3× bare, RSS flat across rounds (last ≤ first + 10%) and < 600 MiB',
    met: p99Ratio <= 2 && cpuRatio <= 3 && rssFlat && rssMax < 600,
  };
  console.log(`\n  subscriptions: ${summaryRow.figure}\n    goal: ${summaryRow.goal} → ${summaryRow.met ? 'met' : 'NOT met'}`);
  report('subscriptions', {
    summary: summaryRow,
    clients: CLIENTS,
    tenants: TENANTS,
    rounds: ROUNDS,
    subscription: QUERY,
    event: 'one delivery.updated per tenant per round, published on the gateway pubsub (10,000 messages a round)',
    bare,
    gateway,
    ratio: {
      fanoutP50GatewayOverBare: round(gateway.fanoutMs.p50 / bare.fanoutMs.p50, 2),
      fanoutP99GatewayOverBare: round(gateway.fanoutMs.p99 / bare.fanoutMs.p99, 2),
      cpuPerMessageGatewayOverBare: round(gateway.serverCpuUsPerMessage / bare.serverCpuUsPerMessage, 2),
      rssConnectedGatewayOverBare: round(gateway.rssMiB.connected / bare.rssMiB.connected, 2),
      rssPerClientGatewayOverBare: round(gateway.rssKiBPerClient / bare.rssKiBPerClient, 2),
    },
  });
} finally {
  await bdb.drop();
}
