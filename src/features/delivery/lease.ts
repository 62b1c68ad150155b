/** A lease held over some Deliveries of one account; every write is fenced by it. */
import type { DeliveryRuntime } from './options.ts';

export class Lease {
  until: Date;
  /** local time the lease runs out (for deadlines) */
  private localDeadline: number;
  readonly held: Set<string>;
  constructor(
    private readonly rt: DeliveryRuntime,
    until: Date,
    ids: string[],
    /** local time the lease was taken (ms) */
    takenAt = Date.now(),
  ) {
    this.until = until;
    this.held = new Set(ids);
    this.localDeadline = takenAt + rt.options.leaseMs;
  }

  remainingMs(): number {
    return this.localDeadline - Date.now();
  }

  /** Extends the lease of every row still held; rows lost to someone else drop out. */
  async renew(): Promise<void> {
    if (this.held.size === 0) return;
    const ids = [...this.held];
    const started = Date.now();
    const rows = await this.rt.services.db.$queryRaw<{ id: string; locked_until: Date }[]>`
      UPDATE delivery SET locked_until = now() + (${this.rt.options.leaseMs}::int * interval '1 millisecond')
      WHERE id = ANY(${ids}::uuid[]) AND locked_until = ${this.until.toISOString()}::timestamptz AND status = 'PENDING'
      RETURNING id, locked_until`;
    this.held.clear();
    for (const r of rows) this.held.add(r.id);
    const first = rows[0];
    if (first) {
      this.until = first.locked_until;
      this.localDeadline = started + this.rt.options.leaseMs;
    }
  }

  /**
   * After a transaction of fenced writes, one per item (`counts[k]` rows written for
   * `items[k]`): the items whose write landed; the others were lost to someone else and drop out.
   */
  keepWritten<T>(items: readonly T[], counts: readonly number[], idOf: (item: T) => string): T[] {
    const written: T[] = [];
    items.forEach((item, k) => {
      if ((counts[k] ?? 0) > 0) written.push(item);
      else this.held.delete(idOf(item));
    });
    return written;
  }

  /** A fenced update of one held row; false (and nothing written) when the lease was lost. */
  async update(id: string, data: Parameters<DeliveryRuntime['services']['db']['delivery']['updateMany']>[0]['data'], release: boolean): Promise<boolean> {
    if (!this.held.has(id)) return false;
    const res = await this.rt.services.db.delivery.updateMany({
      where: { id, lockedUntil: this.until, status: 'PENDING' },
      data: release ? { ...data, lockedUntil: null } : data,
    });
    if (res.count === 0 || release) this.held.delete(id);
    return res.count > 0;
  }

  /** Gives back every row still held (they become due again at their next_attempt_at). */
  async releaseAll(): Promise<void> {
    if (this.held.size === 0) return;
    await this.rt.services.db.delivery.updateMany({ where: { id: { in: [...this.held] }, lockedUntil: this.until }, data: { lockedUntil: null } });
    this.held.clear();
  }
}
