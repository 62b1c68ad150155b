/**
 * Per-amoCRM-account request slots shared by every gateway replica through PostgreSQL.
 *
 * amoCRM (and the simulator, `packages/amo-sim/src/limits.ts`) count arrivals in a sliding
 * 1-second window: a request is refused when `rps` requests of the account arrived within the
 * second before it. What must hold: no 1 s interval holds more than `rps` arrivals.
 *
 * What we know of a request's arrival A at amoCRM: it is after its send, and no later than the
 * moment its answer (headers) came back, R. The time between is unknown and unbounded on a loaded
 * machine (a stalled event loop on either side): a guessed margin after the send (the old rule,
 * "slot n ≥ slot n−7 + 1.2 s") fails exactly when the machine is loaded. So the rule uses only
 * facts. Each request holds an entry from the moment its slot is granted until amoCRM is known to
 * have had it: `arrivedBy` = R (or, with no answer, `UNANSWERED_GRACE_MS` after it failed: the one
 * assumption — an aborted or timed-out request may still be on its way, or unread in amoCRM's buffer)
 * mapped onto the store's clock. A slot G is granted only if at most rps − 1 other entries may
 * still arrive after G − windowMs: the open ones (no answer yet) and the answered ones with
 * arrivedBy + windowMs > G (`grantSlot`, rate-limit-store.ts); the request is sent no earlier than G.
 *
 * Invariant: every request n is sent at or after its slot G_n, and at the grant of G_n (one
 * serialised statement per account) at most rps − 1 logged requests were open or had
 * arrivedBy > G_n − windowMs. Proof that no second holds rps + 1 arrivals: take any interval
 * (t − 1000, t] and in it the request n granted last. Every other request m in it was granted
 * before n (its entry logged: entries leave the log only when they can bind no later slot, were
 * never sent, or after holdMs), and A_m > t − 1000 ≥ A_n − 1000 ≥ G_n − windowMs. At n's grant m
 * was open, or answered with arrivedBy_m + windowMs ≥ A_m + windowMs > G_n: counted either way.
 * So the interval holds at most (rps − 1) + 1 arrivals. A send later than its slot (a stalled process) only
 * moves A_n later: lateness is harmless, so a late wake-up fires (it is only reported, `onLate`).
 * `marginMs` (default 10 ms) is not a guess of any delay: it covers clocks (Date.now() truncates to
 * the millisecond, clock rates differ by ≤ 0.5 ms/s) and the mapping of our clock onto the store's
 * (`offsetUpper`: the least `dbNow − sent` of recent statements, never below the true offset).
 *
 * Cost: one account's ceiling is rps per (windowMs + amoCRM's answer time), the answer time being
 * what proof of arrival takes. An open entry is dropped `holdMs` (90 s) after its slot: no request
 * of the gateway is sent later than ~50 s after its slot (a token refresh waiting for another
 * holder) or waits longer than its timeout; a crashed replica's open slots stop binding then.
 * With rps requests open nothing can be granted: the reserve answers "none", and the request waits
 * for an answer of this process (every release wakes its waiters) or asks again after `pollMs`
 * (another replica's answers) or when the first open slot is due.
 *
 * After a 429 (`penalize`) the account's floor moves past Retry-After, and every request of this
 * process already holding an earlier slot of that account reserves again, so none fires inside
 * Retry-After: sleepers are woken, and a request whose reserve statement was still on its way
 * when the penalty came (not sleeping yet) sees the account's penalty count moved and reserves
 * again instead of sleeping on its old slot (given back in the same statement). Sleepers in other
 * replicas are not reached; each of them gets at most its own 429 and penalizes its own process.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Db } from '../db.ts';
import { pgSlotStore, type SlotStore } from './rate-limit-store.ts';

export { grantSlot, liveEntries, memorySlotStore, pgSlotStore, retryMs } from './rate-limit-store.ts';
export type { Reservation, SlotEntry, SlotRule, SlotStore } from './rate-limit-store.ts';

export interface RateLimiterOptions {
  /** requests per second per amoCRM account (amoCRM: 7) */
  rps: number;
  /** added to the 1000 ms window (default 10 ms): clock granularity and rates, not delays */
  marginMs?: number;
  /** an open slot is dropped this long after it (default 90 s) */
  holdMs?: number;
  /** with `rps` requests open, ask the store again after this at the latest (default 50 ms) */
  pollMs?: number;
  /** a request woken later than its slot by more than this is reported to `onLate` (default 40 ms); it fires anyway */
  lateMs?: number;
  onLate?: (amoId: number, lateMs: number) => void;
  /** test hooks: the sleep (must reject when `signal` aborts) and the wall clock */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
  /** where the slots are kept (default: PostgreSQL, `pgSlotStore(db, …)`); tests pass `memorySlotStore` */
  store?: SlotStore;
}

