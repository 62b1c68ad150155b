import type { Admin } from 'kafkajs';
import type { Logger } from '../logger.ts';
import { healthClient, SocketTracker, type KafkaClient } from './kafka-client.ts';
import { ALL_TOPICS, TOPICS, type TopicName } from './types.ts';

/** Real topic names (prefix included) of a deployment. */
export interface TopicNames {
  topicName(topic: TopicName): string;
  deadLetterTopicName(topic: TopicName): string;
}

/** Creates the missing topics and their `.dlq` (another replica may race us) and waits for their leaders. */
export async function ensureTopics(admin: Admin, names: TopicNames, partitions: number, log: Logger): Promise<void> {
  const wanted = ALL_TOPICS.flatMap((topic) => [
    { topic: names.topicName(topic), numPartitions: topic === TOPICS.amoEvents ? 1 : partitions, replicationFactor: -1 },
    { topic: names.deadLetterTopicName(topic), numPartitions: 1, replicationFactor: -1 },
  ]);
  const existing = new Set(await admin.listTopics());
  const missing = wanted.filter((t) => !existing.has(t.topic));
  if (missing.length > 0) {
    try {
      await admin.createTopics({ topics: missing, waitForLeaders: true, timeout: 30_000 });
      log.info({ topics: missing.map((t) => t.topic) }, 'created kafka topics');
    } catch (err) {
      // Another replica may have created some of them at the same moment.
      const now = new Set(await admin.listTopics());
      if (missing.some((t) => !now.has(t.topic))) throw err;
    }
  }
  // Leaders known for every partition (also for topics another replica just created).
  await admin.fetchTopicMetadata({ topics: wanted.map((t) => t.topic) });
}

/** ready(): a broker answers within 5 s, on a client of its own (no retries, short timeouts). */
export class HealthCheck {
  private readonly sockets = new SocketTracker();
  private readonly kafka: KafkaClient;
  private admin: Admin | undefined;

  constructor(opts: { clientId: string; brokers: string[] }) {
    this.kafka = healthClient(opts, this.sockets);
  }

  async ready(): Promise<boolean> {
    const check = async () => {
      this.admin ??= this.kafka.admin();
      await this.admin.connect();
      const cluster = await this.admin.describeCluster();
      return cluster.brokers.length > 0;
    };
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), 5_000);
    });
    try {
      return await Promise.race([check(), timeout]);
    } catch {
      // Start from a fresh connection next time.
      const admin = this.admin;
      this.admin = undefined;
      await admin?.disconnect().catch(() => undefined);
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Disconnects; returns how many sockets kafkajs left open (now destroyed). */
  async close(): Promise<number> {
    await this.admin?.disconnect().catch(() => undefined);
    return this.sockets.destroyLeftovers();
  }
}

/**
 * The end of every partition of a topic. Right after a topic is created (or a broker restarts) its
 * partitions may have no leader yet, and kafkajs' admin then throws NOT_LEADER_FOR_PARTITION at
 * once, without refreshing its metadata: refresh and ask again, briefly, before giving up.
 */
export async function topicEnds(admin: Admin, topic: string, attempts = 20): Promise<Array<{ partition: number; offset: string; high: string; low: string }>> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await admin.fetchTopicOffsets(topic);
    } catch (err) {
      if (!(err as { retriable?: boolean })?.retriable || attempt >= attempts) throw err;
      await new Promise((r) => setTimeout(r, Math.min(1_000, 50 * attempt)));
      await admin.fetchTopicMetadata({ topics: [topic] }).catch(() => {});
    }
  }
}
