// `npm start`: the gateway. With nothing configured (or NODE_ENV=development) it
// runs in development mode on embedded parts: PGlite for PostgreSQL, the in-process queue for
// Kafka, and the amoCRM simulator beside it.
// `npm start` runs `node --import tsx src/main.ts`, not tsx's CLI: that CLI forwards a signal and
// SIGKILLs its child unless the child acknowledges within ~60 ms, which a gateway busy with PGlite
// (it runs on this thread) misses, so the shutdown below would never run.
import { buildApp } from './app.ts';
import { ConfigError, loadConfig, type Config } from './platform/config.ts';
import { startEmbeddedDatabase, type EmbeddedDatabase } from './dev/embedded-db.ts';
import { migrate } from './dev/migrate.ts';
import { ensureAdminPageBuilt } from './dev/admin-build.ts';
import { devToken } from './dev/dev-token.ts';
import { createDb } from './platform/db.ts';
import { createLogger } from './platform/logger.ts';
import { startTracing } from './platform/tracing.ts';
import type { AmoSimulator } from '@quiz-gateway/amo-sim';

let config: Config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(2);
  }
  throw err;
}
const logger = createLogger({ level: config.logLevel });
// before anything that makes spans; a no-op unless OTEL_EXPORTER_OTLP_ENDPOINT is set
const tracing = startTracing(config.tracing);

let embedded: EmbeddedDatabase | undefined;
if (!config.databaseUrl) {
  embedded = await startEmbeddedDatabase(config.dataDir, Number(process.env.EMBEDDED_DB_PORT ?? 54329));
  config.databaseUrl = embedded.url;
  logger.warn({ dataDir: config.dataDir }, 'DATABASE_URL is not set: using the embedded database (PGlite)');
}
if (!config.isProduction || embedded) {
  await migrate(config.databaseUrl);
}

// Development without a real amoCRM integration: the simulator plays amoCRM.
let sim: AmoSimulator | undefined;
if (!config.isProduction && !process.env.AMO_CLIENT_ID && process.env.AMO_SIMULATOR !== 'off') {
  // Loaded here only: production never imports the simulator's package.
  const { createAmoSimulator } = await import('@quiz-gateway/amo-sim');
  sim = createAmoSimulator({
    clientId: config.amo.clientId,
    clientSecret: config.amo.clientSecret,
    redirectUri: config.amo.redirectUri,
    rateLimitRps: config.amo.rateLimitRps,
  });
  const simUrl = await sim.start(Number(process.env.AMO_SIM_PORT ?? 4010));
  sim.seedAccount({ subdomain: 'demo', name: 'ООО «Демо Квиз»', users: 4, pipelines: 3, statusesPerPipeline: 5 });
  config.amo.authUrl = `${simUrl}/oauth`;
  config.amo.allowHttp = true;
}

if (!config.isProduction) ensureAdminPageBuilt(logger);

// PGlite is one PostgreSQL session: its socket server interleaves the protocol
// messages of several connections, so the embedded database gets exactly one.
const db = embedded ? createDb(config.databaseUrl, { max: 1 }) : undefined;
const app = await buildApp({ config, logger, db });
const url = await app.start();

if (!config.isProduction) {
  const demoTenant = process.env.DEMO_TENANT ?? 'demo';
  const token = await devToken(config, demoTenant);
  const line = '='.repeat(72);
  console.log(`\n${line}\n  DEVELOPMENT MODE — not for production (NODE_ENV=production, or DATABASE_URL/KAFKA_BROKERS without NODE_ENV, turns it off)\n${line}`);
  console.log(`  GraphiQL:        ${url}/graphql`);
  // the token travels in the fragment: the page takes it from there and the browser never sends it
  console.log(`  Admin page:      ${url}/admin/${token ? `#token=${token}` : ''}`);
  if (token) console.log(`  Demo tenant:     ${demoTenant}\n  Dev token:       ${token}\n  Header:          {"authorization": "Bearer <dev token>"}`);
  console.log(`  Database:        ${embedded ? `embedded (PGlite) in ${config.dataDir}/pglite` : 'DATABASE_URL'}`);
  console.log(`  Queue:           ${config.kafka.brokers.length ? `Kafka ${config.kafka.brokers.join(',')}` : 'in-process (KAFKA_BROKERS unset)'}`);
  if (sim) console.log(`  amoCRM:          simulator at ${sim.url} (control API ${sim.url}/_sim)`);
  console.log(`${line}\n`);
} else {
  logger.info({ url }, 'gateway listening');
}

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutting down');
  // which step a forced exit cut short, so a hung shutdown says where it hung
  let phase = 'app';
  const force = setTimeout(() => {
    logger.error({ phase }, 'shutdown did not finish in 30 s; exiting');
    if (!config.isProduction) console.error(`gateway shutdown hung in: ${phase}`);
    process.exit(1);
  }, 30_000);
  force.unref();
  try {
    await app.stop();
    phase = 'database client';
    await db?.$disconnect();
    phase = 'simulator';
    await sim?.stop();
    phase = 'embedded database';
    await embedded?.stop();
    phase = 'tracing';
    await tracing?.shutdown();
    logger.info('gateway stopped cleanly');
    if (!config.isProduction) console.log('gateway stopped cleanly');
    process.exit(0);
  } catch (err) {
    logger.error({ err }, 'shutdown failed');
    process.exit(1);
  }
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
