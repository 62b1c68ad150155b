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
  // amoCRM's token endpoint answers only when the test lets it: the refresher's pass cannot end before
  let tokenAnswer!: () => void;
  const tokenHeld = new Promise<void>((r) => (tokenAnswer = r));
  let tokenPassEnded = false;
  let sendAborted!: () => void;
  const sendAbort = new Promise<void>((r) => (sendAborted = r));
  const stallingFetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.pathname === '/oauth2/access_token') {
      tokenEntered();
      await tokenHeld;
      tokenPassEnded = true;
      return fetch(input, init);
    }
    if (init?.method === 'POST' && url.pathname.startsWith('/api/v4/leads')) {
      sendEntered();
      return new Promise<Response>((_resolve, reject) => {
        init.signal?.addEventListener('abort', () => {
          sendAborted();
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
  const stopping = workers.stop();
  // a bound on waiting, not a timing claim: a stop that waited for the token pass would never abort the send
  const bound = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the send was not aborted while the token pass ran')), 60_000).unref());
  await Promise.race([sendAbort, bound]);
  assert.equal(tokenPassEnded, false, "the send was aborted while the token refresher's pass still waited for amoCRM");
  tokenAnswer();
  await stopping;
});
