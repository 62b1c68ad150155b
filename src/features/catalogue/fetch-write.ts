// Fetching the parts of a sync (users, pipelines, each entity's fields and tags) with a bounded
// number of amoCRM lists in flight, and writing each part as soon as it and the parts before it
// have arrived, one write after another, while the later parts are still fetched.
//
// Why more than one list in flight: a list's pages come one after another (each page's request,
// its parse, the next page's slot), and on a busy machine that chain takes longer per page than the
// account's rate limit allows per request, so one list at a time leaves slots unused. Two lists
// at a time keep the limiter, not the chain, the bound. Why not more: every list in flight holds a
// slot of the account's limiter ahead, and a delivery of the same account waits behind them.

/** One part of a sync: what is fetched from amoCRM and how it is written to the cache. */
export interface SyncPart<T = unknown> {
  /** what it is ('users', 'fields:LEAD'): for logs and tests */
  name: string;
  /** `signal` aborts when the sync stops (its own signal, or another part failing) */
  fetch(signal: AbortSignal): Promise<T>;
  write(rows: T): Promise<void>;
}

/** amoCRM lists in flight per sync by default. */
export const DEFAULT_SYNC_CONCURRENCY = 2;

export interface FetchWriteOptions {
  /** at most this many fetches at once (default DEFAULT_SYNC_CONCURRENCY; at least 1) */
  concurrency?: number;
  /** aborts the fetches in flight; the sync rejects with its reason */
  signal?: AbortSignal;
}

interface Arrival<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}

function arrival<T>(): Arrival<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // a part after a failure is never awaited; its rejection is not unhandled
  return { promise, resolve, reject };
}

/**
 * Fetches `parts` in their order with at most `concurrency` fetches at once, and writes them in
 * the same order, one at a time, each once it has arrived and the previous write is done.
 *
 * The first failure (a fetch, a write, or `signal`) stops the sync: the fetches in flight are
 * aborted, no fetch or write starts after it, the write running (if any) finishes — each write is
 * a whole part in its transaction, so every part is left either as it was or as amoCRM has it now
 * — and this rejects with that failure once nothing of the sync is running any more.
 */
export async function fetchThenWrite(parts: readonly SyncPart[], options: FetchWriteOptions = {}): Promise<void> {
  const concurrency = Math.max(1, Math.floor(options.concurrency ?? DEFAULT_SYNC_CONCURRENCY));
  const stop = new AbortController();
  const arrivals = parts.map(() => arrival<unknown>());
  let failure: { err: unknown } | null = null;
  const fail = (err: unknown) => {
    if (failure) return;
    failure = { err };
    stop.abort(err);
    for (const a of arrivals) a.reject(err); // a part not fetched yet never arrives: the writer stops at it
  };
  const outer = options.signal;
  const onOuterAbort = () => fail(outer?.reason);
  if (outer?.aborted) onOuterAbort();
  outer?.addEventListener('abort', onOuterAbort, { once: true });

  let next = 0;
  const fetcher = async () => {
    while (!failure && next < parts.length) {
      const i = next++;
      try {
        arrivals[i]!.resolve(await parts[i]!.fetch(stop.signal));
      } catch (err) {
        fail(err);
        arrivals[i]!.reject(err);
      }
    }
  };
  const writer = async () => {
    for (let i = 0; i < parts.length && !failure; i++) {
      let rows: unknown;
      try {
        rows = await arrivals[i]!.promise;
      } catch {
        return; // the sync failed before this part arrived
      }
      if (failure) return;
      try {
        await parts[i]!.write(rows);
      } catch (err) {
        fail(err);
      }
    }
  };

  try {
    const fetchers = Array.from({ length: Math.min(concurrency, parts.length) }, fetcher);
    await Promise.all([...fetchers, writer()]);
  } finally {
    outer?.removeEventListener('abort', onOuterAbort);
  }
  if (failure) throw (failure as { err: unknown }).err;
}
