/**
 * Per-amoCRM-account request spacing shared by every gateway replica through PostgreSQL.
 *
 * Each request reserves the next free send slot of its amoCRM account in one atomic statement
 * (`amo_rate_limit.next_slot_at`, row-locked by the upsert) and then sleeps until that slot. The
 * spacing arithmetic uses the database clock (`clock_timestamp()`, taken after the row lock is
 * held), so replicas with skewed clocks still agree, and the wait comes back as a duration.
 *
 * Why spacing and not a window counter: amoCRM (and the simulator) count requests in a sliding
 * 1-second window, so 7 requests sent at once and 7 more 1001 ms later pass, but any jitter that
 * brings two bursts closer fails. Evenly spaced slots 1000/rps ms apart give at most rps
 * requests per window by construction. Exactly 1000/rps would put request n and n+rps exactly
 * 1000 ms apart, so the slightest jitter would make rps+1; a margin per slot (default 20 ms, i.e.
 * 7 × 163 − 1000 = 141 ms of tolerated lateness across a window at 7 rps) keeps us under.
 *
 * Late sends. Spacing only holds if a request fires at its slot. One that fires late (an
 * event-loop stall or a descheduled process while it slept, or while the reserve statement's
 * answer was on its way back) lands right before the next request's on-time slot; 7 slots later
 * that makes 8 requests within one second (seen in the sync benchmark: a send 147 ms late, the
 * next 17 ms after it). So after waking, a request later than its slot by more than `lateMs`
 * does not fire: it reserves a new slot (its old one stays unused) and waits again. The slot's
 * local time is the database's clock reading held inside [sent, answered] of the statement, so a
 * slow answer counts as lateness, a wait for a pooled connection does not, and clock skew
 * between hosts can move the estimate only within the statement's round trip. Still one
 * statement per request, plus one per late wake-up.
 *
 * After a 429 (`penalize`) the account's next slot moves past Retry-After, and every request of
 * this process already holding an earlier slot of that account reserves again, so none fires
 * inside Retry-After: sleepers are woken, and a request whose reserve statement was still on its
 * way when the penalty came (not sleeping yet) sees the account's penalty count moved and
 * reserves again instead of sleeping on its old slot. Sleepers in other replicas are not reached (that would cost a
 * read per request); each of them gets at most its own 429 and penalizes its own process.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Db } from '../db.ts';

export interface RateLimiterOptions {
  /** requests per second per amoCRM account (amoCRM: 7) */
  rps: number;
  /** added to 1000/rps for each slot (default 20 ms) */
  marginMs?: number;
  /** a request woken later than its slot by more than this takes a new slot (default: marginMs) */
  lateMs?: number;
  /** called when a late request gives its slot up (logging, tests) */
  onLate?: (amoId: number, lateMs: number) => void;
  /** test hooks: the sleep (must reject when `signal` aborts) and the wall clock */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
}

