// Child process of bench/delivery.ts: one gateway process's delivery worker (the quiz.results
// consumer and the delivery loop, production defaults) on the real Kafka broker, so its CPU and
// RSS are its own. stdin `{"cmd":"cpu"}` → `MSG {cpuMs, rssMiB}`.
import { createQueue } from '../src/platform/queue/index.ts';
import { createLogger } from '../src/platform/logger.ts';
import { createDb } from '../src/platform/db.ts';
import { startDeliveryWorker } from '../src/features/delivery/worker.ts';
import { deliveryServices } from '../test/helpers/delivery.ts';
import { onStdinLines, rssMiB } from './lib.ts';

const logger = createLogger({ level: process.env.BENCH_LOG_LEVEL ?? 'error' });
const queue = await createQueue({
  brokers: process.env.KAFKA_BROKERS!.split(','),
  topicPrefix: process.env.KAFKA_TOPIC_PREFIX!,
  logger,
});
const db = createDb(process.env.DATABASE_URL!);
const services = await deliveryServices(db, queue, { logger });
// BENCH_DELIVERY_PASSES: passesInFlight other than the default (to compare)
const passes = process.env.BENCH_DELIVERY_PASSES ? { passesInFlight: Number(process.env.BENCH_DELIVERY_PASSES) } : {};
const worker = await startDeliveryWorker(services, passes);
const cpu0 = process.cpuUsage();
console.log(`READY ${JSON.stringify({ pid: process.pid })}`);

onStdinLines((msg) => {
  if (msg.cmd === 'cpu') {
    const u = process.cpuUsage(cpu0);
    console.log(`MSG ${JSON.stringify({ cpuMs: (u.user + u.system) / 1000, rssMiB: rssMiB(process.pid) })}`);
  }
});
process.on('SIGTERM', () => {
  void (async () => {
    await worker.stop();
    await queue.close();
    await db.$disconnect();
    process.exit(0);
  })();
});
