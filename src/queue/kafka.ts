import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import kafkajs from 'kafkajs';
import type { Admin, Consumer, EachBatchPayload, ISocketFactory, KafkaConfig, KafkaMessage, Producer, logCreator } from 'kafkajs';
import type { Logger } from '../logger.ts';
import { handleWithRetries, Latch, toError, type RetryPolicy } from './retry.ts';
import {
  ALL_TOPICS,
  DLQ_SUFFIX,
  TOPICS,
  type BatchHandler,
  type ConsumeBatchOptions,
  type ConsumeOptions,
  DEFAULT_MAX_BATCH,
  type DeadLetter,
  type Handler,
  type Queue,
  type QueueMessage,
  type Subscription,
  type TopicName,
  broadcastGroupId,
  workGroupId,
} from './types.ts';

const { Kafka, Partitioners, logLevel } = kafkajs;

export interface KafkaQueueOptions {
  brokers: string[];
  topicPrefix: string;
  clientId: string;
  instanceId: string;
  logger: Logger;
  partitions: number;
  retry: RetryPolicy;
  shutdownGraceMs: number;
  onFatal: (err: Error) => void;
  onDeadLetter?: (deadLetter: DeadLetter) => void;
}

/**
 * Retries of the kafkajs client itself (connections, metadata, produce, fetch,
 * commit). Generous on purpose: with a 5 s cap, 20 tries wait about 80 s, so a
 * broker restart of 10–20 s is ridden out (publish waits, consumers reconnect)
 * instead of crashing the process.
 */
const CLIENT_RETRY = { initialRetryTime: 300, maxRetryTime: 5_000, retries: 20, factor: 0.2, multiplier: 2 };

/** Heartbeats sent while a (slow) handler runs, so the group does not drop us. */
const HEARTBEAT_INTERVAL_MS = 1_000;

function kafkaLogCreator(base: Logger): logCreator {
  const log = base.child({ component: 'kafkajs' });
  return () => (entry) => {
    const { message, ...extra } = entry.log;
    // We bound the idempotent producer's retries on purpose (see CLIENT_RETRY): publish must
    // fail eventually instead of hanging forever during a long outage.
    if (message === 'Limiting retries for the idempotent producer may invalidate EoS guarantees') return;
    // Our own clean-up of sockets kafkajs forgot (SocketTracker), not a broker problem.
    if (typeof message === 'string' && message.includes(LEFTOVER_SOCKET)) return;
    const fields = { namespace: entry.namespace, ...extra };
    switch (entry.level) {
      case logLevel.ERROR:
        log.error(fields, message);
        break;
      case logLevel.WARN:
        log.warn(fields, message);
        break;
      case logLevel.INFO:
        log.info(fields, message);
        break;
      default:
        log.debug(fields, message);
    }
  };
}

function kafkaLogLevel(base: Logger): number {
  return base.isLevelEnabled('debug') ? logLevel.INFO : logLevel.WARN;
}

/**
 * kafkajs' own socket factory, plus a record of the sockets it opened.
 *
 * Why: after a broker restart kafkajs (2.2.4) can drop a Broker object from its pool
 * (`removeBroker` on a closed connection) while the consumer group still holds it as
 * its coordinator and reconnects it; `disconnect()` then never closes that socket,
 * and the process cannot exit until the broker reaps the idle connection (10 min).
 * Every client gets its own set, and whatever is still open after disconnect() is
 * destroyed.
 */
const LEFTOVER_SOCKET = 'closed by the queue after disconnect';

class SocketTracker {
  readonly sockets = new Set<Socket>();
  readonly factory: ISocketFactory = ({ host, port, ssl, onConnect }) => {
    const socket: Socket = ssl
      ? tlsConnect({ host, port, ...(isIP(host) ? {} : { servername: host }), ...ssl }, onConnect)
      : netConnect({ host, port }, onConnect);
    socket.setKeepAlive(true, 60_000);
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    return socket;
  };
  /**
   * Destroys what disconnect() left open; returns how many. Destroyed *with an error*, so
   * kafkajs' own error path runs (rejects pending requests, stops its request-timeout
   * timers); a bare destroy() would leave those timers keeping the process alive.
   */
  destroyLeftovers(): number {
    let n = 0;
    for (const socket of this.sockets) {
      if (!socket.destroyed) {
        socket.destroy(new Error(LEFTOVER_SOCKET));
        n++;
      }
    }
    this.sockets.clear();
    return n;
  }
}

