// Metrics read from the database on scrape (the whole cluster, not this process): deliveries by
// status, the oldest waiting one, and the durations of sync jobs finished since the last scrape.
import { Gauge, Histogram, type Registry } from 'prom-client';
import type { Db } from '../db.ts';
import type { Logger } from '../logger.ts';

export const SCRAPE_TIMEOUT_MS = 3_000;

/** `promise`, or a rejection naming `what` after `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** `gateway_deliveries` and `gateway_delivery_oldest_waiting_seconds`, counted on each scrape. */
export function registerDeliveryGauges(registry: Registry, db: Db, log: Logger): void {
  new Gauge({
    name: 'gateway_deliveries',
    help: 'Deliveries by status (from the database, all replicas).',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const status of ['PENDING', 'DELIVERED', 'FAILED']) this.set({ status }, 0);
      try {
        const rows = await withTimeout(
          db.$queryRaw<{ status: string; count: bigint }[]>`SELECT status::text AS status, count(*) AS count FROM delivery GROUP BY status`,
          SCRAPE_TIMEOUT_MS,
          'delivery count',
        );
        for (const row of rows) this.set({ status: row.status }, Number(row.count));
      } catch (err) {
        log.warn({ err }, 'could not count deliveries for /metrics');
        this.reset();
      }
    },
  });

  new Gauge({
    name: 'gateway_delivery_oldest_waiting_seconds',
    help: 'Age of the oldest PENDING delivery, seconds (0 when none waits; all replicas): alert when it grows.',
    registers: [registry],
    async collect() {
      try {
        const rows = await withTimeout(
          db.$queryRaw<{ age: number | null }[]>`SELECT extract(epoch FROM now() - min(created_at))::float8 AS age FROM delivery WHERE status = 'PENDING'`,
          SCRAPE_TIMEOUT_MS,
          'oldest waiting delivery',
        );
        this.set(Math.max(0, Number(rows[0]?.age ?? 0)));
      } catch (err) {
        log.warn({ err }, 'could not read the oldest waiting delivery for /metrics');
        this.reset();
      }
    },
  });
}

/**
 * `gateway_sync_job_duration_seconds`: `collect()` observes the sync_job rows finished since the
 * previous call (rows carry started_at/finished_at, so jobs finished by any replica are seen).
 * Concurrent calls share one read, so no row is observed twice.
 */
export function syncJobDurations(registry: Registry, db: Db, log: Logger): { collect(): Promise<void> } {
  const syncDuration = new Histogram({
    name: 'gateway_sync_job_duration_seconds',
    help: 'Catalogue sync jobs (started → finished) by final status, as found in the database since this process started (all replicas).',
    labelNames: ['status'] as const,
    buckets: [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
    registers: [registry],
  });
  let watermark = new Date();
  let collecting: Promise<void> | undefined;
  async function read() {
    const rows = await withTimeout(
      db.$queryRaw<{ status: string; seconds: number; finished_at: Date }[]>`
        SELECT status::text AS status,
               EXTRACT(EPOCH FROM (finished_at - COALESCE(started_at, queued_at)))::float8 AS seconds,
               finished_at
        FROM sync_job
        WHERE finished_at > ${watermark}
        ORDER BY finished_at
        LIMIT 10000`,
      SCRAPE_TIMEOUT_MS,
      'sync job durations',
    );
    for (const row of rows) {
      syncDuration.observe({ status: row.status }, Math.max(0, row.seconds));
      if (row.finished_at > watermark) watermark = row.finished_at;
    }
  }
  return {
    collect() {
      collecting ??= read()
        .catch((err) => log.warn({ err }, 'could not read sync job durations for /metrics'))
        .finally(() => (collecting = undefined));
      return collecting;
    },
  };
}
