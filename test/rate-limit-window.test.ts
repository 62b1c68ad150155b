// The limiter's window rule on fake timers (node:test's mock.timers; nothing waits for real): no
// amoCRM account ever gets more than 7 requests within any second as the simulator counts them
// (sliding window, `maxInAnySecond`), whatever stalls hit the waking, the reserve answers and
// the way to amoCRM within the margin; and the margin is paid once per window, not per request.
// The same rule in SQL (`pgSlotStore`) is checked against real PostgreSQL by its returned slots.
import { after, afterEach, before, beforeEach, describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { maxInAnySecond } from '../packages/amo-sim/src/control-traffic.ts';
import { createRateLimiter, memorySlotStore, pgSlotStore, windowSlot, type SlotStore } from '../src/platform/amo/rate-limit.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';

const RPS = 7;
const MARGIN = 100;
const WINDOW = 1000 + MARGIN;
const LATE = 40;

/** A deterministic PRNG (mulberry32). */
function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** setTimeout-based, abortable (mock.timers drives it). */
const fakeSleep = (extra: () => number) => (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms + extra());
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(signal.reason);
      },
      { once: true },
    );
  });

const wait = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs `work` while moving the fake clock 1 ms at a time (real microtasks and I/O in between). */
async function drive<T>(work: Promise<T>): Promise<T> {
  let done = false;
  const out = work.finally(() => (done = true));
  while (!done) {
    await new Promise((r) => setImmediate(r));
    if (!done) mock.timers.tick(1);
  }
  return out;
}

describe('the window rule on fake timers', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 }));
  afterEach(() => mock.timers.reset());

  test('seven requests go at once, the eighth one window after the first, the fifteenth two windows after', async () => {
    const limiter = createRateLimiter({} as never, { rps: RPS, store: memorySlotStore(RPS, WINDOW), sleep: fakeSleep(() => 0) });
    const sent: number[] = [];
    await drive(
      (async () => {
        for (let i = 0; i < 15; i++) {
          await limiter.acquire(1);
          sent.push(Date.now());
          await wait(10); // the request's own duration
        }
      })(),
    );
    const t0 = sent[0]!;
    assert.deepEqual(
      sent.slice(0, 7).map((t) => t - t0),
      [0, 10, 20, 30, 40, 50, 60],
    );
    // the 8th waits for the 1st + window; the 9th for the 2nd + window (already past when the 8th answered)
    assert.equal(sent[7]! - t0, WINDOW);
    assert.equal(sent[14]! - t0, 2 * WINDOW);
    assert.equal(maxInAnySecond(sent), RPS);
  });

  for (const [label, clients] of [
    ['one sequential client (a sync)', 1],
    ['four concurrent clients of one account (deliveries)', 4],
  ] as const) {
    test(`${label}: never 8 in any second under stalls of waking, of reserve answers and on the way to amoCRM`, async () => {
      const rnd = prng(clients * 7919);
      let lates = 0;
      const memory = memorySlotStore(RPS, WINDOW);
      // a reserve answer is sometimes held back (a slow database, a stalled process)
      const store: SlotStore = {
        reserve: async (id, replaces) => {
          const r = await memory.reserve(id, replaces);
          if (rnd() < 0.1) await wait(Math.floor(rnd() * 150));
          return r;
        },
        penalize: (id, ms) => memory.penalize(id, ms),
      };
      const limiter = createRateLimiter({} as never, {
        rps: RPS,
        marginMs: MARGIN,
        lateMs: LATE,
        store,
        // a wake-up is sometimes late: a GC pause, a descheduled process
        sleep: fakeSleep(() => (rnd() < 0.15 ? Math.floor(rnd() * 300) : 0)),
        onLate: () => lates++,
      });
      const arrivals: number[] = [];
      const client = async (n: number) => {
        for (let i = 0; i < n; i++) {
          await limiter.acquire(42);
          // from the limiter's check to amoCRM's clock: up to the margin's rest (margin − lateMs)
          arrivals.push(Date.now() + Math.floor(rnd() * (MARGIN - LATE)));
          await wait(3 + Math.floor(rnd() * 60));
        }
      };
      await drive(Promise.all(Array.from({ length: clients }, () => client(Math.ceil(120 / clients)))));
      assert.equal(arrivals.length, clients * Math.ceil(120 / clients));
      assert.ok(lates > 0, 'the stalls made some requests late (else this proves nothing)');
      assert.ok(maxInAnySecond(arrivals) <= RPS, `${maxInAnySecond(arrivals)} requests within one second`);
    });
  }

  test('after penalize, no request of the account fires inside Retry-After; sleepers reserve again', async () => {
    const limiter = createRateLimiter({} as never, { rps: RPS, store: memorySlotStore(RPS, WINDOW), sleep: fakeSleep(() => 0) });
    const sent: number[] = [];
    const t0 = Date.now();
    for (let i = 0; i < RPS; i++) await limiter.acquire(7);
    const waiting = [limiter.acquire(7), limiter.acquire(7)].map((p) => p.then(() => sent.push(Date.now())));
    await new Promise((r) => setImmediate(r));
    await limiter.penalize(7, 5_000);
    await drive(Promise.all(waiting));
    assert.equal(sent.length, 2);
    for (const t of sent) assert.ok(t - t0 >= 5_000, `a request fired ${t - t0} ms after the 429's Retry-After of 5 000 ms began`);
  });
});