export interface RateLimiter {
  /** Reserves the next slot of the amoCRM account and resolves when it is time to send. */
  acquire(amoId: number, signal?: AbortSignal): Promise<void>;
  /** Pushes the account's next slot to at least `ms` from now and re-queues this process's sleepers (after a 429). */
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

export interface Reservation {
  /** how long (ms, ≥ 0, database clock) after the statement ran the slot is */
  waitMs: number;
  /** the database's clock when it ran the statement (epoch ms) */
  dbNowMs: number;
}

/** Reserves one slot of the account: the later of its next free slot and now; the next one is a spacing later. */
export async function reserve(db: Db, amoId: number, spacingMs: number): Promise<Reservation> {
  const rows = await db.$queryRaw<Array<{ slot_ms: number | string; now_ms: number | string }>>`
    INSERT INTO amo_rate_limit AS r (amo_id, next_slot_at)
    VALUES (${amoId}, clock_timestamp() + make_interval(secs => ${spacingMs}::double precision / 1000))
    ON CONFLICT (amo_id) DO UPDATE
      SET next_slot_at = GREATEST(r.next_slot_at, clock_timestamp()) + make_interval(secs => ${spacingMs}::double precision / 1000)
    RETURNING (EXTRACT(EPOCH FROM r.next_slot_at) * 1000 - ${spacingMs}::double precision)::double precision AS slot_ms,
      (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::double precision AS now_ms`;
  const slot = Number(rows[0]?.slot_ms);
  const dbNowMs = Number(rows[0]?.now_ms);
  const wait = slot - dbNowMs;
  return { waitMs: Number.isFinite(wait) && wait > 0 ? wait : 0, dbNowMs: Number.isFinite(dbNowMs) ? dbNowMs : NaN };
}

/** Reserves one slot; returns how long (ms, ≥ 0) to wait before sending. */
export async function reserveSlot(db: Db, amoId: number, spacingMs: number): Promise<number> {
  return (await reserve(db, amoId, spacingMs)).waitMs;
}

/** Sleepers of this process per database and amoCRM account, so a 429 can send them back to reserve. */
const sleepers = new WeakMap<object, Map<number, Set<AbortController>>>();

function sleepersOf(db: object, amoId: number): Set<AbortController> {
  let perDb = sleepers.get(db);
  if (!perDb) sleepers.set(db, (perDb = new Map()));
  let set = perDb.get(amoId);
  if (!set) perDb.set(amoId, (set = new Set()));
  return set;
}

/** Penalties so far per database and amoCRM account: a slot reserved before the last one is void. */
const penalties = new WeakMap<object, Map<number, number>>();

function penaltiesOf(db: object, amoId: number): number {
  return penalties.get(db)?.get(amoId) ?? 0;
}

function countPenalty(db: object, amoId: number): void {
  let perDb = penalties.get(db);
  if (!perDb) penalties.set(db, (perDb = new Map()));
  perDb.set(amoId, (perDb.get(amoId) ?? 0) + 1);
}

export function createRateLimiter(db: Db, options: RateLimiterOptions): RateLimiter {
  const marginMs = options.marginMs ?? 20;
  const spacingMs = slotSpacingMs(options.rps, marginMs);
  const lateMs = options.lateMs ?? marginMs;
  const sleep = options.sleep ?? abortableSleep;
  const now = options.now ?? Date.now;

  /** Sleeps until `ms` from now; false when a penalty of the account re-queued it. */
  async function sleepUnlessPenalized(amoId: number, ms: number, signal?: AbortSignal): Promise<boolean> {
    const requeue = new AbortController();
    const set = sleepersOf(db, amoId);
    set.add(requeue);
    try {
      await sleep(ms, signal ? AbortSignal.any([signal, requeue.signal]) : requeue.signal);
      return true;
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (requeue.signal.aborted) return false;
      throw err;
    } finally {
      set.delete(requeue);
    }
  }

  return {
    spacingMs,
    async acquire(amoId, signal) {
      for (;;) {
        signal?.throwIfAborted();
        const sent = now();
        const penaltiesBefore = penaltiesOf(db, amoId);
        const { waitMs, dbNowMs } = await reserve(db, amoId, spacingMs);
        const answered = now();
        // a 429 came while the statement was on its way: this slot may lie inside Retry-After
        if (penaltiesOf(db, amoId) !== penaltiesBefore) continue;
        // the statement ran between `sent` and `answered`: the slot's local time is in that range + waitMs
        const slotAt = (Number.isFinite(dbNowMs) ? Math.min(Math.max(dbNowMs, sent), answered) : sent) + waitMs;
        // wake at the latest the slot can be, so never early; ceil: timers round down
        const sleepMs = Math.ceil(answered + waitMs - now());
        if (sleepMs > 0 && !(await sleepUnlessPenalized(amoId, sleepMs, signal))) continue;
        const late = now() - slotAt;
        if (late <= lateMs) return;
        options.onLate?.(amoId, late);
      }
    },
    async penalize(amoId, ms) {
      if (!(ms > 0)) return;
      await db.$executeRaw`
        INSERT INTO amo_rate_limit AS r (amo_id, next_slot_at)
        VALUES (${amoId}, clock_timestamp() + make_interval(secs => ${ms}::double precision / 1000))
        ON CONFLICT (amo_id) DO UPDATE
          SET next_slot_at = GREATEST(r.next_slot_at, clock_timestamp() + make_interval(secs => ${ms}::double precision / 1000))`;
      countPenalty(db, amoId);
      for (const requeue of [...sleepersOf(db, amoId)]) requeue.abort(new Error('amoCRM answered 429: reserve again'));
    },
  };
}
