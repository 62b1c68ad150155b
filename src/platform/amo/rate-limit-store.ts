/**
 * Where the limiter's slots live (rate-limit.ts has the rule's why and proof): per amoCRM
 * account, the open and recently answered slots (`recent_slots`, epoch ms, store clock) with, for
 * each, the moment its request is known to have reached amoCRM (`recent_arrivals`, NULL while
 * unknown) and the Retry-After floor (`next_slot_at`). `grantSlot` is the rule; the PostgreSQL
 * functions of migration 20261204020100 compute the same under the account row's lock.
 */
import type { Db } from '../db.ts';

/** One slot of the account's log (store clock, epoch ms). */
export interface SlotEntry {
  slot: number;
  /** no later than this its request reached amoCRM (its answer came back); null: not known yet */
  arrivedBy: number | null;
}

export interface Reservation {
  /** the slot (epoch ms, store clock), or null: no slot can be proven safe yet (7 requests unanswered) */
  slotMs: number | null;
  /** slot: how long (ms, ≥ 0) after the statement ran it is; no slot: when to ask again at the latest */
  waitMs: number;
  /** the store's clock when it ran the statement (epoch ms) */
  dbNowMs: number;
}

export interface SlotStore {
  /** Grants the account's next slot (`grantSlot`) and logs it open, dropping `replaces` (an unused open slot) if given. */
  reserve(amoId: number, replaces?: number): Promise<Reservation>;
  /** The request of `slot` reached amoCRM by `arrivedBy` (store clock); null: it was never sent (the slot is dropped). */
  release(amoId: number, slot: number, arrivedBy: number | null): Promise<void>;
  /** No slot of the account before `ms` from now. */
  penalize(amoId: number, ms: number): Promise<void>;
}

export interface SlotRule {
  rps: number;
  /** 1000 ms + the margin */
  windowMs: number;
  /** an open slot older than this is dropped (a crashed replica's; see rate-limit.ts) */
  holdMs: number;
}

/** The entries that can still bind a slot granted at or after `nowMs`. */
export function liveEntries(entries: readonly SlotEntry[], nowMs: number, rule: SlotRule): SlotEntry[] {
  return entries.filter((e) => (e.arrivedBy === null ? e.slot > nowMs - rule.holdMs : e.arrivedBy + rule.windowMs > nowMs));
}

/**
 * The slot rule: the earliest time G ≥ now, ≥ the floor, at which at most rps − 1 other requests
 * may still reach amoCRM after G − windowMs — every open one (its arrival is unknown) and every
 * answered one with arrivedBy + windowMs > G. Null when rps requests are open: nothing proves any
 * time safe. A slot equal to a logged one is moved by 1 µs, so a slot names its entry.
 */
export function grantSlot(entries: readonly SlotEntry[], nowMs: number, floorMs: number, rule: SlotRule): number | null {
  const rps = Math.max(1, Math.ceil(rule.rps));
  const open = entries.filter((e) => e.arrivedBy === null).length;
  const free = rps - 1 - open;
  if (free < 0) return null;
  const answered = entries.flatMap((e) => (e.arrivedBy === null ? [] : [e.arrivedBy])).sort((a, b) => a - b);
  const bound = answered.length > free ? answered[answered.length - free - 1]! + rule.windowMs : -Infinity;
  let slot = Math.max(nowMs, floorMs, bound);
  while (entries.some((e) => e.slot === slot)) slot += 0.001;
  return slot;
}

/** No slot: ask again when the first open slot is due (it cannot be answered before it is sent), else at once. */
export function retryMs(entries: readonly SlotEntry[], nowMs: number): number {
  const firstOpen = Math.min(...entries.filter((e) => e.arrivedBy === null).map((e) => e.slot));
  return Number.isFinite(firstOpen) ? Math.max(0, firstOpen - nowMs) : 0;
}

/**
 * A slot names its entry by exact equality, and a number parameter does not reach PostgreSQL
 * exactly when it needs 17 significant digits (seen: a slot one bump past another was never
 * found). As text (JavaScript's shortest round-trip form) it does.
 */
const exact = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : String(ms));

/** The slots in PostgreSQL (`amo_rate_limit`), shared by every replica; one statement per call. */
export function pgSlotStore(db: Db, rule: SlotRule): SlotStore {
  const rps = Math.max(1, Math.ceil(rule.rps));
  return {
    async reserve(amoId, replaces) {
      const rows = await db.$queryRaw<Array<{ slot_ms: number | string | null; now_ms: number | string; retry_ms: number | string | null }>>`
        SELECT slot_ms, now_ms, retry_ms FROM amo_rate_reserve(${amoId}::bigint, ${exact(replaces)}::double precision,
          ${rps}::int, ${rule.windowMs}::double precision, ${rule.holdMs}::double precision)`;
      const row = rows[0];
      const dbNowMs = Number(row?.now_ms);
      if (row?.slot_ms === null || row?.slot_ms === undefined) return { slotMs: null, waitMs: Math.max(0, Number(row?.retry_ms) || 0), dbNowMs };
      const slotMs = Number(row.slot_ms);
      const wait = slotMs - dbNowMs;
      return { slotMs, waitMs: Number.isFinite(wait) && wait > 0 ? wait : 0, dbNowMs };
    },
    async release(amoId, slot, arrivedBy) {
      await db.$queryRaw`SELECT amo_rate_release(${amoId}::bigint, ${exact(slot)}::double precision, ${exact(arrivedBy)}::double precision) AS done`;
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
export function memorySlotStore(rule: SlotRule, now: () => number = Date.now): SlotStore & { log(amoId: number): SlotEntry[] } {
  const accounts = new Map<number, { entries: SlotEntry[]; floor: number }>();
  const of = (amoId: number) => {
    let a = accounts.get(amoId);
    if (!a) accounts.set(amoId, (a = { entries: [], floor: -Infinity }));
    return a;
  };
  return {
    log: (amoId) => of(amoId).entries.map((e) => ({ ...e })),
    async reserve(amoId, replaces) {
      const a = of(amoId);
      const t = now();
      a.entries = liveEntries(
        a.entries.filter((e) => !(e.slot === replaces && e.arrivedBy === null)),
        t,
        rule,
      );
      const slot = grantSlot(a.entries, t, a.floor, rule);
      if (slot === null) return { slotMs: null, waitMs: retryMs(a.entries, t), dbNowMs: t };
      a.entries.push({ slot, arrivedBy: null });
      return { slotMs: slot, waitMs: Math.max(0, slot - t), dbNowMs: t };
    },
    async release(amoId, slot, arrivedBy) {
      const a = of(amoId);
      const i = a.entries.findIndex((e) => e.slot === slot && e.arrivedBy === null);
      if (i < 0) return;
      if (arrivedBy === null) a.entries.splice(i, 1);
      else a.entries[i] = { slot, arrivedBy: Math.max(arrivedBy, slot) };
    },
    async penalize(amoId, ms) {
      const a = of(amoId);
      a.floor = Math.max(a.floor, now() + ms);
    },
  };
}
