// Used by scripts/kafka.sh: exits 0 when the broker at argv[2] (host:port)
// answers a kafkajs admin describeCluster, 1 otherwise. Plain JS so that it
// runs with bare `node` (no tsx needed).
import kafkajs from 'kafkajs';

const { Kafka, logLevel } = kafkajs;
const broker = process.argv[2];
if (!broker) {
  console.error('usage: node health.mjs host:port');
  process.exit(2);
}

const kafka = new Kafka({
  clientId: 'kafka-sh-health',
  brokers: [broker],
  logLevel: logLevel.NOTHING,
  connectionTimeout: 2000,
  requestTimeout: 3000,
  retry: { retries: 0 },
});
const admin = kafka.admin();
const timer = setTimeout(() => process.exit(1), 8000);
try {
  await admin.connect();
  const cluster = await admin.describeCluster();
  if (!cluster.brokers.length || cluster.controller == null) throw new Error('no brokers / no controller yet');
  await admin.disconnect();
  clearTimeout(timer);
  process.exit(0);
} catch {
  clearTimeout(timer);
  process.exit(1);
}
