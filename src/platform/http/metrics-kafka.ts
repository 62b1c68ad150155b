// `gateway_queue_lag_messages`: the workers' consumer-group lag, read from the broker on scrape.
import kafkajs from 'kafkajs';
import type { Admin } from 'kafkajs';
import { Gauge, type Registry } from 'prom-client';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { TOPICS, type Queue } from '../queue/index.ts';
import { AMO_TASKS_GROUP, DELIVERY_GROUP } from '../queue/groups.ts';
import { SCRAPE_TIMEOUT_MS, withTimeout } from './metrics-database.ts';

/** Each worker topic and the consumer group every replica shares for it (src/features/catalogue/worker.ts, src/features/delivery/worker.ts). */
const LAGGED = [
  { topic: TOPICS.quizResults, group: DELIVERY_GROUP },
  { topic: TOPICS.amoTasks, group: AMO_TASKS_GROUP },
] as const;

/** Registers the gauge; `close()` disconnects the admin client it opened (on first scrape). */
export function registerQueueLag(registry: Registry, config: Config, queue: Queue, log: Logger): { close(): Promise<void> } {
  let admin: Admin | undefined;

  async function kafkaLag(): Promise<Map<string, number>> {
    if (!admin) {
      const kafka = new kafkajs.Kafka({
        clientId: 'quiz-gateway-metrics',
        brokers: config.kafka.brokers,
        connectionTimeout: 1_000,
        requestTimeout: SCRAPE_TIMEOUT_MS,
        // A few quick retries: the group coordinator lookup fails at first for a group the broker has not seen.
        retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 500 },
        logLevel: kafkajs.logLevel.NOTHING,
      });
      admin = kafka.admin();
      await admin.connect();
    }
    const prefix = config.kafka.topicPrefix;
    const lags = new Map<string, number>();
    for (const lagged of LAGGED) {
      const topic = `${prefix}${lagged.topic}`;
      const committed = await admin.fetchOffsets({ groupId: `${prefix}${lagged.group}`, topics: [topic] });
      const ends = await admin.fetchTopicOffsets(topic);
      const group = committed.find((c) => c.topic === topic)?.partitions ?? [];
      let lag = 0;
      for (const end of ends) {
        const at = group.find((p) => p.partition === end.partition)?.offset ?? '-1';
        // Nothing committed yet: everything from the start of the log is waiting.
        const from = Number(at) >= 0 ? Number(at) : Number(end.low);
        lag += Math.max(0, Number(end.high) - from);
      }
      lags.set(lagged.topic, lag);
    }
    return lags;
  }

  async function disconnect(): Promise<void> {
    const open = admin;
    admin = undefined;
    await open?.disconnect().catch(() => undefined);
  }

  new Gauge({
    name: 'gateway_queue_lag_messages',
    help: 'Messages not yet handled by the workers consumer group, per topic (Kafka: log end − committed offset; in-process queue: 0).',
    labelNames: ['topic'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      if (queue.kind !== 'kafka') {
        for (const { topic } of LAGGED) this.set({ topic }, 0);
        return;
      }
      try {
        const lags = await withTimeout(kafkaLag(), SCRAPE_TIMEOUT_MS, 'kafka lag');
        for (const [topic, lag] of lags) this.set({ topic }, lag);
      } catch (err) {
        log.warn({ err }, 'could not read kafka consumer lag for /metrics');
        // Leave the series out rather than report a made-up value.
        this.reset();
        await disconnect();
      }
    },
  });

  return { close: disconnect };
}
