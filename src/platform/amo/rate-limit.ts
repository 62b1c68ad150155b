/**
 * Per-amoCRM-account request slots shared by every gateway replica through PostgreSQL.
 *
 * amoCRM (and the simulator, `packages/amo-sim/src/limits.ts`) count requests in a sliding
 * 1-second window: a request is refused when `rps` requests of the account arrived within the
 * second before it. So the only rule is: request n must start at least 1 s after request n − rps.
 * The limiter keeps, per account, the slots reserved within the last window and ahead
 * (`amo_rate_limit.recent_slots`, epoch ms, ascending) and gives a new request the slot
 *
 *     max(now, the last slot, the rps-th last slot + windowMs, next_slot_at)
 *
 * in one atomic statement (row-locked by the upsert; the database clock, read after the lock is
 * held, so replicas with skewed clocks agree). `windowMs` is 1000 + `marginMs` (default 200 ms): the
 * margin is paid once per window of `rps` requests, not once per request as with even spacing
 * (which needed 20 ms per slot, 140 ms per window, ~12% of the budget). Slots never go backwards,
 * so any `rps + 1` consecutive slots span at least `windowMs`. `next_slot_at` is only a floor:
 * Retry-After after a 429 (`penalize`).
 *
 * Late sends. The window only holds if a request fires at its slot. After waking, a request later
 * than its slot by more than `lateMs` (default 40 ms) does not fire: it reserves a new slot in
 * place of its unused one (removed from the log in the same statement) and waits again. The
 * slot's local time is the database's clock reading held inside [sent, answered] of the
 * statement, so a slow answer counts as lateness, a wait for a pooled connection does not. What
 * the margin still absorbs: a firing request's lateness (≤ lateMs) plus the time from the check
 * to its arrival at amoCRM (the rest of the margin, 160 ms by default: with 60 ms, a loaded CI
 * machine once got 8 requests into one second of the simulator's log).
 *
 * After a 429 (`penalize`) the account's floor moves past Retry-After, and every request of this
 * process already holding an earlier slot of that account reserves again, so none fires inside
 * Retry-After: sleepers are woken, and a request whose reserve statement was still on its way
 * when the penalty came (not sleeping yet) sees the account's penalty count moved and reserves
 * again instead of sleeping on its old slot. Sleepers in other replicas are not reached (that
 * would cost a read per request); each of them gets at most its own 429 and penalizes its own process.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Db } from '../db.ts';

export interface RateLimiterOptions {
  /** requests per second per amoCRM account (amoCRM: 7) */
  rps: number;
  /** added to the 1000 ms window (default 200 ms) */
  marginMs?: number;
  /** a request woken later than its slot by more than this takes a new slot (default 40 ms) */
  lateMs?: number;
  /** called when a late request gives its slot up (logging, tests) */
  onLate?: (amoId: number, lateMs: number) => void;
  /** test hooks: the sleep (must reject when `signal` aborts) and the wall clock */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
  /** where the slots are kept (default: PostgreSQL, `pgSlotStore(db, …)`); tests pass `memorySlotStore` */
  store?: SlotStore;
}

export interface RateLimiter {
  /** Reserves the next slot of the amoCRM account and resolves when it is time to send. */
  acquire(amoId: number, signal?: AbortSignal): Promise<void>;
  /** Pushes the account's next slot to at least `ms` from now and re-queues this process's sleepers (after a 429). */
  penalize(amoId: number, ms: number): Promise<void>;
  /** the average spacing at full load: windowMs / rps */
  readonly spacingMs: number;
}

export const DEFAULT_MARGIN_MS = 200;
export const DEFAULT_LATE_MS = 40;

export function windowMsOf(marginMs = DEFAULT_MARGIN_MS): number {
  return 1000 + marginMs;
}

/** The average spacing of slots at full load (windowMs / rps): the limiter's own bound is requests × this. */
export function slotSpacingMs(rps: number, marginMs = DEFAULT_MARGIN_MS): number {
  if (!(rps > 0)) throw new RangeError('rps must be positive');
  return windowMsOf(marginMs) / rps;
}

