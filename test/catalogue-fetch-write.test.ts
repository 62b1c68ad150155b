// The sync's concurrent fetches and ordered writes (src/features/catalogue/fetch-write.ts) with
// fakes whose every fetch and write the test settles itself: at most `concurrency` fetches in
// flight, writes one at a time in the parts' order while later parts are fetched, and a failure
// (a fetch, a write, the caller's signal) aborts the fetches in flight and starts nothing after it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fetchThenWrite, type SyncPart } from '../src/features/catalogue/fetch-write.ts';

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
}
function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

/** Lets every promise reaction already due run (the code under test waits on nothing else). */
const settle = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

/** Parts whose fetches and writes wait for the test; `log` says what happened, in order. */
function fakeParts(n: number) {
  const log: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let writing = 0;
  let maxWriting = 0;
  const fetches = Array.from({ length: n }, () => ({ started: deferred<AbortSignal>(), answer: deferred<string>() }));
  const writes = Array.from({ length: n }, () => ({ started: deferred<string>(), done: deferred<void>() }));
  const parts: SyncPart<string>[] = fetches.map((f, i) => ({
    name: `p${i}`,
    async fetch(signal) {
      log.push(`fetch p${i}`);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      f.started.resolve(signal);
      signal.addEventListener('abort', () => f.answer.reject(signal.reason), { once: true });
      try {
        return await f.answer.promise;
      } finally {
        inFlight--;
      }
    },
    async write(rows) {
      log.push(`write p${i} ${rows}`);
      writing++;
      maxWriting = Math.max(maxWriting, writing);
      writes[i]!.started.resolve(rows);
      try {
        await writes[i]!.done.promise;
      } finally {
        writing--;
      }
    },
  }));
  const started = (i: number) => log.includes(`fetch p${i}`);
  return { parts, log, fetches, writes, started, maxInFlight: () => maxInFlight, maxWriting: () => maxWriting };
}

/** Records when the promise settles, and how. */
function watch(p: Promise<void>) {
  const state: { settled: boolean; err?: unknown } = { settled: false };
  const done = p.then(
    () => void (state.settled = true),
    (err: unknown) => void Object.assign(state, { settled: true, err }),
  );
  return { state, done };
}

