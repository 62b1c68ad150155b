import kafkajs from 'kafkajs';
import { setTimeout as delay } from 'node:timers/promises';
import type { Admin, Consumer, Producer } from 'kafkajs';
import { BaseQueue, type BaseQueueOptions } from './base.ts';
import type { EncodedMessage } from './codec.ts';
import type { SubscribeSpec } from './deliver.ts';
import { ensureTopics, HealthCheck, topicEnds } from './kafka-admin.ts';
import { CLIENT_RETRY, kafkaClient, SocketTracker } from './kafka-client.ts';
import { KafkaSubscription } from './kafka-consumer.ts';
import { DLQ_SUFFIX, type DeadLetter, type Subscription, type TopicName } from './types.ts';

const { Partitioners } = kafkajs;

export interface KafkaQueueOptions extends BaseQueueOptions {
  brokers: string[];
  clientId: string;
  onFatal: (err: Error) => void;
}

/** The Kafka queue: one producer and admin, a consumer (own client) per subscription. */
export class KafkaQueue extends BaseQueue {
  readonly kind = 'kafka' as const;
  private readonly sockets = new SocketTracker();
  private readonly health: HealthCheck;
  private readonly producer: Producer;
  private readonly admin: Admin;
  private readonly subscriptions = new Set<KafkaSubscription>();
  private closing: Promise<void> | undefined;

  private constructor(private readonly opts: KafkaQueueOptions) {
    super(opts, opts.logger.child({ component: 'queue', queue: 'kafka' }));
    const kafka = kafkaClient(opts, this.sockets);
    this.health = new HealthCheck(opts);
    this.producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner, // explicit: no KAFKAJS_NO_PARTITIONER_WARNING
      retry: CLIENT_RETRY,
    });
    this.admin = kafka.admin();
  }

  /** Connects, creates the topics (and their `.dlq`) with leaders, connects the producer. */
  static async create(opts: KafkaQueueOptions): Promise<KafkaQueue> {
    const queue = new KafkaQueue(opts);
    try {
      await queue.admin.connect();
      await ensureTopics(queue.admin, queue, opts.partitions, queue.log);
      await queue.producer.connect();
    } catch (err) {
      await queue.close().catch(() => undefined);
      throw err;
    }
    return queue;
  }

  /** The real topic name (prefix included). */
  topicName(topic: TopicName): string {
    return `${this.opts.topicPrefix}${topic}`;
  }

  /** The dead-letter topic of a topic (prefix included). */
  deadLetterTopicName(topic: TopicName): string {
    return `${this.opts.topicPrefix}${topic}${DLQ_SUFFIX}`;
  }

  async ready(): Promise<boolean> {
    if (this.closed) return false;
    return this.health.ready();
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      await Promise.allSettled([...this.subscriptions].map((s) => s.stop()));
      const [, , health] = await Promise.allSettled([this.producer.disconnect(), this.admin.disconnect(), this.health.close()]);
      const leftovers = this.sockets.destroyLeftovers() + (health.status === 'fulfilled' ? health.value : 0);
      if (leftovers > 0) this.log.debug({ sockets: leftovers }, 'closed sockets kafkajs left open');
    })();
    return this.closing;
  }

  protected async send(topic: TopicName, messages: EncodedMessage[]): Promise<void> {
    await this.producer.send({ topic: this.topicName(topic), messages });
  }

  /** Parks a message on `<topic>.dlq`; throws if that fails (the message is then redelivered). */
  protected async park(deadLetter: DeadLetter): Promise<void> {
    await this.producer.send({
      topic: this.deadLetterTopicName(deadLetter.topic),
      messages: [{ key: deadLetter.key, value: JSON.stringify(deadLetter) }],
    });
  }

  protected async subscribe(topic: TopicName, groupId: string, spec: SubscribeSpec): Promise<Subscription> {
    const realTopic = this.topicName(topic);
    // "Every message published after it subscribed": remember the end of every partition now;
    // once the (single-member) group has joined, seek there. kafkajs on its own would look
    // "latest" up only at its first fetch, losing what is published in between.
    const ends = spec.fromLatest ? await topicEnds(this.admin, realTopic) : [];
    const subscription = new KafkaSubscription(topic, groupId, spec, this.log, { ...this.opts, deadLetter: (d, e) => this.deadLetter(d, e) });
    this.subscriptions.add(subscription);
    subscription.onStopped = () => this.subscriptions.delete(subscription);
    try {
      await subscription.start(realTopic, spec.concurrency, !spec.fromLatest);
      for (const end of ends) await seekOnceRunning(subscription.consumer, { topic: realTopic, partition: end.partition, offset: end.high });
    } catch (err) {
      await subscription.stop().catch(() => undefined);
      throw err;
    }
    return subscription;
  }
}

const SEEK_TRIES = 60;
const SEEK_RETRY_MS = 500;

/**
 * kafkajs' run() also resolves when the consumer crashed at its first join (a loaded broker), and
 * until it restarts (its own retry, a moment later) seek() throws "Consumer group was not
 * initialized": then seek again once it runs (seen in CI: a gateway failed to start on it).
 */
export async function seekOnceRunning(consumer: Consumer, target: { topic: string; partition: number; offset: string }): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      consumer.seek(target);
      return;
    } catch (err) {
      if (attempt >= SEEK_TRIES || !/not initialized/i.test(String((err as Error)?.message))) throw err;
      await delay(SEEK_RETRY_MS);
    }
  }
}
