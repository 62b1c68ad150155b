// Exactly once across the death of the real entry point: `src/main.ts` (its HTTP server, queue and
// workers as production runs them, not the test fixture of crash.test.ts) is SIGKILLed while its
// leads/complex call is at amoCRM, which creates the lead but holds its answer back; a fresh
// `src/main.ts` on the same database then finds that lead: one lead, one note, DELIVERED.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { leadsOf, restartAndCheck, row, setupCase, sim, startMain, submit, useGatewayProcesses, waitFor } from './helpers/gateway-process.ts';

useGatewayProcesses();

// no waiting on the worker's production backoff and reconcile delay; the lease stays the default
const MAIN_ENV = { DELIVERY_BACKOFF_MS: '200', DELIVERY_RECONCILE_DELAY_MS: '0' };

test('src/main.ts SIGKILLed with leads/complex in flight, then restarted: one lead', { timeout: 240_000 }, async () => {
  const c = await setupCase('main-inflight', 'RESULT_FIELD');
  const gw = await startMain(c, MAIN_ENV);
  // amoCRM stores the lead at once and answers only after 30 s: the kill lands in between
  sim.injectFault(c.amoId, { kind: 'slowAfter', delayMs: 30_000, count: 1, path: 'leads/complex' });
  const d = await submit(gw, c);
  await waitFor(
    () => leadsOf(c).length === 1,
    () => `amoCRM to store the lead of the running process\n${gw.tail()}`,
    60_000,
  );
  const inFlight = await row(c);
  assert.equal(inFlight.id, d.id);
  assert.equal(inFlight.stage, 'SENDING', 'the answer has not come back: the call is in flight');
  assert.equal(inFlight.amoLeadId, null);

  gw.child.kill('SIGKILL');
  assert.deepEqual(await gw.waitExit(10_000), { code: null, signal: 'SIGKILL' }, gw.tail());
  const left = await row(c);
  assert.equal(left.stage, 'SENDING');
  assert.equal(left.status, 'PENDING');
  assert.notEqual(left.lockedUntil, null, 'its lease was never released');
  // the dead process's lease (production's 2 minutes) runs out now instead of in real time
  await c.tdb.db.delivery.update({ where: { id: d.id }, data: { lockedUntil: new Date(Date.now() - 1_000) } });

  await restartAndCheck(c, 'src/main.ts killed in flight', () => startMain(c, MAIN_ENV));
});
