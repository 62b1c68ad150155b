// Exactly once across crashes and amoCRM's failures (a crash at each step, a timeout, a 502), a
// stale account, and a lead amoCRM refuses: FAILED, then sent again by retryDelivery. Each on the
// in-process queue and on the real broker (KAFKA_BROKERS; skipped with the reason without one).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { saveTokens } from '../src/platform/amo/index.ts';
import { acceptResult } from '../src/features/delivery/accept.ts';
import { resultMarker } from '../src/features/delivery/payload.ts';
import { retryDelivery, runDeliveryPass, type DeliveryHooks } from '../src/features/delivery/worker.ts';
import { testAmoConfig, TEST_AMO_CLIENT_ID } from './helpers/amo.ts';
import { at } from './helpers/narrow.ts';
import { createRule, expireLeases, recordEvents, simpleResult } from './helpers/delivery.ts';
import { DELIVERY_QUEUES, deliverySuite } from './helpers/delivery-suite.ts';
import { until } from './helpers/wait.ts';

// on the in-process queue, and on the real broker when KAFKA_BROKERS is set (each test its own topics)
for (const q of DELIVERY_QUEUES) {
  describe(`on the ${q.name} queue`, { skip: q.skip }, () => {
    const suite = deliverySuite({ sim: { rateLimitCountsRejected: true }, queue: q.name });
    const { runtime, drain, setup } = suite;

    describe('exactly once across crashes', () => {
      const crashOnce = (point: keyof DeliveryHooks): DeliveryHooks => {
        let fired = false;
        return {
          [point]: () => {
            if (!fired) {
              fired = true;
              throw new Error(`simulated crash at ${point}`);
            }
          },
        };
      };

      for (const point of ['beforeSend', 'afterSend', 'afterLeadCreated', 'afterNote'] as const) {
        test(`a crash at ${point}: one lead and one note after the next run`, async () => {
          const s = await setup();
          await createRule(suite.tdb.db, s.cat, s.accountId, { quizId: 'quiz-1', pipelineAmoId: s.pipeline, statusAmoId: s.firstStatus });
          const d = await acceptResult(suite.services, s.quizAccountId, simpleResult(`crash-${point}`));
          const crashing = runtime(crashOnce(point));
          await assert.rejects(runDeliveryPass(crashing), /simulated crash/);
          const mid = await suite.tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
          assert.equal(mid.status, 'PENDING');
          assert.equal(mid.stage, point === 'beforeSend' || point === 'afterSend' ? 'SENDING' : 'LEAD_CREATED');
          assert.ok(mid.lockedUntil && mid.lockedUntil > new Date(), 'the crashed process still holds the lease');
          assert.equal(await runDeliveryPass(runtime()), 0, 'nobody takes it while the lease holds');
          await expireLeases(suite.tdb.db);
          await drain(runtime(), s.quizAccountId);
          const row = await suite.tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
          const leads = suite.sim.leads(s.amoId);
          assert.equal(leads.length, 1, 'one lead');
          assert.equal(leads[0]!.notes.length, 1, 'one note');
          assert.equal(row.status, 'DELIVERED');
          assert.equal(row.amoLeadId, leads[0]!.id);
          assert.equal(row.amoContactId, leads[0]!.contact_id);
        });
      }

      test('an answer that never comes (timeout, amoCRM created the lead): reconciled, not sent twice', async () => {
        const s = await setup();
        await createRule(suite.tdb.db, s.cat, s.accountId, { quizId: 'quiz-1', pipelineAmoId: s.pipeline, statusAmoId: s.firstStatus });
        const rt = runtime({}, { amoClient: { backoffMs: 20, timeoutMs: 400 } });
        // warm up: the result-id field exists before the fault is armed
        await acceptResult(suite.services, s.quizAccountId, simpleResult('slow-0'));
        await drain(rt, s.quizAccountId);
        suite.sim.injectFault(s.amoId, { kind: 'slow', delayMs: 1000, count: 1, path: 'leads/complex' });
        const d = await acceptResult(suite.services, s.quizAccountId, simpleResult('slow-1'));
        await runDeliveryPass(rt);
        const mid = await suite.tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
        assert.equal(mid.stage, 'SENDING');
        assert.equal(mid.status, 'PENDING');
        assert.equal(mid.reason, 'CONFIRMING');
        assert.match(mid.lastError ?? '', /may have received the lead \(amoCRM did not answer in time/);
        const ofSlow1 = () =>
          suite.sim.leads(s.amoId).filter((l) => (l.custom_fields_values ?? []).some((v) => v.values.some((x) => x.value === resultMarker(s.quizAccountId, 'slow-1'))));
        await until('amoCRM finished the request the client gave up on', async () => ofSlow1().length > 0);
        await drain(rt, s.quizAccountId);
        const mine = ofSlow1();
        assert.equal(mine.length, 1);
        const row = await suite.tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
        assert.equal(row.amoLeadId, mine[0]!.id);
        assert.equal(mine[0]!.notes.length, 1);
      });

      test('a 502 on leads/complex (maybe processed, in fact not): reconciled, then sent once', async () => {
        const s = await setup();
        await createRule(suite.tdb.db, s.cat, s.accountId, { quizId: 'quiz-1', pipelineAmoId: s.pipeline, statusAmoId: s.firstStatus });
        suite.sim.injectFault(s.amoId, { kind: '5xx', status: 502, count: 1, path: 'leads/complex' });
        const d = await acceptResult(suite.services, s.quizAccountId, simpleResult('502-1'));
        await drain(runtime(), s.quizAccountId);
        assert.equal(suite.sim.leads(s.amoId).length, 1);
        const row = await suite.tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
        assert.equal(row.status, 'DELIVERED');
        assert.equal(row.attempts, 2);
        const searches = suite.sim.requestLog(s.amoId).filter((r) => r.method === 'GET' && r.path.startsWith('/api/v4/leads?'));
        assert.equal(searches.length, 1, 'searched once before sending again');
      });
    });

    describe('accounts and amoCRM errors', () => {
      test('a stale account: results wait PENDING without spending attempts, then go out after a reconnect', async () => {
        const s = await setup();
        await createRule(suite.tdb.db, s.cat, s.accountId, { quizId: 'quiz-1', pipelineAmoId: s.pipeline, statusAmoId: s.firstStatus });
        suite.sim.revoke(s.amoId, TEST_AMO_CLIENT_ID);
        const events = await recordEvents(suite.services.queue);
        try {
          for (let i = 0; i < 3; i++) await acceptResult(suite.services, s.quizAccountId, simpleResult(`stale-${i}`));
          const rt = runtime();
          await runDeliveryPass(rt); // meets the 401: the account turns stale
          const acc = await suite.tdb.db.amoAccount.findUniqueOrThrow({ where: { id: s.accountId } });
          assert.equal(acc.stale, true);
          assert.equal(await runDeliveryPass(rt), 0, 'a stale account is not claimed');
          const rows = await suite.tdb.db.delivery.findMany({ where: { quizAccountId: s.quizAccountId } });
          assert.ok(
            rows.every((r) => r.status === 'PENDING' && r.attempts === 0 && r.stage === 'QUEUED'),
            JSON.stringify(rows.map((r) => [r.status, r.attempts, r.stage])),
          );
          await until('token.stale announced', async () => events.events.some((e) => e.type === 'token.stale' && e.quizAccountId === s.quizAccountId));

          // the owner connects again
          const pair = suite.sim.issueTokens(s.amoId, TEST_AMO_CLIENT_ID);
          await saveTokens(
            suite.tdb.db,
            testAmoConfig().tokenEncryptionKey,
            s.accountId,
            { accessToken: pair.access_token, refreshToken: pair.refresh_token, expiresIn: pair.expires_in, accessExpiresAt: new Date(Date.now() + 86_400_000) },
            { reconnect: true },
          );
          await drain(rt, s.quizAccountId);
          assert.equal(suite.sim.leads(s.amoId).length, 3);
          const done = await suite.tdb.db.delivery.findMany({ where: { quizAccountId: s.quizAccountId } });
          assert.ok(done.every((r) => r.status === 'DELIVERED' && r.attempts === 1));
        } finally {
          await events.stop();
        }
      });

      test("a validation error no repair can fix: that lead FAILED with amoCRM's reason, the rest of the batch delivered; retryDelivery sends it again", async () => {
        const s = await setup();
        const acc = suite.sim.account(s.amoId);
        const secondStatus = at(
          at(acc.pipelines, 0, 'pipeline').statuses.filter((x) => x.type === 0 && x.id !== 142 && x.id !== 143),
          1,
          'second ordinary status',
        ).id;
        const required = acc.fields.leads.find((f) => f.type === 'text' && !f.code)!;
        await createRule(suite.tdb.db, s.cat, s.accountId, { quizId: 'quiz-ok', pipelineAmoId: s.pipeline, statusAmoId: secondStatus });
        await createRule(suite.tdb.db, s.cat, s.accountId, { quizId: 'quiz-tag', pipelineAmoId: s.pipeline, statusAmoId: s.firstStatus });
        // the first step requires a field the quiz does not fill: without status_id the lead lands there too
        suite.sim.updateField(s.amoId, 'leads', required.id, { required_statuses: [{ status_id: s.firstStatus, pipeline_id: s.pipeline }] });
        const events = await recordEvents(suite.services.queue);
        try {
          const a = await acceptResult(suite.services, s.quizAccountId, simpleResult('v-1', 'quiz-ok'));
          const bad = await acceptResult(suite.services, s.quizAccountId, simpleResult('v-2', 'quiz-tag'));
          const c = await acceptResult(suite.services, s.quizAccountId, simpleResult('v-3', 'quiz-ok'));
          await drain(runtime(), s.quizAccountId);
          const rows = new Map((await suite.tdb.db.delivery.findMany({ where: { quizAccountId: s.quizAccountId } })).map((r) => [r.id, r]));
          assert.equal(rows.get(a.id)?.status, 'DELIVERED');
          assert.equal(rows.get(c.id)?.status, 'DELIVERED');
          const failed = rows.get(bad.id)!;
          assert.equal(failed.status, 'FAILED');
          assert.equal(failed.reason, 'AMO_REJECTED');
          assert.match(failed.lastError ?? '', /amoCRM refused the lead \(custom_fields_values: Field ".*" \(#\d+\) is required in status .*FieldMissing/);
          assert.equal(failed.stage, 'QUEUED');
          assert.equal(suite.sim.leads(s.amoId).length, 2);

          // not FAILED → CONFLICT; another tenant's → NOT_FOUND
          await assert.rejects(retryDelivery(suite.services, s.quizAccountId, a.id), (e: any) => e.extensions?.code === 'CONFLICT');
          await assert.rejects(retryDelivery(suite.services, 'someone-else', bad.id), (e: any) => e.extensions?.code === 'NOT_FOUND');
          await assert.rejects(retryDelivery(suite.services, s.quizAccountId, 'not-a-uuid'), (e: any) => e.extensions?.code === 'NOT_FOUND');

          // the account is fixed, then retried
          suite.sim.updateField(s.amoId, 'leads', required.id, { required_statuses: [] });
          const retried = await retryDelivery(suite.services, s.quizAccountId, bad.id);
          assert.equal(retried.status, 'PENDING');
          assert.equal(retried.attempts, 0);
          await drain(runtime(), s.quizAccountId);
          assert.equal((await suite.tdb.db.delivery.findUniqueOrThrow({ where: { id: bad.id } })).status, 'DELIVERED');
          assert.equal(suite.sim.leads(s.amoId).length, 3);

          await events.settled(); // every delivery.updated published so far was recorded
          const mine = events.events.filter((e) => e.type === 'delivery.updated' && e.quizAccountId === s.quizAccountId);
          const of = (id: string) => mine.filter((e) => e.deliveryId === id).map((e) => e.status);
          assert.deepEqual(of(a.id), ['PENDING', 'DELIVERED']);
          assert.deepEqual(of(bad.id), ['PENDING', 'FAILED', 'PENDING', 'DELIVERED']);
          assert.ok(mine.every((e) => typeof e.quizId === 'string'));
        } finally {
          await events.stop();
        }
      });
    });
  });
}
