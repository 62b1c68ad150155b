// The in-process queue's storage: partitioned topics, consumer groups and their members.
import type { EncodedMessage } from './codec.ts';
import { StopSignals, type SubscribeSpec } from './deliver.ts';
import { Latch } from './retry.ts';
import type { TopicName } from './types.ts';

/** At most this many messages per partition are kept while a topic has no group. */
export const RETAIN_WITHOUT_GROUPS = 10_000;

/** Resolves every waiter on notify(). */
export class Notifier {
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

/** Messages are kept encoded (JSON text), like on a broker, and decoded for every delivery. */
export class Partition {
  base = 0; // offset of messages[0]
  messages: EncodedMessage[] = [];
  readonly appended = new Notifier();
  get end(): number {
    return this.base + this.messages.length;
  }
  at(offset: number): EncodedMessage | undefined {
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

export class Topic {
  readonly partitions: Partition[];
  readonly groups = new Map<string, Group>();
  constructor(
    readonly name: TopicName,
    partitionCount: number,
  ) {
    this.partitions = Array.from({ length: partitionCount }, () => new Partition());
  }
  /** The partition of a key (FNV-1a, 32 bit: stable key → partition mapping). */
  partitionOf(key: string): number {
    let h = 0x811c9dc5;
    for (let i = 0; i < key.length; i++) {
      h ^= key.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
    return (h >>> 0) % this.partitions.length;
  }
  /** Partition `p`; a number outside the topic is a bug in the caller. */
  partition(p: number): Partition {
    const partition = this.partitions[p];
    if (!partition) throw new Error(`topic ${String(this.name)} has no partition ${p}`);
    return partition;
  }
  trim(p: number): void {
    const partition = this.partition(p);
    if (this.groups.size === 0) {
      if (partition.messages.length > RETAIN_WITHOUT_GROUPS) partition.trimTo(partition.end - RETAIN_WITHOUT_GROUPS);
      return;
    }
    let min = partition.end;
    for (const group of this.groups.values()) min = Math.min(min, group.committedAt(p));
    partition.trimTo(min);
  }
}

export class Semaphore {
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

/** One subscription of a group. */
export class Member extends StopSignals {
  readonly slots: Semaphore;
  readonly loops = new Set<Promise<void>>();
  constructor(readonly spec: SubscribeSpec) {
    super();
    this.slots = new Semaphore(spec.concurrency);
  }
}

export class Group {
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
  /** The next offset the group reads from partition `p`. */
  committedAt(p: number): number {
    const offset = this.committed[p];
    if (offset === undefined) throw new Error(`topic ${String(this.topic.name)} has no partition ${p}`);
    return offset;
  }
}