/** A granted slot: the caller says when its request is known to have reached amoCRM, or that it was never sent. */
export interface SlotTicket {
  /** The request reached amoCRM no later than `atMs` (local clock, default now): call it when the answer's headers are in, or when it failed. */
  arrived(atMs?: number): void;
  /** The request failed without an answer (aborted, timed out, reset): it may still reach amoCRM, so it counts as arriving up to `UNANSWERED_GRACE_MS` from now. */
  unanswered(): void;
  /** The request was not sent: its slot is freed. */
  unsent(): void;
}

/**
 * How long after a failure without an answer its request may still reach amoCRM's log: bytes on
 * their way or not yet read there. A CI run once had an aborted sync request logged by the
 * in-process simulator after its abort, and an 8th request in that second (test/sync-failures).
 */
export const UNANSWERED_GRACE_MS = 1_000;

export interface RateLimiter {
  /** Grants the next slot of the amoCRM account and resolves when it is time to send. */
  acquire(amoId: number, signal?: AbortSignal): Promise<SlotTicket>;
  /** Pushes the account's next slot to at least `ms` from now and re-queues this process's sleepers (after a 429). */
  penalize(amoId: number, ms: number): Promise<void>;
  /** windowMs / rps: the spacing at full load if answers took no time (the ceiling adds the answer time per window) */
  readonly spacingMs: number;
}

export const DEFAULT_MARGIN_MS = 10;
export const DEFAULT_LATE_MS = 40;
export const DEFAULT_HOLD_MS = 90_000;
export const DEFAULT_POLL_MS = 50;

export function windowMsOf(marginMs = DEFAULT_MARGIN_MS): number {
  return 1000 + marginMs;
}

/** windowMs / rps: the limiter's own bound for answers that take no time is requests × this. */
export function slotSpacingMs(rps: number, marginMs = DEFAULT_MARGIN_MS): number {
  if (!(rps > 0)) throw new RangeError('rps must be positive');
  return windowMsOf(marginMs) / rps;
}

/** Waits `ms`; an abort rejects with the signal's own reason, as callers expect. */
export const abortableSleep = (ms: number, signal?: AbortSignal) =>
  delay(ms, undefined, { signal }).catch((err) => {
    throw signal?.aborted ? signal.reason : err;
  });

/** Per database (or store) and account, this process's: sleepers (a 429 re-queues them), waiters for an answer, penalty and release counts. */
interface AccountLocal {
  sleepers: Set<AbortController>;
  waiters: Set<() => void>;
  penalties: number;
  releases: number;
}
const locals = new WeakMap<object, Map<number, AccountLocal>>();

function localOf(scope: object, amoId: number): AccountLocal {
  let perScope = locals.get(scope);
  if (!perScope) locals.set(scope, (perScope = new Map()));
  let a = perScope.get(amoId);
  if (!a) perScope.set(amoId, (a = { sleepers: new Set(), waiters: new Set(), penalties: 0, releases: 0 }));
  return a;
}

