// The rule in PostgreSQL (amo_rate_reserve / amo_rate_release, `pgSlotStore`) is `grantSlot` of
// the account's live log at the statement's own clock, and two replicas sharing it (each its own
// process-local state, so no wake-ups between them) never let 8 requests reach the simulated
// amoCRM within one second, with sends reaching it far later than any margin.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { maxInAnySecond } from '../packages/amo-sim/src/control-traffic.ts';
import { createRateLimiter, grantSlot, liveEntries, pgSlotStore, type RateLimiter, type SlotEntry } from '../src/platform/amo/rate-limit.ts';
import type { Db } from '../src/platform/db.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';

const RULE = { rps: 7, windowMs: 1010, holdMs: 90_000 };

let tdb: TestDatabase;
before(async () => {
  tdb = await createTestDatabase();
});
after(async () => {
  await tdb?.drop();
});

async function logOf(amoId: number): Promise<{ entries: SlotEntry[]; floor: number }> {
  const rows = await tdb.db.$queryRaw<Array<{ slots: number[]; arrivals: Array<number | null>; floor: number }>>`
    SELECT recent_slots AS slots, recent_arrivals AS arrivals, (EXTRACT(EPOCH FROM next_slot_at) * 1000)::double precision AS floor
    FROM amo_rate_limit WHERE amo_id = ${amoId}`;
  const row = rows[0];
  if (!row) return { entries: [], floor: -Infinity };
  return {
    entries: row.slots.map((slot, i) => ({ slot: Number(slot), arrivedBy: row.arrivals[i] === null || row.arrivals[i] === undefined ? null : Number(row.arrivals[i]) })),
    floor: Number(row.floor),
  };
}

describe('pgSlotStore', () => {
  test('each answer is grantSlot of the live log at the statement clock: seven open, then none until an answer, then a window after it', async () => {
    const store = pgSlotStore(tdb.db, RULE);
    const amoId = 930_001;
    const check = async (replaces?: number) => {
      const before = await logOf(amoId);
      const r = await store.reserve(amoId, replaces);
      const live = liveEntries(
        before.entries.filter((e) => !(e.slot === replaces && e.arrivedBy === null)),
        r.dbNowMs,
        RULE,
      );
      assert.equal(r.slotMs, grantSlot(live, r.dbNowMs, before.floor, RULE));
      return r;
    };
    const open: number[] = [];
    for (let i = 0; i < 7; i++) open.push((await check()).slotMs!);
    assert.equal(new Set(open).size, 7, 'every slot names one entry');
    const none = await check();
    assert.equal(none.slotMs, null, 'seven unanswered: nothing proves a time safe');

    // a time that needs all 17 significant digits: the slot it bounds must still name its entry exactly
    const at = none.dbNowMs + 3.123456789;
    await store.release(amoId, open[2]!, at);
    const eighth = await check();
    assert.equal(eighth.slotMs, at + RULE.windowMs);

    // an unused slot given back (reserve's `replaces`, or release as never sent) frees its place at once
    const again = await check(eighth.slotMs!);
    assert.equal(again.slotMs, at + RULE.windowMs);
    await store.release(amoId, open[0]!, null);
    await store.release(amoId, again.slotMs!, null);
    const freed = await check();
    assert.ok(freed.slotMs! < at + RULE.windowMs, 'a never-sent slot does not bind');
    assert.equal((await logOf(amoId)).entries.length, 7);
  });

  test('a release names one entry: a second release of it, or of a slot not logged, changes nothing', async () => {
    const store = pgSlotStore(tdb.db, RULE);
    const amoId = 930_002;
    const a = await store.reserve(amoId);
    await store.release(amoId, a.slotMs!, a.dbNowMs + 1);
    await store.release(amoId, a.slotMs!, a.dbNowMs + 500);
    await store.release(amoId, a.slotMs! + 7, a.dbNowMs + 500);
    assert.deepEqual((await logOf(amoId)).entries, [{ slot: a.slotMs, arrivedBy: a.dbNowMs + 1 }]);
  });

  test('Retry-After is a floor', async () => {
    const store = pgSlotStore(tdb.db, RULE);
    const first = await store.reserve(930_003);
    await store.penalize(930_003, 5_000);
    const a = await store.reserve(930_003);
    const b = await store.reserve(930_003);
    assert.ok(a.slotMs! - first.dbNowMs >= 5_000 - 1, `a slot ${a.slotMs! - first.dbNowMs} ms later lies inside Retry-After`);
    assert.ok(b.slotMs! > a.slotMs! && b.slotMs! - a.slotMs! < 1, 'both at the floor, each its own entry');
  });
});

describe('two replicas over PostgreSQL', () => {
  test('three clients each, sends reaching amoCRM up to 1.5 s late: never 8 in any second', async () => {
    const amoId = 930_010;
    // each replica its own Db object: its own sleepers and waiters, as another process would have
    const replica = (): RateLimiter => createRateLimiter(new Proxy(tdb.db, {}) as Db, { rps: 7 });
    const limiters = [replica(), replica()];
    const arrivals: number[] = [];
    let seed = 1;
    const rnd = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    let worstWay = 0;
    const client = async (limiter: RateLimiter) => {
      for (let i = 0; i < 6; i++) {
        const slot = await limiter.acquire(amoId);
        const way = rnd() < 0.2 ? 300 + Math.floor(rnd() * 1_200) : Math.floor(rnd() * 10);
        worstWay = Math.max(worstWay, way);
        await sleep(way);
        arrivals.push(Date.now());
        await sleep(5 + Math.floor(rnd() * 40));
        slot.arrived();
      }
    };
    await Promise.all([0, 1, 2, 3, 4, 5].map((k) => client(limiters[k % 2]!)));
    assert.equal(arrivals.length, 36);
    assert.ok(worstWay > 300, 'some sends reached amoCRM later than the old margin (else this proves nothing)');
    assert.ok(maxInAnySecond(arrivals) <= 7, `${maxInAnySecond(arrivals)} requests within one second`);
  });
});
