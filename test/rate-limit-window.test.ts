// The limiter's rule on fake timers (node:test's mock.timers; nothing waits for real): no amoCRM
// account ever gets more than 7 requests within any second as the simulator counts them
// (`maxInAnySecond` over arrival times), whatever delays lie between a send and its arrival —
// far beyond the margin — and whatever stalls hit the waking, the store's answers and amoCRM's
// answers; 4 concurrent clients, and two replicas sharing one store. The rule only counts a window
// from an answer (proof of arrival), so the figures it reaches depend on answer times, checked here
// exactly on a quiet fake clock.
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { maxInAnySecond } from '../packages/amo-sim/src/control-traffic.ts';
import { UNANSWERED_GRACE_MS, createRateLimiter, memorySlotStore, type RateLimiter, type SlotStore } from '../src/platform/amo/rate-limit.ts';
import { prng } from './helpers/prng.ts';

const RPS = 7;
const MARGIN = 10;
const WINDOW = 1000 + MARGIN;
const RULE = { rps: RPS, windowMs: WINDOW, holdMs: 90_000 };

/** setTimeout-based, abortable (mock.timers drives it); `extra()` ms of lateness on waking. */
const fakeSleep =
  (extra: () => number = () => 0) =>
  (ms: number, signal?: AbortSignal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
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

/** A store whose answers are sometimes held back (a slow database, a stalled process); its own object, so a limiter over it is a replica of its own. */
function stalling(store: SlotStore, rnd: () => number, p: number, maxMs: number): SlotStore {
  const stall = () => (rnd() < p ? wait(Math.floor(rnd() * maxMs)) : undefined);
  return {
    reserve: async (id, replaces) => {
      const r = await store.reserve(id, replaces);
      await stall();
      return r;
    },
    release: async (id, slot, at) => {
      await stall();
      await store.release(id, slot, at);
    },
    penalize: (id, ms) => store.penalize(id, ms),
  };
}

describe('the rule on fake timers', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 }));
  afterEach(() => mock.timers.reset());

  test('seven go at once; the eighth a window after the first one was answered, the fifteenth a window after the eighth', async () => {
    const limiter = createRateLimiter({} as never, { rps: RPS, marginMs: MARGIN, store: memorySlotStore(RULE), sleep: fakeSleep() });
    const sent: number[] = [];
    await drive(
      (async () => {
        for (let i = 0; i < 15; i++) {
          const slot = await limiter.acquire(1);
          sent.push(Date.now());
          await wait(10); // amoCRM answers 10 ms later
          slot.arrived();
        }
      })(),
    );
    const t0 = sent[0]!;
    assert.deepEqual(
      sent.slice(0, 7).map((t) => t - t0),
      [0, 10, 20, 30, 40, 50, 60],
    );
    // the 1st was answered at +10: the 8th goes a window after that; the 9th's bound (the 2nd's answer + window) is past by then
    assert.equal(sent[7]! - t0, 10 + WINDOW);
    assert.equal(sent[14]! - t0, 2 * (10 + WINDOW));
    assert.equal(maxInAnySecond(sent), RPS);
  });

  test('a request that failed without an answer binds as if it reached amoCRM up to UNANSWERED_GRACE_MS after the failure', async () => {
    const limiter = createRateLimiter({} as never, { rps: RPS, marginMs: MARGIN, store: memorySlotStore(RULE), sleep: fakeSleep() });
    const t0 = Date.now();
    const later: number[] = [];
    await drive(
      (async () => {
        for (let i = 0; i < RPS; i++) {
          const slot = await limiter.acquire(3);
          await wait(10);
          // the first is aborted (no answer): amoCRM may still read it after this moment
          if (i === 0) slot.unanswered();
          else slot.arrived();
        }
        // past every answered one's window: only the unanswered one still binds
        await wait(1_500 - (Date.now() - t0));
        await Promise.all(
          Array.from({ length: RPS }, async () => {
            const slot = await limiter.acquire(3);
            later.push(Date.now() - t0);
            await wait(10);
            slot.arrived();
          }),
        );
      })(),
    );
    assert.deepEqual(later.slice(0, RPS - 1), Array(RPS - 1).fill(1_500));
    assert.equal(later[RPS - 1], 10 + UNANSWERED_GRACE_MS + WINDOW);
  });

  test('with seven unanswered, the eighth waits for an answer and goes a window after it; an unused slot frees its place', async () => {
    const limiter = createRateLimiter({} as never, { rps: RPS, marginMs: MARGIN, store: memorySlotStore(RULE), sleep: fakeSleep() });
    const t0 = Date.now();
    const open = [];
    for (let i = 0; i < RPS; i++) open.push(await limiter.acquire(2));
    let eighthAt = 0;
    const eighth = limiter.acquire(2).then((s) => ((eighthAt = Date.now()), s));
    await drive(wait(3_000));
    assert.equal(eighthAt, 0, 'nothing proves when the seven arrived: the eighth must not go');
    open[3]!.arrived(); // answered at +3 000
    await drive(eighth);
    assert.equal(eighthAt - t0, 3_000 + WINDOW);

    // a slot given back unused (the caller never sent) is not counted
    open[0]!.unsent();
    const ninth = await drive(limiter.acquire(2));
    ninth.unsent();
    assert.equal(Date.now() - t0, 3_000 + WINDOW, 'the ninth took the freed place at once');
  });

  test("the store's clock 5 s ahead of this process's: answers are mapped onto it, never early", async () => {
    const limiter = createRateLimiter({} as never, { rps: RPS, marginMs: MARGIN, store: memorySlotStore(RULE, () => Date.now() + 5_000), sleep: fakeSleep() });
    const sent: number[] = [];
    await drive(
      (async () => {
        for (let i = 0; i < 8; i++) {
          const slot = await limiter.acquire(3);
          sent.push(Date.now());
          await wait(20);
          slot.arrived();
        }
      })(),
    );
    assert.equal(sent[7]! - sent[0]!, 20 + WINDOW);
  });

  for (const [label, clients, replicas] of [
    ['one sequential client (a sync)', 1, 1],
    ['four concurrent clients of one account (deliveries)', 4, 1],
    ['four clients on two replicas sharing the store', 4, 2],
  ] as const) {
    test(`${label}: never 8 in any second, with sends reaching amoCRM up to 2 s late and stalls everywhere`, async () => {
      const rnd = prng(clients * 7919 + replicas);
      let lates = 0;
      const shared = memorySlotStore(RULE);
      const limiters: RateLimiter[] = Array.from({ length: replicas }, () =>
        createRateLimiter({} as never, {
          rps: RPS,
          marginMs: MARGIN,
          store: stalling(shared, rnd, 0.1, 150),
          // a wake-up is sometimes late: a GC pause, a descheduled process
          sleep: fakeSleep(() => (rnd() < 0.15 ? Math.floor(rnd() * 300) : 0)),
          onLate: () => lates++,
        }),
      );
      const arrivals: number[] = [];
      let worstWay = 0;
      const client = async (limiter: RateLimiter, n: number) => {
        for (let i = 0; i < n; i++) {
          const slot = await limiter.acquire(42);
          // from the send to amoCRM's log: usually a few ms, sometimes far more than any margin (a stalled event loop, a slow network)
          const way = rnd() < 0.1 ? 300 + Math.floor(rnd() * 1_700) : Math.floor(rnd() * 20);
          worstWay = Math.max(worstWay, way);
          await wait(way);
          arrivals.push(Date.now());
          // amoCRM's work and the answer's way back: sometimes slow
          await wait(rnd() < 0.1 ? Math.floor(rnd() * 400) : 5 + Math.floor(rnd() * 40));
          slot.arrived();
        }
      };
      const per = Math.ceil(100 / clients);
      await drive(Promise.all(Array.from({ length: clients }, (_, k) => client(limiters[k % replicas]!, per))));
      assert.equal(arrivals.length, clients * per);
      assert.ok(
        worstWay > 1_000 && lates > 0,
        `way ${worstWay}, lates ${lates}: ` + 'the stalls went far beyond the old 200 ms margin and made wake-ups late (else this proves nothing)',
      );
      assert.ok(maxInAnySecond(arrivals) <= RPS, `${maxInAnySecond(arrivals)} requests within one second`);
    });
  }

  test('after penalize, no request of the account fires inside Retry-After; sleepers reserve again', async () => {
    const limiter = createRateLimiter({} as never, { rps: RPS, marginMs: MARGIN, store: memorySlotStore(RULE), sleep: fakeSleep() });
    const sent: number[] = [];
    const t0 = Date.now();
    for (let i = 0; i < RPS; i++) (await limiter.acquire(7)).arrived();
    const waiting = [limiter.acquire(7), limiter.acquire(7)].map((p) => p.then(() => sent.push(Date.now())));
    await new Promise((r) => setImmediate(r));
    await limiter.penalize(7, 5_000);
    await drive(Promise.all(waiting));
    assert.equal(sent.length, 2);
    for (const t of sent) assert.ok(t - t0 >= 5_000, `a request fired ${t - t0} ms after the 429's Retry-After of 5 000 ms began`);
  });

  test("an abort while sleeping rejects with the caller's reason and frees the slot", async () => {
    const store = memorySlotStore(RULE);
    const limiter = createRateLimiter({} as never, { rps: RPS, marginMs: MARGIN, store, sleep: fakeSleep() });
    for (let i = 0; i < RPS; i++) (await limiter.acquire(8)).arrived();
    const ac = new AbortController();
    const waiting = limiter.acquire(8, ac.signal);
    await drive(wait(100));
    assert.equal(store.log(8).filter((e) => e.arrivedBy === null).length, 1, 'the sleeper holds an open slot');
    ac.abort(new Error('stopping'));
    await assert.rejects(waiting, /stopping/);
    await drive(wait(1));
    assert.equal(store.log(8).filter((e) => e.arrivedBy === null).length, 0, 'its slot was given back');
  });
});