/** Waits `ms`; an abort rejects with the signal's own reason, as callers expect. */
export const abortableSleep = (ms: number, signal?: AbortSignal) =>
  delay(ms, undefined, { signal }).catch((err) => {
    throw signal?.aborted ? signal.reason : err;
  });

export interface Reservation {
  /** how long (ms, ≥ 0, store clock) after the statement ran the slot is */
  waitMs: number;
  /** the slot (epoch ms, store clock): what `reserve(…, replaces)` takes back when it goes unused */
  slotMs: number;
  /** the store's clock when it ran the statement (epoch ms) */
  dbNowMs: number;
}

export interface SlotStore {
  /** Reserves the account's next slot (`windowSlot`) and keeps it in the account's log, in place of `replaces` (an unused slot) if given. */
  reserve(amoId: number, replaces?: number): Promise<Reservation>;
  /** No slot of the account before `ms` from now. */
  penalize(amoId: number, ms: number): Promise<void>;
}

/**
 * The slot rule, as the SQL of `pgSlotStore` computes it: the later of now, the floor, the last
 * slot and the rps-th last slot + windowMs. `recent` holds the last slots, ascending.
 */
export function windowSlot(recent: readonly number[], nowMs: number, floorMs: number, rps: number, windowMs: number): number {
  const last = recent.at(-1) ?? -Infinity;
  const rpsth = recent.length >= rps ? (recent[recent.length - rps] ?? -Infinity) + windowMs : -Infinity;
  return Math.max(nowMs, floorMs, last, rpsth);
}

/** The slots in PostgreSQL (`amo_rate_limit`), shared by every replica; one statement per reserve. */
export function pgSlotStore(db: Db, rps: number, windowMs: number): SlotStore {
  const n = Math.max(1, Math.ceil(rps));
  return {
    async reserve(amoId, replaces) {
      // the log loses the slot taken back (one occurrence) and every slot a window before now: those bind no new slot
      const rows = await db.$queryRaw<Array<{ slot_ms: number | string; now_ms: number | string }>>`
        INSERT INTO amo_rate_limit AS r (amo_id, next_slot_at, recent_slots)
        VALUES (${amoId}, clock_timestamp(), ARRAY[(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::double precision])
        ON CONFLICT (amo_id) DO UPDATE SET recent_slots = (
          SELECT ARRAY(SELECT x FROM unnest(l.slots || s.slot) AS x WHERE x > c.now_ms - ${windowMs}::double precision ORDER BY x)
          FROM (SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::double precision AS now_ms,
                       array_position(r.recent_slots, ${replaces ?? null}::double precision) AS pos) c
          CROSS JOIN LATERAL (SELECT CASE WHEN c.pos IS NULL THEN r.recent_slots
                                          ELSE r.recent_slots[:c.pos - 1] || r.recent_slots[c.pos + 1:] END AS slots) l
          CROSS JOIN LATERAL (SELECT GREATEST(
            c.now_ms,
            (EXTRACT(EPOCH FROM r.next_slot_at) * 1000)::double precision,
            l.slots[cardinality(l.slots)],
            l.slots[cardinality(l.slots) + 1 - ${n}::int] + ${windowMs}::double precision
          ) AS slot) s)
        RETURNING r.recent_slots[cardinality(r.recent_slots)] AS slot_ms,
          (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::double precision AS now_ms`;
      const slot = Number(rows[0]?.slot_ms);
      const dbNowMs = Number(rows[0]?.now_ms);
      const wait = slot - dbNowMs;
      return { waitMs: Number.isFinite(wait) && wait > 0 ? wait : 0, slotMs: slot, dbNowMs: Number.isFinite(dbNowMs) ? dbNowMs : NaN };
    },
    async penalize(amoId, ms) {
      await db.$executeRaw`
        INSERT INTO amo_rate_limit AS r (amo_id, next_slot_at)
        VALUES (${amoId}, clock_timestamp() + make_interval(secs => ${ms}::double precision / 1000))
        ON CONFLICT (amo_id) DO UPDATE
          SET next_slot_at = GREATEST(r.next_slot_at, clock_timestamp() + make_interval(secs => ${ms}::double precision / 1000))`;
    },
  };
}

