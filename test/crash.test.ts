// Exactly once across real process deaths: a gateway process (test/fixtures/delivery-process.ts)
// is SIGKILLed at each step of a delivery, or SIGTERMed while amoCRM is answering, then a fresh
// process is started on the same database: one lead (and one note) each time.
//
// Which kill covers which gap of the protocol (docs/delivery.md):
//   beforeSend        SENDING committed, leads/complex not called: amoCRM has nothing; the next
//                     process reconciles (finds no lead) and sends.
//   (in flight)       killed by the test while leads/complex is at amoCRM (a slow answer): amoCRM
//                     finishes the lead after the process is gone; the next process takes over
//                     only when the lease runs out, reconciles and adopts that lead.
//   afterSend         amoCRM answered leads/complex (the lead exists there), LEAD_CREATED not yet
//                     committed: "amoCRM created the lead but the database never learned it". The
//                     row is SENDING without a lead id; the next process must find the lead (by
//                     the result-id field, or by its content where amoCRM refused that field)
//                     instead of sending again.
//   afterLeadCreated  LEAD_CREATED + ids committed, no note yet: the next process checks the
//                     lead's notes, finds none, adds one.
//   afterNote         the note is posted, DONE not committed: the next process finds the note
//                     and only finishes.
//   SIGTERM           a clean stop with leads/complex in flight: the worker aborts the call,
//                     leaves the row SENDING (maybe processed) for `reconcileDelayMs`, and the
//                     process exits 0; after a restart the lead amoCRM created is adopted.
//
// Every case runs in both reconcile modes (RESULT_FIELD, and LEAD_CONTENT for an account whose
// user may not create fields), and counts leads/complex calls at the simulator: exactly one, so "one lead" comes from
// reconciliation and not from luck. Starting, killing and checking the processes:
// test/helpers/gateway-process.ts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { at } from './helpers/narrow.ts';
import { CRASH_ENV, leadsOf, restartAndCheck, row, setupCase, sim, startGateway, submit, useGatewayProcesses, waitFor } from './helpers/gateway-process.ts';

useGatewayProcesses();

// The cases are independent (a database and an amoCRM account each) and mostly wait (leases,
// slow answers, process start-up): they run side by side.
for (const mode of ['RESULT_FIELD', 'LEAD_CONTENT'] as const) {
  describe(`gateway processes killed during a delivery (reconciled by ${mode})`, { concurrency: 3 }, () => {
    const points = [
      { point: 'beforeSend', stage: 'SENDING', leads: 0, notes: 0 },
      // amoCRM answered, the commit of LEAD_CREATED never happened
      { point: 'afterSend', stage: 'SENDING', leads: 1, notes: 0 },
      { point: 'afterLeadCreated', stage: 'LEAD_CREATED', leads: 1, notes: 0 },
      { point: 'afterNote', stage: 'LEAD_CREATED', leads: 1, notes: 1 },
    ] as const;

    for (const p of points) {
      test(`SIGKILL at ${p.point}, then a restart: one lead`, async () => {
        const c = await setupCase(p.point, mode);
        const gw = await startGateway(c, { CRASH_AT: p.point, ...CRASH_ENV });
        const d = await submit(gw, c);
        const exit = await gw.waitExit(30_000);
        assert.deepEqual(exit, { code: null, signal: 'SIGKILL' }, gw.tail());
        assert.match(gw.output, new RegExp(`^CRASH ${p.point} .*${d.id}`, 'm'), 'it died in the hook, on this Delivery');

        // what the dead process left behind
        const mid = await row(c);
        assert.equal(mid.status, 'PENDING');
        assert.equal(mid.stage, p.stage);
        assert.notEqual(mid.lockedUntil, null, 'its lease was never released');
        assert.equal(leadsOf(c).length, p.leads, 'leads at amoCRM when it died');
        assert.equal(leadsOf(c)[0]?.notes.length ?? 0, p.notes, 'notes at amoCRM when it died');
        if (p.point === 'afterSend') assert.equal(mid.amoLeadId, null, 'amoCRM has the lead, the database does not know it');
        else if (p.stage === 'LEAD_CREATED') assert.equal(mid.amoLeadId, at(leadsOf(c), 0, 'lead').id);

        await restartAndCheck(c, `killed at ${p.point}`);
      });
    }

    test('SIGKILL while leads/complex is in flight (amoCRM finishes the lead afterwards), then a restart: one lead', async () => {
      const c = await setupCase('inflight', mode);
      const gw = await startGateway(c, CRASH_ENV);
      sim.injectFault(c.amoId, { kind: 'slow', delayMs: 1_000, count: 1, path: 'leads/complex' });
      await submit(gw, c);
      await waitFor(
        () => sim.faults(c.amoId).length === 0,
        () => `leads/complex to reach the simulator\n${gw.tail()}`,
      );
      gw.child.kill('SIGKILL');
      assert.deepEqual(await gw.waitExit(10_000), { code: null, signal: 'SIGKILL' });
      const mid = await row(c);
      assert.equal(mid.stage, 'SENDING');
      assert.equal(mid.amoLeadId, null);
      assert.notEqual(mid.lockedUntil, null, 'its lease was never released');
      // The restart comes after amoCRM finished the lead. (Had the lease run out first, the next
      // process would search too early and send again: the window worker.ts documents, closed in
      // production by a lease far longer than any request.)
      await waitFor(
        () => leadsOf(c).length === 1,
        () => 'amoCRM to finish the lead of the dead process',
      );
      await restartAndCheck(c, 'killed in flight');
    });

    test('SIGTERM with leads/complex in flight: exit 0, and after a restart exactly one lead, DELIVERED', async () => {
      const c = await setupCase('sigterm', mode);
      const slowMs = 5_000;
      // the stopping process leaves the row SENDING for this long: longer than amoCRM takes to
      // finish the request it is cut off from, so the restart finds that lead (worker.ts: "the
      // remaining window")
      const gw = await startGateway(c, { DELIVERY_RECONCILE_DELAY_MS: String(slowMs + 1_500), DELIVERY_LEASE_MS: '30000' });
      sim.injectFault(c.amoId, { kind: 'slow', delayMs: slowMs, count: 1, path: 'leads/complex' });
      await submit(gw, c);
      await waitFor(
        () => sim.faults(c.amoId).length === 0,
        () => `leads/complex to reach the simulator\n${gw.tail()}`,
      );
      assert.equal(leadsOf(c).length, 0, 'the call is still in flight');

      const exit = await gw.terminate(20_000);
      assert.deepEqual(exit, { code: 0, signal: null }, `a clean exit\n${gw.tail()}`);
      const mid = await row(c);
      assert.equal(mid.status, 'PENDING');
      assert.equal(mid.stage, 'SENDING', 'maybe processed: kept for reconciliation');
      assert.equal(mid.lockedUntil, null, 'the lease was given back');
      assert.equal(mid.attempts, 1);
      assert.ok(mid.nextAttemptAt > mid.updatedAt, 'to be reconciled later, not at once');

      // amoCRM finishes the request the stopped process was cut off from; the restart must adopt it
      await waitFor(
        () => leadsOf(c).length === 1,
        () => 'amoCRM to finish the cut-off request',
      );
      await restartAndCheck(c, 'SIGTERM in flight');
    });
  });
}
