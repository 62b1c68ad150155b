import type { Consumer, EachBatchPayload } from 'kafkajs';
import type { Logger } from '../logger.ts';
import { deliver, StopSignals, type Delivery, type SubscribeSpec } from './deliver.ts';
import { CLIENT_RETRY, kafkaClient, SocketTracker } from './kafka-client.ts';
import type { RetryPolicy } from './retry.ts';
import { toError } from './retry.ts';
import type { DeadLetter, Subscription, TopicName } from './types.ts';

/** Heartbeats sent while a (slow) handler runs, so the group does not drop us. */
const HEARTBEAT_INTERVAL_MS = 1_000;

/**
 * A commit refused while a restarted broker still loads its groups is tried again (about 18 s in
 * all). Thrown into kafkajs instead, it can rejoin half-way and go on from the offset it resolved:
 * the commit then waits for the partition's next message (seen: a sync task uncommitted > 150 s).
 */
const COMMIT_TRIES = 8;
const COORDINATOR_MOMENT = new Set(['GROUP_LOAD_IN_PROGRESS', 'GROUP_COORDINATOR_NOT_AVAILABLE', 'NOT_COORDINATOR_FOR_GROUP']);
const isCoordinatorMoment = (err: unknown) => {
  const { type, name } = (err ?? {}) as { type?: string; name?: string };
  return (type !== undefined && COORDINATOR_MOMENT.has(type)) || name === 'KafkaJSConnectionError' || name === 'KafkaJSRequestTimeoutError';
};

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
        await this.commitRetrying(() => commitOffsetsIfNecessary());
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

  private async commitRetrying(commit: () => Promise<void>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await commit();
      } catch (err) {
        // anything else (a new generation, stopping) takes kafkajs' own path: rejoin, redeliver
        if (attempt >= COMMIT_TRIES || !isCoordinatorMoment(err) || this.signals.stopping.fired) throw err;
        this.log.warn({ err, groupId: this.groupId, attempt }, 'offset commit refused by a recovering broker; trying again');
        await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 250 * 2 ** (attempt - 1))));
      }
    }
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
