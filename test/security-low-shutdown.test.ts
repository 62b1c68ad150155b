// Issue 16 (Low): stopping the workers aborts a delivery's amoCRM send at once, not only after
// the token refresher's pass (here stalled on amoCRM's token endpoint) has finished.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createAmoSimulator, type AmoSimulator } from '@quiz-gateway/amo-sim';
import { acceptResult } from '../src/features/delivery/index.ts';
import type { Services } from '../src/platform/services.ts';
import { startWorkers } from '../src/workers/index.ts';
import { connectSimAccount, TEST_AMO_CLIENT_ID, TEST_AMO_CLIENT_SECRET, TEST_AMO_REDIRECT, testAmoConfig } from './helpers/amo.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { connectDeliveryAccount, deliveryServices, simpleResult } from './helpers/delivery.ts';

const TOKEN_STALL_MS = 3_000;

let sim: AmoSimulator;
let tdb: TestDatabase;
let services: Services | undefined;
before(async () => {
  sim = createAmoSimulator({ clientId: TEST_AMO_CLIENT_ID, clientSecret: TEST_AMO_CLIENT_SECRET, redirectUri: TEST_AMO_REDIRECT });
  await sim.start();
  tdb = await createTestDatabase();
});
after(async () => {
  await services?.queue.close();
  await tdb?.drop();
  await sim?.stop();
});

test("the workers' stop aborts a send in flight before the token refresher's pass ends", async () => {
  let tokenEntered!: () => void;
  const tokenCalled = new Promise<void>((r) => (tokenEntered = r));
  let sendEntered!: () => void;
  const sendCalled = new Promise<void>((r) => (sendEntered = r));
  let tokenDoneAt = Infinity;
  let sendAbortedAt = Infinity;
  const stallingFetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.pathname === '/oauth2/access_token') {
      tokenEntered();
      // a slow token endpoint: the refresher's pass cannot finish sooner
      await new Promise((r) => setTimeout(r, TOKEN_STALL_MS));
      tokenDoneAt = Date.now();
      return fetch(input, init);
    }
    if (init?.method === 'POST' && url.pathname.startsWith('/api/v4/leads')) {
      sendEntered();
      return new Promise<Response>((_resolve, reject) => {
        init.signal?.addEventListener('abort', () => {
          sendAbortedAt = Date.now();
          reject(init.signal!.reason);
        });
      });
    }
    return fetch(input, init);
  }) as typeof fetch;
  services = await deliveryServices(tdb.db, undefined, { fetch: stallingFetch });

  const deliverTo = await connectDeliveryAccount({ sim, tdb }, 1);
  await deliverTo.rule('quiz-1');
  // a second account whose access token is about to expire: the refresher's first pass takes it
  await connectSimAccount(tdb.db, sim, testAmoConfig(), { accessExpiresAt: new Date(Date.now() + 60_000) });

  const workers = await startWorkers(services);
  await tokenCalled;
  await acceptResult(services, deliverTo.quizAccountId, simpleResult('shutdown-1'));
  await sendCalled;
  const stopAt = Date.now();
  await workers.stop();
  assert.ok(sendAbortedAt < tokenDoneAt, `the send was aborted ${sendAbortedAt - stopAt} ms after stop(), the token pass ended ${tokenDoneAt - stopAt} ms after`);
  assert.ok(sendAbortedAt - stopAt < 1_000, `the send was aborted ${sendAbortedAt - stopAt} ms after stop()`);
});