export function createRateLimiter(db: Db, options: RateLimiterOptions): RateLimiter {
  const marginMs = options.marginMs ?? DEFAULT_MARGIN_MS;
  const windowMs = windowMsOf(marginMs);
  const spacingMs = slotSpacingMs(options.rps, marginMs);
  const holdMs = options.holdMs ?? DEFAULT_HOLD_MS;
  const pollMs = options.pollMs ?? DEFAULT_POLL_MS;
  const lateMs = options.lateMs ?? DEFAULT_LATE_MS;
  const sleep = options.sleep ?? abortableSleep;
  const now = options.now ?? Date.now;
  const store = options.store ?? pgSlotStore(db, { rps: options.rps, windowMs, holdMs });
  // per database (limiters over one database share them), else per store
  const scope: object = options.store ?? db;

  // store clock − local clock ≤ dbNow − sent of every statement (its clock was read after `sent`)
  const offsets: Array<{ at: number; upper: number }> = [];
  function noteOffset(at: number, upper: number): void {
    if (!Number.isFinite(upper)) return;
    offsets.push({ at, upper });
    if (offsets.length > 64) offsets.shift();
  }
  /** The tightest recent upper bound of the offset (samples of the last 10 s: clock rates drift). */
  function offsetUpper(own: number): number {
    const t = now();
    return offsets.reduce((m, o) => (t - o.at <= 10_000 ? Math.min(m, o.upper) : m), own);
  }

  function release(amoId: number, slot: number, arrivedBy: number | null): void {
    const local = localOf(scope, amoId);
    store
      .release(amoId, slot, arrivedBy)
      // a failed release leaves the slot open: it binds (safely) until holdMs
      .catch(() => undefined)
      .finally(() => {
        local.releases++;
        for (const wake of [...local.waiters]) wake();
      });
  }

  function ticket(amoId: number, slot: number, ownOffset: number): SlotTicket {
    let done = false;
    return {
      arrived(atMs = now()) {
        if (done) return;
        done = true;
        const arrivedBy = atMs + offsetUpper(ownOffset);
        // no bound of the clocks' offset: the slot stays open (binding) until holdMs
        if (Number.isFinite(arrivedBy)) release(amoId, slot, arrivedBy);
      },
      unanswered() {
        this.arrived(now() + UNANSWERED_GRACE_MS);
      },
      unsent() {
        if (done) return;
        done = true;
        release(amoId, slot, null);
      },
    };
  }

  /** Sleeps until `ms` from now; false when a penalty of the account re-queued it. */
  async function sleepUnlessPenalized(local: AccountLocal, ms: number, signal?: AbortSignal): Promise<boolean> {
    const requeue = new AbortController();
    local.sleepers.add(requeue);
    try {
      await sleep(ms, signal ? AbortSignal.any([signal, requeue.signal]) : requeue.signal);
      return true;
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (requeue.signal.aborted) return false;
      throw err;
    } finally {
      local.sleepers.delete(requeue);
    }
  }

  /** No slot yet: until this process's next answer of the account, or `ms`. */
  async function waitForAnswer(local: AccountLocal, releasesBefore: number, ms: number, signal?: AbortSignal): Promise<void> {
    if (local.releases !== releasesBefore) return;
    const answer = new AbortController();
    const wake = () => answer.abort(new Error('an answer came'));
    local.waiters.add(wake);
    try {
      await sleep(ms, signal ? AbortSignal.any([signal, answer.signal]) : answer.signal);
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (!answer.signal.aborted) throw err;
    } finally {
      local.waiters.delete(wake);
    }
  }

  return {
    spacingMs,
    async acquire(amoId, signal) {
      const local = localOf(scope, amoId);
      let unused: number | undefined; // an open slot this request let go (a 429 came): the next reserve drops it
      try {
        for (;;) {
          signal?.throwIfAborted();
          const sent = now();
          const penaltiesBefore = local.penalties;
          const releasesBefore = local.releases;
          const r = await store.reserve(amoId, unused);
          unused = undefined;
          const answered = now();
          const ownOffset = Number.isFinite(r.dbNowMs) ? r.dbNowMs - sent : NaN;
          noteOffset(answered, ownOffset);
          if (r.slotMs === null) {
            await waitForAnswer(local, releasesBefore, Math.max(pollMs, Math.ceil(r.waitMs)), signal);
            continue;
          }
          unused = r.slotMs;
          // a 429 came while the statement was on its way: this slot may lie inside Retry-After
          if (local.penalties !== penaltiesBefore) continue;
          // the store's clock at `answered` is ≥ dbNowMs: waking `waitMs` after it is never early; ceil: timers
          // round down. Not for the 1 µs a slot is moved to differ from another (inside the margin's clock share).
          const ahead = answered + r.waitMs - now();
          if (ahead > 0.01 && !(await sleepUnlessPenalized(local, Math.ceil(ahead), signal))) continue;
          unused = undefined;
          const late = now() - (answered + r.waitMs);
          if (late > lateMs) options.onLate?.(amoId, late);
          return ticket(amoId, r.slotMs, Number.isFinite(ownOffset) ? ownOffset : Infinity);
        }
      } catch (err) {
        if (unused !== undefined) release(amoId, unused, null);
        throw err;
      }
    },
    async penalize(amoId, ms) {
      if (!(ms > 0)) return;
      await store.penalize(amoId, ms);
      const local = localOf(scope, amoId);
      local.penalties++;
      for (const requeue of [...local.sleepers]) requeue.abort(new Error('amoCRM answered 429: reserve again'));
    },
  };
}
