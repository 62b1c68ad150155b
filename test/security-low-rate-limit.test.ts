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
  const sleeps: number[] = [];
  const limiter = createRateLimiter(db, {
    rps: 7,
    lateMs: Infinity, // lateness is not what is tested
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  });
  await limiter.acquire(amoId);
  holdNext = true;
  // its slot (one spacing from now) is reserved in the database, the answer held back
  const waiting = limiter.acquire(amoId);
  await until('the reserve ran', async () => release !== undefined);
  await limiter.penalize(amoId, 5_000);
  release!();
  await waiting;
  assert.ok(sleeps.length > 0, 'the request slept before sending');
  const last = sleeps.at(-1)!;
  assert.ok(last >= 5_000 - 100, `the request fired ${last} ms later, inside the 5 000 ms Retry-After (sleeps: ${sleeps.join(', ')})`);
});
