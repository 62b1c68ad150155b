import type { Consumer, EachBatchPayload } from 'kafkajs';
import type { Logger } from '../logger.ts';
import { deliver, StopSignals, type Delivery, type SubscribeSpec } from './deliver.ts';
import { CLIENT_RETRY, kafkaClient, SocketTracker } from './kafka-client.ts';
import type { RetryPolicy } from './retry.ts';
import { toError } from './retry.ts';
import type { DeadLetter, Subscription, TopicName } from './types.ts';

/** Heartbeats sent while a (slow) handler runs, so the group does not drop us. */
const HEARTBEAT_INTERVAL_MS = 1_000;

export interface KafkaSubscriptionOptions {
  clientId: string;
  brokers: string[];
  logger: Logger;
  retry: RetryPolicy;
  shutdownGraceMs: number;
  onFatal: (err: Error) => void;
  /** Parks and reports a dead letter (KafkaQueue.deadLetter). */
  deadLetter(deadLetter: DeadLetter, error: Error): Promise<void>;
}

/** One consumer (own client, own sockets) of one group, feeding the shared delivery algorithm. */
export class KafkaSubscription implements Subscription {
  readonly consumer: Consumer;
  private readonly sockets = new SocketTracker();
  private readonly signals = new StopSignals();
  private readonly delivery: Delivery;
  private stopped: Promise<void> | undefined;
  onStopped: (() => void) | undefined;

  constructor(
    topic: TopicName,
    private readonly groupId: string,
    spec: SubscribeSpec,
    private readonly log: Logger,
    private readonly opts: KafkaSubscriptionOptions,
  ) {
    this.consumer = kafkaClient(opts, this.sockets).consumer({
      groupId,
      sessionTimeout: 30_000,
      rebalanceTimeout: 60_000,
      heartbeatInterval: 3_000,
      maxWaitTimeInMs: 1_000,
      retry: CLIENT_RETRY,
    });
    const { handler, batch } = spec;
    this.delivery = { topic, group: groupId, handler, batch, retry: opts.retry, signals: this.signals, log, deadLetter: opts.deadLetter };
    this.consumer.on(this.consumer.events.CRASH, (event) => {
      const { error, restart } = event.payload;
      if (restart) {
        this.log.warn({ groupId, err: error }, 'kafka consumer crashed, kafkajs restarts it');
        return;
      }
      if (this.signals.stopping.fired) return;
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
      partitionsConsumedConcurrently: concurrency,
      eachBatch: (payload) => this.eachBatch(payload),
    });
  }

  private async eachBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale } = payload;
    await deliver(batch.messages, this.delivery, {
      partition: batch.partition,
      alive: () => isRunning() && !isStale() && !this.signals.stopping.fired,
      commit: async (offset) => {
        resolveOffset(offset);
        await commitOffsetsIfNecessary();
      },
      whileHandling: async (work) => {
        const beat = setInterval(() => {
          heartbeat().catch((err: unknown) => this.log.debug({ err, groupId: this.groupId }, 'heartbeat during handler failed'));
        }, HEARTBEAT_INTERVAL_MS);
        try {
          return await work();
        } finally {
          clearInterval(beat);
        }
      },
    });
  }

  stop(): Promise<void> {
    this.stopped ??= this.signals
      .stopWithin(this.opts.shutdownGraceMs, () =>
        this.consumer.disconnect().catch((err: unknown) => this.log.warn({ err, groupId: this.groupId }, 'kafka consumer did not disconnect cleanly')),
      )
      .finally(() => {
        const leftovers = this.sockets.destroyLeftovers();
        if (leftovers > 0) this.log.debug({ groupId: this.groupId, sockets: leftovers }, 'closed sockets kafkajs left open');
        this.onStopped?.();
      });
    return this.stopped;
  }
}
