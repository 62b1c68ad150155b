// Issue 16 (Low): after a 429, a slot reserved before it must not fire inside Retry-After, even
// when the request was not sleeping yet (its reserve statement's answer still on its way).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRateLimiter } from '../src/platform/amo/index.ts';
import type { Db } from '../src/platform/db.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { until } from './helpers/wait.ts';

let tdb: TestDatabase;
before(async () => {
  tdb = await createTestDatabase();
});
after(async () => {
  await tdb?.drop();
});

test('a request whose reserve answer arrives after a 429 reserves again past Retry-After', async () => {
  const amoId = 910_001;
  let holdNext = false;
  let release: (() => void) | undefined;
  const db = new Proxy(tdb.db, {
    get(target, prop, receiver) {
      if (prop !== '$queryRaw') return Reflect.get(target, prop, receiver);
      return async (...args: unknown[]) => {
        const rows = await (target.$queryRaw as (...a: unknown[]) => Promise<unknown>)(...args);
        if (holdNext) {
          holdNext = false;
          await new Promise<void>((r) => (release = r));
        }
        return rows;
      };
    },
  }) as Db;
  // when each sleep would end (local clock): when the request would be sent
  const wakes: number[] = [];
  const limiter = createRateLimiter(db, {
    rps: 7,
    lateMs: Infinity, // lateness is not what is tested
    sleep: async (ms) => {
      wakes.push(Date.now() + ms);
    },
  });
  await limiter.acquire(amoId);
  holdNext = true;
  // its slot (one spacing from now) is reserved in the database, the answer held back
  const waiting = limiter.acquire(amoId);
  await until('the reserve ran', async () => release !== undefined);
  // Retry-After runs from the penalty's statement, which the database runs after this moment
  const penalizedFrom = Date.now();
  await limiter.penalize(amoId, 5_000);
  release!();
  await waiting;
  assert.ok(wakes.length > 0, 'the request slept before sending');
  // however long the steps took: the send is not before the penalty's end (1 ms: Date.now() truncates)
  const firedAfter = wakes.at(-1)! - penalizedFrom;
  assert.ok(firedAfter >= 5_000 - 1, `the request fired ${firedAfter} ms after the 429, inside the 5 000 ms Retry-After`);
});
