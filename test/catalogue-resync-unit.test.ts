// The periodic catalogue re-sync's schedule under fake timers: each account at its own phase,
// once per interval, a backlog spread over passes, nothing when the interval is 0.
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { isDue, lastPhaseMoment, phaseOf, startResyncScheduler, type ResyncAccount } from '../src/features/catalogue/index.ts';
import { createLogger } from '../src/platform/logger.ts';

const logger = createLogger({ level: 'silent' });
const HOUR = 3_600_000;
const TICK = 30_000;
const T0 = Date.UTC(2026, 11, 3, 12, 0, 0);

const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

function world(accounts: ResyncAccount[]) {
  const requests: { id: string; at: number }[] = [];
  let listed = 0;
  return {
    requests,
    listed: () => listed,
    deps: {
      intervalMs: HOUR,
      tickMs: TICK,
      logger,
      listAccounts: async () => (listed++, accounts.map((a) => ({ ...a }))),
      resync: async (a: ResyncAccount) => {
        requests.push({ id: a.id, at: Date.now() });
        accounts.find((x) => x.id === a.id)!.lastQueuedAt = new Date(); // requestSync queued a job
      },
    },
  };
}

async function advance(ms: number) {
  for (let t = 0; t < ms; t += TICK) {
    mock.timers.tick(TICK);
    await flush();
  }
}

describe('periodic catalogue re-sync', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: T0 }));
  afterEach(() => mock.timers.reset());

  it('phases are per account, stable, inside the interval', () => {
    const a = phaseOf('acc-1', HOUR);
    assert.equal(phaseOf('acc-1', HOUR), a);
    assert.ok(a >= 0 && a < HOUR);
    assert.notEqual(phaseOf('acc-2', HOUR), a);
    const m = lastPhaseMoment('acc-1', T0, HOUR);
    assert.ok(m <= T0 && T0 - m < HOUR && (m - a) % HOUR === 0);
    assert.equal(isDue({ id: 'acc-1', quizAccountId: 'q', lastQueuedAt: null }, T0, HOUR), true);
    assert.equal(isDue({ id: 'acc-1', quizAccountId: 'q', lastQueuedAt: new Date(m) }, T0, HOUR), false);
    assert.equal(isDue({ id: 'acc-1', quizAccountId: 'q', lastQueuedAt: new Date(m - 1) }, T0, HOUR), true);
  });

  it('each account once per interval at its own moment, spread over the hour', async () => {
    // 20 accounts all synced right now (connected together): none is due at once
    const accounts = Array.from({ length: 20 }, (_, i) => ({ id: `acc-${i}`, quizAccountId: `q-${i}`, lastQueuedAt: new Date(T0) }));
    const w = world(accounts);
    const stop = startResyncScheduler(w.deps);
    try {
      await advance(TICK);
      assert.equal(w.requests.length, 0, 'just synced: nothing due yet');
      await advance(3 * HOUR);
      for (const a of accounts) {
        const times = w.requests.filter((r) => r.id === a.id).map((r) => r.at);
        assert.ok(times.length >= 3 && times.length <= 4, `${a.id}: ${times.length} resyncs in 3 h`);
        // each right after its own phase moment, and an interval apart
        for (const at of times) assert.ok(at - lastPhaseMoment(a.id, at, HOUR) < TICK, `${a.id} at its phase`);
        for (let i = 1; i < times.length; i++) assert.equal(times[i]! - times[i - 1]!, HOUR);
      }
      // spread: the first hour's resyncs happen at many different moments, never all at once
      const firstHour = new Set(w.requests.filter((r) => r.at <= T0 + HOUR).map((r) => r.at));
      assert.ok(firstHour.size >= 12, `${firstHour.size} distinct moments for 20 accounts`);
    } finally {
      await stop();
    }
  });

  it('a backlog (never synced) is spread over passes, a fair share each', async () => {
    const accounts = Array.from({ length: 20 }, (_, i) => ({ id: `old-${i}`, quizAccountId: `q-${i}`, lastQueuedAt: null }));
    const w = world(accounts);
    const stop = startResyncScheduler(w.deps);
    try {
      await advance(TICK);
      assert.equal(w.requests.length, 2, 'first pass: 2 × ceil(20 × 30 s / 1 h) = 2');
      await advance(9 * TICK);
      assert.equal(w.requests.length, 20);
      const perPass = new Map<number, number>();
      for (const r of w.requests) perPass.set(r.at, (perPass.get(r.at) ?? 0) + 1);
      assert.ok([...perPass.values()].every((n) => n <= 2));
      assert.equal(new Set(w.requests.map((r) => r.id)).size, 20, 'each once');
    } finally {
      await stop();
    }
  });

  it('an interval of 0 never runs', async () => {
    const w = world([{ id: 'x', quizAccountId: 'q', lastQueuedAt: null }]);
    const stop = startResyncScheduler({ ...w.deps, intervalMs: 0 });
    await advance(10 * TICK);
    assert.equal(w.listed(), 0);
    await stop();
  });
});
