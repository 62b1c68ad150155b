// The limiter's own ceiling (not a scenario of bench/run.sh): one amoCRM account at full load,
// CALLERS (8) concurrent loops of leads/complex with 50 leads, CALLS (140) in all, through one
// client against the simulator at 7/s in this process. Prints the rate amoCRM logged over 7/s and
// over the limiter's window bound (1000 / slotSpacingMs), 429s, the max in any second, the load.
//   NODE_ENV=test TEST_PG_URL=… node --import tsx bench/limiter-ceiling.ts
import { createAmoSimulator } from '@quiz-gateway/amo-sim';
import { createAmoClient } from '../src/platform/amo/index.ts';
import { slotSpacingMs } from '../src/platform/amo/rate-limit.ts';
import { connectSimAccount, testAmoConfig, TEST_AMO_CLIENT_ID, TEST_AMO_CLIENT_SECRET, TEST_AMO_REDIRECT } from '../test/helpers/amo.ts';
import { benchDatabase } from './lib.ts';

const CALLERS = Number(process.env.CALLERS ?? 8);
const CALLS = Number(process.env.CALLS ?? 140);
const sim = createAmoSimulator({ clientId: TEST_AMO_CLIENT_ID, clientSecret: TEST_AMO_CLIENT_SECRET, redirectUri: TEST_AMO_REDIRECT, rateLimitRps: 7 });
await sim.start();
const bdb = await benchDatabase();
try {
  const config = testAmoConfig();
  const conn = await connectSimAccount(bdb.db, sim, config, { seed: { pipelines: 1, statusesPerPipeline: 2, fieldsPerEntity: 0, tagsPerEntity: 1 } });
  const client = createAmoClient({ db: bdb.db, config: { ...config, amo: { ...config.amo, rateLimitRps: 7 } }, accountId: conn.accountId });
  await client.getAccount();
  await new Promise((r) => setTimeout(r, 1200));
  sim.clearRequestLog(conn.amoId);
  let left = CALLS;
  const answerMs: number[] = [];
  const caller = async (k: number) => {
    while (left-- > 0) {
      const t = Date.now();
      await client.createLeadsComplex(Array.from({ length: 50 }, (_, i) => ({ name: `L ${k}-${left}-${i}` })));
      answerMs.push(Date.now() - t);
    }
  };
  await Promise.all(Array.from({ length: CALLERS }, (_, k) => caller(k)));
  const log = sim.requestLog(conn.amoId).filter((e) => e.path.startsWith('/api/v4/'));
  const at = log.map((e) => e.at).sort((a, b) => a - b);
  // requests after the first window's 7 over the span: a paced account sends 7 at its start, so (n − 1) / span overstates the rate
  const rate = (at.length - 7) / ((at.at(-1)! - at[0]!) / 1000);
  const limiterBound = 1000 / slotSpacingMs(7);
  console.log(
    JSON.stringify({
      callers: CALLERS,
      requests: at.length,
      status429: log.filter((e) => e.status === 429).length,
      maxInAnySecond: sim.maxRequestsInAnySecond(conn.amoId),
      requestsPerSecond: Math.round(rate * 1000) / 1000,
      overSevenPerSecond: Math.round((rate / 7) * 1000) / 1000,
      overLimiterWindowBound: Math.round((rate / limiterBound) * 1000) / 1000,
      callMsP50: answerMs.sort((a, b) => a - b)[Math.floor(answerMs.length / 2)],
      load: (await import('node:os')).loadavg().map((x) => Math.round(x * 10) / 10),
    }),
  );
} finally {
  await bdb.drop();
  await sim.stop();
}
