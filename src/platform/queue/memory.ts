import { BaseQueue, type BaseQueueOptions } from './base.ts';
import type { EncodedMessage, EncodedRecord } from './codec.ts';
import { deliver, type Delivery, type Position, type SubscribeSpec } from './deliver.ts';
import { Group, Member, Topic } from './memory-store.ts';
import { ALL_TOPICS, TOPICS, type DeadLetter, type Subscription, type TopicName } from './types.ts';

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
 * - values travel as JSON (encoded at publish, decoded for every delivery);
 * - positions move only after the handler finished (or the message was
 *   dead-lettered), so a message whose handler was abandoned at stop() goes to
 *   the group's next member;
 * - retries with backoff, then the message is kept in `deadLetters()`.
 * Delivery itself (batches, one by one, retries, dead letters) is the Kafka queue's: deliver.ts.
 *
 * Two MemoryQueue instances are independent: nothing published on one reaches
 * the other (there is no broker). Two "replicas" only share messages through Kafka.
 * Messages stay in memory until every group of their topic is past them (at most
 * `RETAIN_WITHOUT_GROUPS` per partition while a topic has no group).
 */

export type MemoryQueueOptions = BaseQueueOptions;

export class MemoryQueue extends BaseQueue {
  readonly kind = 'memory' as const;
  private readonly topics = new Map<TopicName, Topic>();
  private readonly deadLetterList: DeadLetter[] = [];
  private readonly subscriptions = new Set<Subscription>();

  constructor(private readonly opts: MemoryQueueOptions) {
    super(opts, opts.logger.child({ component: 'queue', queue: 'memory' }));
    for (const name of ALL_TOPICS) {
      this.topics.set(name, new Topic(name, name === TOPICS.amoEvents ? 1 : opts.partitions));
    }
  }

  /** Messages parked after `maxAttempts` failures (a copy, oldest first). For tests and debugging. */
  deadLetters(): DeadLetter[] {
    return [...this.deadLetterList];
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

  protected async send(topicName: TopicName, messages: EncodedMessage[]): Promise<void> {
    const topic = this.topic(topicName);
    const touched = new Set<number>();
    for (const message of messages) {
      const p = topic.partitionOf(message.key);
      topic.partition(p).messages.push(message);
      touched.add(p);
    }
    for (const p of touched) {
      topic.trim(p);
      topic.partition(p).appended.notify();
    }
  }

  protected park(deadLetter: DeadLetter): void {
    this.deadLetterList.push(deadLetter);
  }

  private topic(name: TopicName): Topic {
    const t = this.topics.get(name);
    if (!t) throw new Error(`unknown topic ${String(name)}`);
    return t;
  }

  protected subscribe(topicName: TopicName, groupId: string, spec: SubscribeSpec): Subscription {
    const topic = this.topic(topicName);
    let group = topic.groups.get(groupId);
    if (!group) {
      group = new Group(groupId, topic, spec.fromLatest);
      topic.groups.set(groupId, group);
    }
    const member = new Member(spec);
    group.members.push(member);
    this.rebalance(group);

    const g = group;
    let stopped: Promise<void> | undefined;
    const subscription: Subscription = {
      stop: () => {
        // Hand its partitions to the other members now; each new owner starts only after
        // this member's message in flight finished (committed) or was abandoned (redelivered).
        stopped ??= member
          .stopWithin(this.opts.shutdownGraceMs, () => {
            this.rebalance(g);
            return Promise.all([...member.loops]);
          })
          .then(() => {
            g.members = g.members.filter((m) => m !== member);
            this.subscriptions.delete(subscription);
          });
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
      const member = live[p % live.length]!; // live is not empty (checked above)
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
    const partition = group.topic.partition(p);
    const current = () => group.generation === generation && !member.stopping.fired;
    const { handler, batch } = member.spec;
    const delivery: Delivery = {
      topic: group.topic.name,
      group: group.id,
      handler,
      batch,
      retry: this.opts.retry,
      signals: member,
      log: this.log,
      deadLetter: (d, e) => this.deadLetter(d, e),
    };
    const position: Position = {
      partition: p,
      alive: current,
      // The handler finished: commit, even if a rebalance happened meanwhile (like a Kafka
      // member committing before it rejoins).
      commit: (offset) => {
        group.committed[p] = Number(offset) + 1;
        group.topic.trim(p);
      },
    };
    while (current()) {
      const offset = group.committedAt(p);
      if (!partition.at(offset)) {
        await Promise.race([partition.appended.wait(), group.rebalanced.wait(), member.stopping.promise]);
        continue;
      }
      await member.slots.acquire();
      try {
        // One message, or consumeBatch: up to maxBatch queued messages at once.
        const records: EncodedRecord[] = [];
        for (let o = offset; o < partition.end && records.length < (batch?.maxBatch ?? 1); o++) {
          records.push({ ...partition.at(o)!, offset: String(o) });
        }
        if (!(await deliver(records, delivery, position))) return;
      } finally {
        member.slots.release();
      }
    }
  }
}