/** The same rule in memory over `now` (one process; tests with fake timers). */
export function memorySlotStore(rps: number, windowMs: number, now: () => number = Date.now): SlotStore {
  const n = Math.max(1, Math.ceil(rps));
  const accounts = new Map<number, { recent: number[]; floor: number }>();
  const of = (amoId: number) => {
    let a = accounts.get(amoId);
    if (!a) accounts.set(amoId, (a = { recent: [], floor: -Infinity }));
    return a;
  };
  return {
    async reserve(amoId, replaces) {
      const a = of(amoId);
      const t = now();
      const recent = [...a.recent];
      const pos = replaces === undefined ? -1 : recent.indexOf(replaces);
      if (pos >= 0) recent.splice(pos, 1);
      const slot = windowSlot(recent, t, a.floor, n, windowMs);
      a.recent = [...recent, slot].filter((x) => x > t - windowMs);
      return { waitMs: Math.max(0, slot - t), slotMs: slot, dbNowMs: t };
    },
    async penalize(amoId, ms) {
      const a = of(amoId);
      a.floor = Math.max(a.floor, now() + ms);
    },
  };
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
  const marginMs = options.marginMs ?? DEFAULT_MARGIN_MS;
  const windowMs = windowMsOf(marginMs);
  const spacingMs = slotSpacingMs(options.rps, marginMs);
  const lateMs = options.lateMs ?? DEFAULT_LATE_MS;
  const sleep = options.sleep ?? abortableSleep;
  const now = options.now ?? Date.now;
  const store = options.store ?? pgSlotStore(db, options.rps, windowMs);
  // sleepers and penalties are per database (limiters over one database share them), else per store
  const scope: object = options.store ?? db;

  /** Sleeps until `ms` from now; false when a penalty of the account re-queued it. */
  async function sleepUnlessPenalized(amoId: number, ms: number, signal?: AbortSignal): Promise<boolean> {
    const requeue = new AbortController();
    const set = sleepersOf(scope, amoId);
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
      let unused: number | undefined; // a slot this request reserved and let go (late): the next reserve takes it back
      for (;;) {
        signal?.throwIfAborted();
        const sent = now();
        const penaltiesBefore = penaltiesOf(scope, amoId);
        const { waitMs, slotMs, dbNowMs } = await store.reserve(amoId, unused);
        const answered = now();
        // a 429 came while the statement was on its way: this slot may lie inside Retry-After
        if (penaltiesOf(scope, amoId) !== penaltiesBefore) {
          unused = slotMs;
          continue;
        }
        // the statement ran between `sent` and `answered`: the slot's local time is in that range + waitMs
        const slotAt = (Number.isFinite(dbNowMs) ? Math.min(Math.max(dbNowMs, sent), answered) : sent) + waitMs;
        // wake at the latest the slot can be, so never early; ceil: timers round down
        const sleepMs = Math.ceil(answered + waitMs - now());
        if (sleepMs > 0 && !(await sleepUnlessPenalized(amoId, sleepMs, signal))) {
          unused = slotMs;
          continue;
        }
        const late = now() - slotAt;
        if (late <= lateMs) return;
        options.onLate?.(amoId, late);
        unused = slotMs;
      }
    },
    async penalize(amoId, ms) {
      if (!(ms > 0)) return;
      await store.penalize(amoId, ms);
      countPenalty(scope, amoId);
      for (const requeue of [...sleepersOf(scope, amoId)]) requeue.abort(new Error('amoCRM answered 429: reserve again'));
    },
  };
}