export class KafkaQueue implements Queue {
  readonly kind = 'kafka' as const;
  private readonly kafka: InstanceType<typeof Kafka>;
  private readonly sockets = new SocketTracker();
  private readonly healthSockets = new SocketTracker();
  private readonly healthKafka: InstanceType<typeof Kafka>;
  private readonly producer: Producer;
  private readonly admin: Admin;
  private healthAdmin: Admin | undefined;
  private readonly subscriptions = new Set<KafkaSubscription>();
  private readonly log: Logger;
  private broadcastCount = 0;
  private closed = false;
  private closing: Promise<void> | undefined;

  private constructor(private readonly opts: KafkaQueueOptions) {
    this.log = opts.logger.child({ component: 'queue', queue: 'kafka' });
    this.kafka = this.client(this.sockets);
    // A second client for ready(): no retries, short timeouts, so /readyz answers quickly.
    this.healthKafka = new Kafka({
      clientId: `${opts.clientId}-health`,
      brokers: opts.brokers,
      connectionTimeout: 1_000,
      requestTimeout: 3_000,
      retry: { retries: 0 },
      logLevel: logLevel.NOTHING,
      socketFactory: this.healthSockets.factory,
    });
    this.producer = this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner, // explicit: no KAFKAJS_NO_PARTITIONER_WARNING
      retry: CLIENT_RETRY,
    });
    this.admin = this.kafka.admin();
  }

  /** A kafkajs client (producer/admin share one; every consumer gets its own). */
  private client(sockets: SocketTracker): InstanceType<typeof Kafka> {
    const config: KafkaConfig = {
      clientId: this.opts.clientId,
      brokers: this.opts.brokers,
      connectionTimeout: 3_000,
      requestTimeout: 30_000,
      retry: CLIENT_RETRY,
      logLevel: kafkaLogLevel(this.opts.logger),
      logCreator: kafkaLogCreator(this.opts.logger),
      socketFactory: sockets.factory,
    };
    return new Kafka(config);
  }

  /** Connects, creates the topics (and their `.dlq`) with leaders, connects the producer. */
  static async create(opts: KafkaQueueOptions): Promise<KafkaQueue> {
    const queue = new KafkaQueue(opts);
    try {
      await queue.admin.connect();
      await queue.ensureTopics();
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

  private async ensureTopics(): Promise<void> {
    const wanted = ALL_TOPICS.flatMap((topic) => [
      { topic: this.topicName(topic), numPartitions: topic === TOPICS.amoEvents ? 1 : this.opts.partitions, replicationFactor: -1 },
      { topic: this.deadLetterTopicName(topic), numPartitions: 1, replicationFactor: -1 },
    ]);
    const existing = new Set(await this.admin.listTopics());
    const missing = wanted.filter((t) => !existing.has(t.topic));
    if (missing.length > 0) {
      try {
        await this.admin.createTopics({ topics: missing, waitForLeaders: true, timeout: 30_000 });
        this.log.info({ topics: missing.map((t) => t.topic) }, 'created kafka topics');
      } catch (err) {
        // Another replica may have created some of them at the same moment.
        const now = new Set(await this.admin.listTopics());
        if (missing.some((t) => !now.has(t.topic))) throw err;
      }
    }
    // Leaders known for every partition (also for topics another replica just created).
    await this.admin.fetchTopicMetadata({ topics: wanted.map((t) => t.topic) });
  }

  async publish(topic: TopicName, key: string, value: unknown): Promise<void> {
    await this.publishBatch(topic, [{ key, value }]);
  }

  async publishBatch(topic: TopicName, messages: { key: string; value: unknown }[]): Promise<void> {
    if (this.closed) throw new Error('queue is closed');
    if (messages.length === 0) return;
    const encoded = messages.map(({ key, value }) => {
      if (typeof key !== 'string') throw new TypeError('queue message key must be a string');
      const json = JSON.stringify(value);
      if (json === undefined) throw new TypeError('queue message value is not JSON-serializable');
      return { key, value: json };
    });
    await this.producer.send({ topic: this.topicName(topic), messages: encoded });
  }

  async consume(topic: TopicName, group: string, handler: Handler, opts?: ConsumeOptions): Promise<Subscription> {
    return this.subscribe(topic, workGroupId(this.opts.topicPrefix, group), handler, opts?.concurrency ?? 1, false);
  }

  async consumeBatch(topic: TopicName, group: string, handler: BatchHandler, opts?: ConsumeBatchOptions): Promise<Subscription> {
    const maxBatch = Math.max(1, opts?.maxBatch ?? DEFAULT_MAX_BATCH);
    return this.subscribe(topic, workGroupId(this.opts.topicPrefix, group), (m) => handler([m]), opts?.concurrency ?? 1, false, { handler, maxBatch });
  }

  async broadcast(topic: TopicName, handler: Handler): Promise<Subscription> {
    const groupId = broadcastGroupId(this.opts.topicPrefix, this.opts.instanceId, ++this.broadcastCount);
    return this.subscribe(topic, groupId, handler, 1, true);
  }

  async ready(): Promise<boolean> {
    if (this.closed) return false;
    const check = async () => {
      this.healthAdmin ??= this.healthKafka.admin();
      await this.healthAdmin.connect();
      const cluster = await this.healthAdmin.describeCluster();
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
      const admin = this.healthAdmin;
      this.healthAdmin = undefined;
      await admin?.disconnect().catch(() => undefined);
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      await Promise.allSettled([...this.subscriptions].map((s) => s.stop()));
      await Promise.allSettled([this.producer.disconnect(), this.admin.disconnect(), this.healthAdmin?.disconnect()]);
      const leftovers = this.sockets.destroyLeftovers() + this.healthSockets.destroyLeftovers();
      if (leftovers > 0) this.log.debug({ sockets: leftovers }, 'closed sockets kafkajs left open');
    })();
    return this.closing;
  }

  // ------------------------------------------------------------------ internals

  private async subscribe(
    topic: TopicName,
    groupId: string,
    handler: Handler,
    concurrency: number,
    fromLatest: boolean,
    batch?: { handler: BatchHandler; maxBatch: number },
  ): Promise<Subscription> {
    if (this.closed) throw new Error('queue is closed');
    const realTopic = this.topicName(topic);
    // "Every message published after it subscribed": remember the end of every partition now;
    // once the (single-member) group has joined, seek there. kafkajs on its own would look
    // "latest" up only at its first fetch, losing what is published in between.
    const ends = fromLatest ? await this.admin.fetchTopicOffsets(realTopic) : [];
    const sockets = new SocketTracker();
    const consumer = this.client(sockets).consumer({
      groupId,
      sessionTimeout: 30_000,
      rebalanceTimeout: 60_000,
      heartbeatInterval: 3_000,
      maxWaitTimeInMs: 1_000,
      retry: CLIENT_RETRY,
    });
    const subscription = new KafkaSubscription(this, consumer, sockets, topic, groupId, handler, this.log, this.opts, batch);
    this.subscriptions.add(subscription);
    subscription.onStopped = () => this.subscriptions.delete(subscription);
    try {
      await subscription.start(realTopic, concurrency, !fromLatest);
      for (const end of ends) consumer.seek({ topic: realTopic, partition: end.partition, offset: end.high });
    } catch (err) {
      await subscription.stop().catch(() => undefined);
      throw err;
    }
    return subscription;
  }

  /** Parks a message on `<topic>.dlq`; throws if that fails (the message is then redelivered). */
  async deadLetter(deadLetter: DeadLetter): Promise<void> {
    await this.producer.send({
      topic: this.deadLetterTopicName(deadLetter.topic),
      messages: [{ key: deadLetter.key, value: JSON.stringify(deadLetter) }],
    });
    this.log.error(
      {
        topic: deadLetter.topic,
        key: deadLetter.key,
        partition: deadLetter.partition,
        offset: deadLetter.offset,
        group: deadLetter.group,
        attempts: deadLetter.attempts,
        error: deadLetter.error,
      },
      'queue message dead-lettered after retries',
    );
    try {
      this.opts.onDeadLetter?.(deadLetter);
    } catch (err) {
      this.log.error({ err }, 'onDeadLetter callback threw');
    }
  }
}

