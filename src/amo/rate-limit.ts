/**
 * Per-amoCRM-account request spacing shared by every gateway replica through PostgreSQL.
 *
 * Each request reserves the next free send slot of its amoCRM account in one atomic statement
 * (`amo_rate_limit.next_slot_at`, row-locked by the upsert) and then sleeps until that slot. All
 * arithmetic uses the database clock (`clock_timestamp()`, taken after the row lock is held), so
 * replicas with skewed clocks still agree, and the wait comes back as a duration.
 *
 * Why spacing and not a window counter: amoCRM (and the simulator) count requests in a sliding
 * 1-second window, so 7 requests sent at once and 7 more 1001 ms later pass, but any jitter that
 * brings two bursts closer fails. Evenly spaced slots 1000/rps ms apart give at most rps
 * requests per window by construction. Exactly 1000/rps would put request n and n+rps exactly
 * 1000 ms apart, so the slightest network/event-loop jitter (one request arriving late, the next
 * on time) would make rps+1; a margin per slot (default 20 ms, i.e. 7 × 20 = 140 ms of tolerated
 * jitter across a window at 7 rps) keeps us safely under while costing ~12% throughput.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Db } from '../db.ts';

export interface RateLimiterOptions {
  /** requests per second per amoCRM account (amoCRM: 7) */
  rps: number;
  /** added to 1000/rps for each slot (default 20 ms) */
  marginMs?: number;
  /** test hook */
  sleep?: (ms: number) => Promise<void>;
}

export interface RateLimiter {
  /** Reserves the next slot of the amoCRM account and resolves when it is time to send. */
  acquire(amoId: number, signal?: AbortSignal): Promise<void>;
  /** Pushes every replica's next slot of the account to at least `ms` from now (after a 429). */
  penalize(amoId: number, ms: number): Promise<void>;
  readonly spacingMs: number;
}

export function slotSpacingMs(rps: number, marginMs = 20): number {
  if (!(rps > 0)) throw new RangeError('rps must be positive');
  return Math.ceil(1000 / rps) + marginMs;
}

/** Waits `ms`; an abort rejects with the signal's own reason, as callers expect. */
export const abortableSleep = (ms: number, signal?: AbortSignal) =>
  delay(ms, undefined, { signal }).catch((err) => {
    throw signal?.aborted ? signal.reason : err;
  });

/** Reserves one slot; returns how long (ms, ≥ 0) to wait before sending. */
export async function reserveSlot(db: Db, amoId: number, spacingMs: number): Promise<number> {
  const rows = await db.$queryRaw<Array<{ wait_ms: number | string | null }>>`
    INSERT INTO amo_rate_limit AS r (amo_id, next_slot_at)
    VALUES (${amoId}, clock_timestamp() + make_interval(secs => ${spacingMs}::double precision / 1000))
    ON CONFLICT (amo_id) DO UPDATE
      SET next_slot_at = GREATEST(r.next_slot_at, clock_timestamp()) + make_interval(secs => ${spacingMs}::double precision / 1000)
    RETURNING (EXTRACT(EPOCH FROM (r.next_slot_at - clock_timestamp())) * 1000 - ${spacingMs}::double precision)::double precision AS wait_ms`;
  const wait = Number(rows[0]?.wait_ms ?? 0);
  return Number.isFinite(wait) && wait > 0 ? wait : 0;
}

export function createRateLimiter(db: Db, options: RateLimiterOptions): RateLimiter {
  const spacingMs = slotSpacingMs(options.rps, options.marginMs);
  const sleep = options.sleep;
  return {
    spacingMs,
    async acquire(amoId, signal) {
      const wait = await reserveSlot(db, amoId, spacingMs);
      if (wait > 0) await (sleep ? sleep(wait) : abortableSleep(wait, signal));
    },
    async penalize(amoId, ms) {
      if (!(ms > 0)) return;
      await db.$executeRaw`
        INSERT INTO amo_rate_limit AS r (amo_id, next_slot_at)
        VALUES (${amoId}, clock_timestamp() + make_interval(secs => ${ms}::double precision / 1000))
        ON CONFLICT (amo_id) DO UPDATE
          SET next_slot_at = GREATEST(r.next_slot_at, clock_timestamp() + make_interval(secs => ${ms}::double precision / 1000))`;
    },
  };
}
