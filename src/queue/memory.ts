import type { Logger } from '../logger.ts';
import { handleWithRetries, Latch, type RetryPolicy } from './retry.ts';
import {
  ALL_TOPICS,
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

/**
 * The in-process queue, used when KAFKA_BROKERS is unset. It mimics the Kafka
 * semantics the gateway relies on:
 * - every topic has partitions (a key always maps to the same partition), each
 *   consumer group has a committed position per partition, and a partition is
 *   owned by one member of the group at a time: same key → same order, one
 *   handler per group per message;
 * - a new `consume` group starts at the oldest retained message, a `broadcast`
 *   subscription is its own group starting at the end;
 * - delivery is asynchronous (publish resolves before any handler runs);
 * - positions move only after the handler finished (or the message was
 *   dead-lettered), so a message whose handler was abandoned at stop() goes to
 *   the group's next member;
 * - retries with backoff, then the message is kept in `deadLetters()`.
 *
 * Two MemoryQueue instances are independent: nothing published on one reaches
 * the other (there is no broker). Two "replicas" only share messages through Kafka.
 * Messages stay in memory until every group of their topic is past them (at most
 * `retainWithoutGroups` per partition while a topic has no group).
 */

const RETAIN_WITHOUT_GROUPS = 10_000;

/** Resolves every waiter on notify(). */
class Notifier {
  private latch = new Latch();
  wait(): Promise<void> {
    return this.latch.promise;
  }
  notify(): void {
    const current = this.latch;
    this.latch = new Latch();
    current.fire();
  }
}

interface Stored {
  key: string;
  value: unknown;
}

class Partition {
  base = 0; // offset of messages[0]
  messages: Stored[] = [];
  readonly appended = new Notifier();
  get end(): number {
    return this.base + this.messages.length;
  }
  at(offset: number): Stored | undefined {
    return this.messages[offset - this.base];
  }
  trimTo(offset: number): void {
    const drop = Math.min(offset, this.end) - this.base;
    if (drop > 0) {
      this.messages.splice(0, drop);
      this.base += drop;
    }
  }
}

class Topic {
  readonly partitions: Partition[];
  readonly groups = new Map<string, Group>();
  constructor(
    readonly name: TopicName,
    partitionCount: number,
  ) {
    this.partitions = Array.from({ length: partitionCount }, () => new Partition());
  }
  trim(p: number): void {
    const partition = this.partitions[p];
    if (this.groups.size === 0) {
      if (partition.messages.length > RETAIN_WITHOUT_GROUPS) partition.trimTo(partition.end - RETAIN_WITHOUT_GROUPS);
      return;
    }
    let min = partition.end;
    for (const group of this.groups.values()) min = Math.min(min, group.committed[p]);
    partition.trimTo(min);
  }
}

class Semaphore {
  private waiting: (() => void)[] = [];
  private free: number;
  constructor(size: number) {
    this.free = Math.max(1, size);
  }
  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

class Member {
  readonly stopping = new Latch();
  readonly abandon = new Latch();
  readonly slots: Semaphore;
  readonly loops = new Set<Promise<void>>();
  constructor(
    readonly handler: Handler,
    concurrency: number,
    /** consumeBatch: the batch handler and its largest batch (`handler` is then `batch([m])`). */
    readonly batch?: { handler: BatchHandler; maxBatch: number },
  ) {
    this.slots = new Semaphore(concurrency);
  }
}

class Group {
  readonly committed: number[];
  members: Member[] = [];
  generation = 0;
  readonly rebalanced = new Notifier();
  /** Per partition: the loop that currently owns it (a new owner waits for the old one). */
  readonly owners: (Promise<void> | undefined)[];
  constructor(
    readonly id: string,
    readonly topic: Topic,
    fromEnd: boolean,
  ) {
    this.committed = topic.partitions.map((p) => (fromEnd ? p.end : p.base));
    this.owners = topic.partitions.map(() => undefined);
  }
}

function hashKey(key: string): number {
  // FNV-1a, 32 bit: stable key → partition mapping.
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export interface MemoryQueueOptions {
  topicPrefix: string;
  instanceId: string;
  logger: Logger;
  partitions: number;
  retry: RetryPolicy;
  shutdownGraceMs: number;
  onDeadLetter?: (deadLetter: DeadLetter) => void;
}

export class MemoryQueue implements Queue {
  readonly kind = 'memory' as const;
  private readonly topics = new Map<TopicName, Topic>();
  private readonly deadLetterList: DeadLetter[] = [];
  private readonly subscriptions = new Set<Subscription>();
  private broadcastCount = 0;
  private closed = false;
  private readonly log: Logger;

  constructor(private readonly opts: MemoryQueueOptions) {
    this.log = opts.logger.child({ component: 'queue', queue: 'memory' });
    for (const name of ALL_TOPICS) {
      this.topics.set(name, new Topic(name, name === TOPICS.amoEvents ? 1 : opts.partitions));
    }
  }

  /** Messages parked after `maxAttempts` failures (a copy, oldest first). For tests and debugging. */
  deadLetters(): DeadLetter[] {
    return [...this.deadLetterList];
  }

  async publish(topic: TopicName, key: string, value: unknown): Promise<void> {
    await this.publishBatch(topic, [{ key, value }]);
  }

  async publishBatch(topic: TopicName, messages: { key: string; value: unknown }[]): Promise<void> {
    if (this.closed) throw new Error('queue is closed');
    const t = this.topic(topic);
    // Serialize first (all or nothing), like the Kafka producer: values travel as JSON.
    const encoded = messages.map(({ key, value }) => {
      if (typeof key !== 'string') throw new TypeError('queue message key must be a string');
      const json = JSON.stringify(value);
      if (json === undefined) throw new TypeError('queue message value is not JSON-serializable');
      return { key, value: JSON.parse(json) as unknown, p: hashKey(key) % t.partitions.length };
    });
    const touched = new Set<number>();
    for (const { key, value, p } of encoded) {
      t.partitions[p].messages.push({ key, value });
      touched.add(p);
    }
    for (const p of touched) {
      t.trim(p);
      t.partitions[p].appended.notify();
    }
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
    return !this.closed;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.subscriptions].map((s) => s.stop()));
  }

  // ------------------------------------------------------------------ internals

  private topic(name: TopicName): Topic {
    const t = this.topics.get(name);
    if (!t) throw new Error(`unknown topic ${String(name)}`);
    return t;
  }

  private subscribe(
    topicName: TopicName,
    groupId: string,
    handler: Handler,
    concurrency: number,
    fromEnd: boolean,
    batch?: { handler: BatchHandler; maxBatch: number },
  ): Subscription {
    if (this.closed) throw new Error('queue is closed');
    const topic = this.topic(topicName);
    let group = topic.groups.get(groupId);
    if (!group) {
      group = new Group(groupId, topic, fromEnd);
      topic.groups.set(groupId, group);
    }
    const member = new Member(handler, concurrency, batch);
    group.members.push(member);
    this.rebalance(group);

    const g = group;
    let stopped: Promise<void> | undefined;
    const subscription: Subscription = {
      stop: () => {
        stopped ??= (async () => {
          member.stopping.fire();
          // Hand its partitions to the other members now; each new owner starts only after
          // this member's message in flight finished (committed) or was abandoned (redelivered).
          this.rebalance(g);
          const timer = setTimeout(() => member.abandon.fire(), this.opts.shutdownGraceMs);
          try {
            await Promise.all([...member.loops]);
          } finally {
            clearTimeout(timer);
          }
          g.members = g.members.filter((m) => m !== member);
          this.subscriptions.delete(subscription);
        })();
        return stopped;
      },
    };
    this.subscriptions.add(subscription);
    return subscription;
  }

  /** Hands every partition of the group to one live member (round robin) and starts their loops. */
  private rebalance(group: Group): void {
    group.generation++;
    group.rebalanced.notify();
    const live = group.members.filter((m) => !m.stopping.fired);
    if (live.length === 0) return;
    const generation = group.generation;
    group.topic.partitions.forEach((_, p) => {
      const member = live[p % live.length];
      const previous = group.owners[p];
      const loop = this.partitionLoop(group, p, member, generation, previous);
      group.owners[p] = loop;
      member.loops.add(loop);
      void loop.finally(() => member.loops.delete(loop));
    });
  }

  private async partitionLoop(group: Group, p: number, member: Member, generation: number, previous: Promise<void> | undefined): Promise<void> {
    // Ownership changes hands only after the previous owner finished (or abandoned) its message.
    if (previous) await previous;
    const partition = group.topic.partitions[p];
    const current = () => group.generation === generation && !member.stopping.fired;
    while (current()) {
      const offset = group.committed[p];
      const stored = partition.at(offset);
      if (!stored) {
        await Promise.race([partition.appended.wait(), group.rebalanced.wait(), member.stopping.promise]);
        continue;
      }
      await member.slots.acquire();
      try {
        if (!current()) return;
        if (member.batch) {
          // Up to maxBatch queued messages at once; only if the batch fails, one by one below.
          const messages: QueueMessage[] = [];
          for (let o = offset; o < partition.end && messages.length < member.batch.maxBatch; o++) {
            const m = partition.at(o)!;
            messages.push({ topic: group.topic.name, key: m.key, value: m.value, partition: p, offset: String(o), attempt: 1 });
          }
          const outcome = await this.handleBatch(member, messages);
          if (outcome === 'aborted') return;
          if (outcome === 'ok') {
            group.committed[p] = offset + messages.length;
            group.topic.trim(p);
            continue;
          }
          for (const message of messages) {
            const one = await handleWithRetries(member.handler, message, this.opts.retry, member, this.log);
            if (one.kind === 'aborted') return;
            if (one.kind === 'failed') this.deadLetter(group, message, one.error, one.attempts);
            group.committed[p] = Number(message.offset) + 1;
            group.topic.trim(p);
          }
          continue;
        }
        const message: QueueMessage = { topic: group.topic.name, key: stored.key, value: stored.value, partition: p, offset: String(offset) };
        const outcome = await handleWithRetries(member.handler, message, this.opts.retry, member, this.log);
        if (outcome.kind === 'aborted') return;
        if (outcome.kind === 'failed') this.deadLetter(group, message, outcome.error, outcome.attempts);
        // The handler finished: commit, even if a rebalance happened meanwhile (like a Kafka
        // member committing before it rejoins).
        group.committed[p] = offset + 1;
        group.topic.trim(p);
      } finally {
        member.slots.release();
      }
    }
  }

  /** One try of the batch handler: 'failed' sends the batch down the one-by-one path. */
  private async handleBatch(member: Member, messages: QueueMessage[]): Promise<'ok' | 'failed' | 'aborted'> {
    let error: unknown;
    const run = member.batch!.handler(messages).then(
      () => true,
      (err: unknown) => {
        error = err;
        return false;
      },
    );
    const done = await Promise.race([run.then(() => true), member.abandon.promise.then(() => false)]);
    if (!done) return 'aborted';
    if (await run) return 'ok';
    if (member.stopping.fired) return 'aborted'; // not committed: the next owner gets them again
    this.log.warn(
      { topic: messages[0].topic, partition: messages[0].partition, offset: messages[0].offset, count: messages.length, err: error },
      'queue batch handler failed, handling its messages one by one',
    );
    return 'failed';
  }

  private deadLetter(group: Group, message: QueueMessage, error: Error, attempts: number): void {
    const deadLetter: DeadLetter = {
      topic: message.topic,
      key: message.key,
      value: message.value,
      partition: message.partition,
      offset: message.offset,
      group: group.id,
      error: { name: error.name, message: error.message, stack: error.stack },
      attempts,
      failedAt: new Date().toISOString(),
    };
    this.deadLetterList.push(deadLetter);
    this.log.error(
      { topic: message.topic, key: message.key, partition: message.partition, offset: message.offset, group: group.id, attempts, err: error },
      'queue message dead-lettered after retries',
    );
    try {
      this.opts.onDeadLetter?.(deadLetter);
    } catch (err) {
      this.log.error({ err }, 'onDeadLetter callback threw');
    }
  }
}