describe('windowSlot', () => {
  test('the later of now, the floor, the last slot and the 7th last + window', () => {
    assert.equal(windowSlot([], 100, -Infinity, 7, WINDOW), 100);
    assert.equal(windowSlot([100, 200], 150, -Infinity, 7, WINDOW), 200, 'never before the last slot');
    assert.equal(windowSlot([0, 1, 2, 3, 4, 5, 6], 10, -Infinity, 7, WINDOW), WINDOW);
    assert.equal(windowSlot([0, 1, 2, 3, 4, 5, 6], 10, 5_000, 7, WINDOW), 5_000, 'Retry-After');
    assert.equal(windowSlot([0, 1, 2, 3, 4, 5, 6], 2_000, -Infinity, 7, WINDOW), 2_000);
  });
});

describe('pgSlotStore: the same rule in one SQL statement', () => {
  let tdb: TestDatabase;
  before(async () => {
    tdb = await createTestDatabase();
  });
  after(async () => {
    await tdb?.drop();
  });

  const logOf = async (amoId: number) => {
    const rows = await tdb.db.$queryRaw<Array<{ recent: number[]; floor: number }>>`
      SELECT recent_slots AS recent, (EXTRACT(EPOCH FROM next_slot_at) * 1000)::double precision AS floor FROM amo_rate_limit WHERE amo_id = ${amoId}`;
    return rows[0] ?? { recent: [], floor: -Infinity };
  };

  test('slots ascend, any 8 consecutive span the window, each slot is windowSlot of the log before it', async () => {
    const store = pgSlotStore(tdb.db, RPS, WINDOW);
    const slots: number[] = [];
    for (let i = 0; i < 16; i++) {
      const before = await logOf(920_001);
      const r = await store.reserve(920_001);
      // the statement's clock is read a moment before dbNowMs: the slot is the rule at a time ≤ dbNowMs
      const expected = windowSlot(before.recent, r.dbNowMs, before.floor, RPS, WINDOW);
      assert.ok(r.slotMs <= expected && r.slotMs >= windowSlot(before.recent, -Infinity, before.floor, RPS, WINDOW), `slot ${i}`);
      slots.push(r.slotMs);
    }
    for (let i = 1; i < slots.length; i++) assert.ok(slots[i]! >= slots[i - 1]!, `slot ${i} went backwards`);
    for (let i = RPS; i < slots.length; i++) assert.ok(slots[i]! - slots[i - RPS]! >= WINDOW - 0.001, `slots ${i - RPS} and ${i}: ${slots[i]! - slots[i - RPS]!} ms apart`);

    // taking the last slot back: the next one is that slot again (the 7th last + window), not one later
    const last = slots.at(-1)!;
    const again = await store.reserve(920_001, last);
    assert.equal(again.slotMs, last);
    assert.equal((await logOf(920_001)).recent.filter((x) => x === last).length, 1, 'the taken-back slot is in the log once');
  });

  test('Retry-After is a floor; taking back one of two equal slots leaves the other', async () => {
    const store = pgSlotStore(tdb.db, RPS, WINDOW);
    const first = await store.reserve(920_002);
    await store.penalize(920_002, 5_000);
    const a = await store.reserve(920_002);
    const b = await store.reserve(920_002);
    assert.ok(a.slotMs - first.dbNowMs >= 5_000 - 1, `a slot ${a.slotMs - first.dbNowMs} ms later lies inside Retry-After`);
    assert.equal(b.slotMs, a.slotMs, 'both at the floor');
    const c = await store.reserve(920_002, b.slotMs);
    assert.equal(c.slotMs, a.slotMs);
    assert.deepEqual(
      (await logOf(920_002)).recent.filter((x) => x === a.slotMs),
      [a.slotMs, a.slotMs],
      'one of the two equal slots was taken back, not both',
    );
  });
});