class KafkaSubscription implements Subscription {
  private readonly stopping = new Latch();
  private readonly abandon = new Latch();
  private stopped: Promise<void> | undefined;
  onStopped: (() => void) | undefined;

  constructor(
    private readonly queue: KafkaQueue,
    private readonly consumer: Consumer,
    private readonly sockets: SocketTracker,
    private readonly topic: TopicName,
    private readonly groupId: string,
    private readonly handler: Handler,
    private readonly log: Logger,
    private readonly opts: KafkaQueueOptions,
    /** consumeBatch: the batch handler and its largest batch (`handler` is then `batch([m])`). */
    private readonly batch?: { handler: BatchHandler; maxBatch: number },
  ) {
    consumer.on(consumer.events.CRASH, (event) => {
      const { error, restart } = event.payload;
      if (restart) {
        this.log.warn({ groupId, err: error }, 'kafka consumer crashed, kafkajs restarts it');
        return;
      }
      if (this.stopping.fired) return;
      this.log.fatal({ groupId, err: error }, 'kafka consumer crashed for good');
      this.opts.onFatal(toError(error));
    });
  }

  async start(realTopic: string, concurrency: number, fromBeginning: boolean): Promise<void> {
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: realTopic, fromBeginning });
    // run() resolves after the first join+sync (or after a crash, which kafkajs retries).
    await this.consumer.run({
      autoCommit: true,
      autoCommitThreshold: 1, // commitOffsetsIfNecessary() after each message commits it
      eachBatchAutoResolve: false, // only what the handler finished is committed
      partitionsConsumedConcurrently: Math.max(1, concurrency),
      eachBatch: (payload) => this.eachBatch(payload),
    });
  }

  private async eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale } = payload;
    if (this.batch) return this.eachBatchAtOnce(payload, this.batch);
    for (const raw of batch.messages) {
      if (!isRunning() || isStale() || this.stopping.fired) return;
      const finished = await this.handleOne(batch.partition, raw, heartbeat);
      if (!finished) return; // abandoned at stop: not resolved, so redelivered
      resolveOffset(raw.offset);
      await commitOffsetsIfNecessary();
    }
  }

  /**
   * consumeBatch: up to maxBatch messages per handler call; the last offset is resolved (and
   * committed) only after the handler finished. A failing chunk (or one holding a value that is
   * not JSON) goes message by message through handleOne: retries, then dead-letter.
   */
  private async eachBatchAtOnce(payload: EachBatchPayload, opts: { handler: BatchHandler; maxBatch: number }): Promise<void> {
    const { batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale } = payload;
    const alive = () => isRunning() && !isStale() && !this.stopping.fired;
    for (let i = 0; i < batch.messages.length; i += opts.maxBatch) {
      if (!alive()) return;
      const chunk = batch.messages.slice(i, i + opts.maxBatch);
      const messages: QueueMessage[] = [];
      for (const raw of chunk) {
        try {
          const value: unknown = JSON.parse(raw.value?.toString('utf8') ?? 'null');
          messages.push({ topic: this.topic, key: raw.key?.toString('utf8') ?? '', value, partition: batch.partition, offset: raw.offset, attempt: 1 });
        } catch {
          break; // handled (dead-lettered) by handleOne below
        }
      }
      const outcome = messages.length === chunk.length ? await this.handleChunk(messages, opts.handler, heartbeat) : 'failed';
      if (outcome === 'aborted') return;
      if (outcome === 'ok') {
        resolveOffset(chunk[chunk.length - 1].offset);
        await commitOffsetsIfNecessary();
        continue;
      }
      for (const raw of chunk) {
        if (!alive()) return;
        const finished = await this.handleOne(batch.partition, raw, heartbeat);
        if (!finished) return;
        resolveOffset(raw.offset);
        await commitOffsetsIfNecessary();
      }
    }
  }

  /** One try of the batch handler, heartbeating while it runs. */
  private async handleChunk(messages: QueueMessage[], handler: BatchHandler, heartbeat: () => Promise<void>): Promise<'ok' | 'failed' | 'aborted'> {
    const beat = setInterval(() => {
      heartbeat().catch((err: unknown) => this.log.debug({ err, groupId: this.groupId }, 'heartbeat during handler failed'));
    }, HEARTBEAT_INTERVAL_MS);
    try {
      let error: unknown;
      const run = handler(messages).then(
        () => true,
        (err: unknown) => {
          error = err;
          return false;
        },
      );
      const done = await Promise.race([run.then(() => true), this.abandon.promise.then(() => false)]);
      if (!done) return 'aborted';
      if (await run) return 'ok';
      if (this.stopping.fired) return 'aborted'; // not resolved: redelivered to the group
      this.log.warn(
        { topic: this.topic, partition: messages[0].partition, offset: messages[0].offset, count: messages.length, err: error, groupId: this.groupId },
        'queue batch handler failed, handling its messages one by one',
      );
      return 'failed';
    } finally {
      clearInterval(beat);
    }
  }

  /** true when the message is done with (handled or dead-lettered). */
  private async handleOne(partition: number, raw: KafkaMessage, heartbeat: () => Promise<void>): Promise<boolean> {
    const key = raw.key?.toString('utf8') ?? '';
    const text = raw.value?.toString('utf8') ?? 'null';
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      // Not JSON: retrying cannot help.
      await this.queue.deadLetter(this.deadLetterOf({ key, value: text, partition, offset: raw.offset }, toError(err), 1));
      return true;
    }
    const message: QueueMessage = { topic: this.topic, key, value, partition, offset: raw.offset };
    const beat = setInterval(() => {
      heartbeat().catch((err: unknown) => this.log.debug({ err, groupId: this.groupId }, 'heartbeat during handler failed'));
    }, HEARTBEAT_INTERVAL_MS);
    try {
      const outcome = await handleWithRetries(this.handler, message, this.opts.retry, { stopping: this.stopping, abandon: this.abandon }, this.log);
      if (outcome.kind === 'aborted') return false;
      if (outcome.kind === 'failed') await this.queue.deadLetter(this.deadLetterOf(message, outcome.error, outcome.attempts));
      return true;
    } finally {
      clearInterval(beat);
    }
  }

  private deadLetterOf(message: { key: string; value: unknown; partition?: number; offset?: string }, error: Error, attempts: number): DeadLetter {
    return {
      topic: this.topic,
      key: message.key,
      value: message.value,
      partition: message.partition,
      offset: message.offset,
      group: this.groupId,
      error: { name: error.name, message: error.message, stack: error.stack },
      attempts,
      failedAt: new Date().toISOString(),
    };
  }

  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping.fire();
      const timer = setTimeout(() => this.abandon.fire(), this.opts.shutdownGraceMs);
      try {
        await this.consumer.disconnect();
      } catch (err) {
        this.log.warn({ err, groupId: this.groupId }, 'kafka consumer did not disconnect cleanly');
      } finally {
        clearTimeout(timer);
        const leftovers = this.sockets.destroyLeftovers();
        if (leftovers > 0) this.log.debug({ groupId: this.groupId, sockets: leftovers }, 'closed sockets kafkajs left open');
        this.onStopped?.();
      }
    })();
    return this.stopped;
  }
}