describe('catalogue sync: fetchThenWrite', () => {
  test('never more than `concurrency` fetches in flight; the next part starts as one arrives, in order', async () => {
    for (const concurrency of [1, 2, 3]) {
      const f = fakeParts(7);
      const run = watch(fetchThenWrite(f.parts, { concurrency }));
      for (let i = 0; i < concurrency; i++) await f.fetches[i]!.started.promise;
      await settle();
      assert.ok(!f.started(concurrency), `concurrency ${concurrency}: part ${concurrency} waits for a free fetch`);
      // answer from the newest in flight to the oldest: each answer lets exactly the next part start
      const answered = new Set<number>();
      for (let k = 0; k < 7; k++) {
        const open = [...Array(7).keys()].filter((i) => f.started(i) && !answered.has(i));
        const i = open.at(-1)!;
        answered.add(i);
        f.fetches[i]!.answer.resolve(`rows${i}`);
        f.writes[i]!.done.resolve();
        await settle();
        const startedNow = f.parts.map((_, j) => f.started(j));
        const expected = Math.min(7, answered.size + concurrency);
        assert.deepEqual(
          startedNow,
          [...Array(7).keys()].map((j) => j < expected),
          `after ${answered.size} answers, the first ${expected} parts have started`,
        );
      }
      await run.done;
      assert.equal(run.state.err, undefined);
      assert.equal(f.maxInFlight(), concurrency);
      assert.equal(f.log.filter((l) => l.startsWith('fetch')).length, 7, 'every part fetched once');
    }
  });

  test('writes run in the parts’ order, one at a time, while later parts are still fetched', async () => {
    const f = fakeParts(4);
    const run = watch(fetchThenWrite(f.parts, { concurrency: 2 }));
    await f.fetches[1]!.started.promise;
    f.fetches[1]!.answer.resolve('b'); // part 1 arrives before part 0: not written yet
    await f.fetches[2]!.started.promise;
    await settle();
    assert.deepEqual(
      f.log.filter((l) => l.startsWith('write')),
      [],
    );
    f.fetches[0]!.answer.resolve('a');
    assert.equal(await f.writes[0]!.started.promise, 'a');
    await settle();
    assert.ok(!f.log.includes('write p1 b'), 'part 1 waits for part 0’s write');
    assert.ok(f.started(3), 'fetching goes on during the write');
    f.writes[0]!.done.resolve();
    assert.equal(await f.writes[1]!.started.promise, 'b');
    f.writes[1]!.done.resolve();
    f.fetches[3]!.answer.resolve('d');
    f.fetches[2]!.answer.resolve('c');
    f.writes[2]!.done.resolve();
    f.writes[3]!.done.resolve();
    await run.done;
    assert.equal(run.state.err, undefined);
    assert.deepEqual(
      f.log.filter((l) => l.startsWith('write')),
      ['write p0 a', 'write p1 b', 'write p2 c', 'write p3 d'],
    );
    assert.equal(f.maxWriting(), 1);
  });

  test('a failed fetch aborts the fetches in flight, starts no fetch or write after it, and rejects once the running write is done', async () => {
    const f = fakeParts(6);
    const run = watch(fetchThenWrite(f.parts, { concurrency: 2 }));
    f.fetches[0]!.answer.resolve('a');
    await f.writes[0]!.started.promise; // part 0 is being written
    await f.fetches[2]!.started.promise;
    const signalOf1 = await f.fetches[1]!.started.promise;
    f.fetches[2]!.answer.resolve('c'); // arrived, but behind part 1
    await f.fetches[3]!.started.promise;
    const failure = new Error('page 3 of part 3 failed');
    f.fetches[3]!.answer.reject(failure);
    await settle();
    assert.ok(signalOf1.aborted, 'the fetch in flight is aborted');
    assert.equal(signalOf1.reason, failure);
    assert.ok(!run.state.settled, 'the write running is waited for');
    f.writes[0]!.done.resolve();
    await run.done;
    assert.equal(run.state.err, failure);
    assert.deepEqual([...f.log].sort(), ['fetch p0', 'fetch p1', 'fetch p2', 'fetch p3', 'write p0 a'], 'nothing after the failure; part 2 (arrived) is not written');
  });

  test('a failed write aborts the fetches in flight and starts nothing after it', async () => {
    const f = fakeParts(5);
    const run = watch(fetchThenWrite(f.parts, { concurrency: 2 }));
    f.fetches[0]!.answer.resolve('a');
    await f.writes[0]!.started.promise;
    const signalOf1 = await f.fetches[1]!.started.promise;
    const signalOf2 = await f.fetches[2]!.started.promise;
    const failure = new Error('deadlock detected');
    f.writes[0]!.done.reject(failure);
    await run.done;
    assert.equal(run.state.err, failure);
    assert.ok(signalOf1.aborted && signalOf2.aborted);
    assert.deepEqual([...f.log].sort(), ['fetch p0', 'fetch p1', 'fetch p2', 'write p0 a']);
  });

  test('the caller’s signal aborts the fetches in flight; the sync rejects with its reason', async () => {
    const f = fakeParts(4);
    const stop = new AbortController();
    const run = watch(fetchThenWrite(f.parts, { concurrency: 2, signal: stop.signal }));
    const signals = await Promise.all([f.fetches[0]!.started.promise, f.fetches[1]!.started.promise]);
    const reason = new Error('worker stopping');
    stop.abort(reason);
    await run.done;
    assert.equal(run.state.err, reason);
    assert.ok(signals.every((s) => s.aborted && s.reason === reason));
    assert.deepEqual(f.log, ['fetch p0', 'fetch p1']);
    // a signal aborted before the start fetches nothing
    const g = fakeParts(2);
    await assert.rejects(fetchThenWrite(g.parts, { signal: AbortSignal.abort(reason) }), (err) => err === reason);
    assert.deepEqual(g.log, []);
  });

  test('no parts: resolves at once', async () => {
    await fetchThenWrite([], { concurrency: 2 });
  });
});
