// Taking quiz results in (acceptResult, acceptResults, the quiz.results consumer): what is refused,
// what waits for an account or a rule, and that one result makes one Delivery and one lead.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TOPICS } from '../src/platform/queue/index.ts';
import { acceptResult, acceptResults, NO_ACCOUNT_ERROR } from '../src/features/delivery/accept.ts';
import { NO_RULE_ERROR, runDeliveryPass, startDeliveryWorker } from '../src/features/delivery/worker.ts';
import { connectSimAccount, testAmoConfig } from './helpers/amo.ts';
import { at } from './helpers/narrow.ts';
import { watchQueue } from './helpers/queue-watch.ts';
import { copyCatalogue, createRule, recordEvents, simpleResult } from './helpers/delivery.ts';
import { deliverySuite } from './helpers/delivery-suite.ts';

const suite = deliverySuite({ sim: { rateLimitCountsRejected: true } });
const { runtime, drain, setup } = suite;

describe('taking results in', () => {
  test('a bad input is refused with BAD_USER_INPUT and writes nothing', async () => {
    const before = await suite.tdb.db.delivery.count();
    await assert.rejects(acceptResult(suite.services, 'quiz-x', { quizId: 'q', answers: [] }), (e: any) => e.extensions?.code === 'BAD_USER_INPUT' && /resultId/.test(e.message));
    await assert.rejects(acceptResult(suite.services, 'quiz-x', { resultId: 'r', quizId: 'q', answers: [], price: 1.5 }), (e: any) => /price/.test(e.message));
    await assert.rejects(acceptResult(suite.services, 'quiz-x', { resultId: 'r', quizId: 'q', answers: [{ questionId: 'a', values: 'x' }] }), (e: any) =>
      /answers\.0\.values/.test(e.message),
    );
    assert.equal(await suite.tdb.db.delivery.count(), before);
  });

  test('no account connected: PENDING with the reason; it goes out once one is connected', async () => {
    const quizAccountId = 'quiz-later';
    const d = await acceptResult(suite.services, quizAccountId, simpleResult('later-1'));
    assert.equal(d.status, 'PENDING');
    assert.equal(d.accountId, null);
    assert.equal(d.lastError, NO_ACCOUNT_ERROR);
    const rt = runtime();
    assert.equal(await runDeliveryPass(rt), 0);
    const conn = await connectSimAccount(suite.tdb.db, suite.sim, testAmoConfig(), { quizAccountId });
    const cat = await copyCatalogue(suite.tdb.db, suite.sim, conn.accountId, conn.amoId);
    const p = at(suite.sim.account(conn.amoId).pipelines, 0, 'pipeline');
    await createRule(suite.tdb.db, cat, conn.accountId, { quizId: 'quiz-1', pipelineAmoId: p.id, statusAmoId: at(p.statuses, 1, 'status').id });
    await drain(rt, quizAccountId);
    const row = await suite.tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(row.status, 'DELIVERED');
    assert.equal(row.accountId, conn.accountId);
    assert.equal(row.lastError, null);
    assert.equal(suite.sim.leads(conn.amoId).length, 1);
  });

  test('a quiz without a rule: FAILED "quiz has no rule"', async () => {
    const s = await setup();
    const d = await acceptResult(suite.services, s.quizAccountId, simpleResult('norule-1', 'quiz-without-rule'));
    await drain(runtime(), s.quizAccountId);
    const row = await suite.tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(row.status, 'FAILED');
    assert.equal(row.lastError, NO_RULE_ERROR);
    assert.equal(suite.sim.leads(s.amoId).length, 0);
  });

  test('the same result three times (topic twice + acceptResult): one Delivery, one lead', async () => {
    const s = await setup();
    await createRule(suite.tdb.db, s.cat, s.accountId, { quizId: 'quiz-1', pipelineAmoId: s.pipeline, statusAmoId: s.firstStatus });
    const watched = watchQueue(suite.services.queue);
    const worker = await startDeliveryWorker({ ...suite.services, queue: watched.queue }, { pollMs: 50, backoffMs: 20, reconcileDelayMs: 0, amoClient: { backoffMs: 20 } });
    try {
      const value = { ...simpleResult('dup-1'), quizAccountId: s.quizAccountId };
      await suite.services.queue.publish(TOPICS.quizResults, s.quizAccountId, value);
      const direct = await acceptResult(suite.services, s.quizAccountId, simpleResult('dup-1'));
      await suite.services.queue.publish(TOPICS.quizResults, s.quizAccountId, value);
      const until = Date.now() + 20_000;
      for (;;) {
        const row = await suite.tdb.db.delivery.findUniqueOrThrow({ where: { id: direct.id } });
        if (row.status === 'DELIVERED') break;
        assert.ok(Date.now() < until, 'delivered in time');
        await new Promise((r) => setTimeout(r, 50));
      }
      // both messages handled: the second one had its chance to make a second Delivery or lead
      const until2 = Date.now() + 20_000;
      while (watched.handled(TOPICS.quizResults) < 2) {
        assert.ok(Date.now() < until2, `handled ${watched.handled(TOPICS.quizResults)} of 2 messages in time`);
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(watched.handled(TOPICS.quizResults), 2);
    } finally {
      await worker.stop();
    }
    assert.equal(await suite.tdb.db.delivery.count({ where: { quizAccountId: s.quizAccountId } }), 1);
    assert.equal(suite.sim.leads(s.amoId).length, 1);
    assert.equal(suite.sim.leads(s.amoId)[0]!.notes.length, 1);
  });
});

describe('taking results in batches (acceptResults)', () => {
  test('duplicates, a bad item and two tenants in one batch: one Delivery per (tenant, result id), events for the new ones', async () => {
    const s = await setup(); // a tenant with a live account
    const other = 'quiz-batch-no-account';
    await acceptResult(suite.services, s.quizAccountId, simpleResult('b-0', 'quiz-old')); // exists before the batch
    const events = await recordEvents(suite.services.queue);
    try {
      const outcomes = await acceptResults(suite.services, [
        { quizAccountId: s.quizAccountId, input: simpleResult('b-1', 'quiz-first') },
        { quizAccountId: other, input: simpleResult('b-1', 'quiz-other') }, // same result id, other tenant
        { quizAccountId: s.quizAccountId, input: { quizId: 'q', answers: [] } }, // bad: no resultId
        { quizAccountId: s.quizAccountId, input: simpleResult('b-1', 'quiz-second') }, // duplicate in the batch
        { quizAccountId: s.quizAccountId, input: simpleResult('b-0', 'quiz-new') }, // duplicate of an older one
        { quizAccountId: s.quizAccountId, input: simpleResult('b-2') },
        { quizAccountId: '', input: simpleResult('b-3') }, // bad: no tenant
      ]);
      assert.deepEqual(
        outcomes.map((o) => (o.ok ? o.inserted : 'bad')),
        [true, true, 'bad', false, false, true, 'bad'],
      );
      const bad = at(outcomes, 2, 'outcome');
      assert.ok(!bad.ok && bad.error.extensions?.code === 'BAD_USER_INPUT' && /resultId/.test(bad.error.message));

      const mine = await suite.tdb.db.delivery.findMany({ where: { quizAccountId: s.quizAccountId }, orderBy: { resultId: 'asc' } });
      assert.deepEqual(
        mine.map((d) => [d.resultId, d.quizId]),
        [
          ['b-0', 'quiz-old'],
          ['b-1', 'quiz-first'],
          ['b-2', 'quiz-1'],
        ],
        'the first payload wins',
      );
      assert.ok(mine.every((d) => d.accountId === s.accountId && d.lastError === null && d.status === 'PENDING'));
      const theirs = await suite.tdb.db.delivery.findMany({ where: { quizAccountId: other } });
      assert.equal(theirs.length, 1);
      assert.equal(theirs[0]!.accountId, null);
      assert.equal(theirs[0]!.lastError, NO_ACCOUNT_ERROR);
      assert.equal(theirs[0]!.quizId, 'quiz-other');
      assert.equal((outcomes[1] as { deliveryId?: string }).deliveryId, theirs[0]!.id);

      const newIds = [outcomes[0], outcomes[1], outcomes[5]].map((o) => (o as { deliveryId?: string }).deliveryId);
      const until = Date.now() + 10_000;
      while (events.events.filter((e) => newIds.includes(e.deliveryId)).length < 3) {
        assert.ok(Date.now() < until, 'delivery.updated for each new Delivery');
        await new Promise((r) => setTimeout(r, 20));
      }
      await new Promise((r) => setTimeout(r, 100));
      const batchEvents = events.events.filter(
        (e) => e.type === 'delivery.updated' && (e.quizAccountId === other || newIds.includes(e.deliveryId) || e.quizAccountId === s.quizAccountId),
      );
      assert.equal(batchEvents.length, 3, 'no event for a duplicate');
      const theirsEvent = batchEvents.find((e) => e.quizAccountId === other);
      assert.deepEqual(theirsEvent, { type: 'delivery.updated', quizAccountId: other, deliveryId: theirs[0]!.id, quizId: 'quiz-other', status: 'PENDING' });

      // Again: all duplicates, nothing written, nothing published.
      const again = await acceptResults(suite.services, [
        { quizAccountId: s.quizAccountId, input: simpleResult('b-2') },
        { quizAccountId: other, input: simpleResult('b-1') },
      ]);
      assert.deepEqual(again, [
        { ok: true, inserted: false },
        { ok: true, inserted: false },
      ]);
      assert.deepEqual(await acceptResults(suite.services, []), []);
    } finally {
      await events.stop();
    }
  });

  test('the quiz.results consumer takes a batch with a bad result in: the good ones delivered, only the bad one parked', async () => {
    const s = await setup();
    await createRule(suite.tdb.db, s.cat, s.accountId, { quizId: 'quiz-1', pipelineAmoId: s.pipeline, statusAmoId: s.firstStatus });
    const parkedBefore = (suite.services.queue as { deadLetters?: () => unknown[] }).deadLetters?.().length ?? 0;
    const worker = await startDeliveryWorker(suite.services, { pollMs: 50, backoffMs: 20, reconcileDelayMs: 0, amoClient: { backoffMs: 20 } });
    try {
      await suite.services.queue.publishBatch(TOPICS.quizResults, [
        ...['w-1', 'w-2', 'w-1'].map((id) => ({ key: s.quizAccountId, value: { ...simpleResult(id), quizAccountId: s.quizAccountId } })),
        { key: s.quizAccountId, value: { quizAccountId: s.quizAccountId, quizId: 'quiz-1', answers: [] } },
        { key: s.quizAccountId, value: { ...simpleResult('w-3'), quizAccountId: s.quizAccountId } },
      ]);
      const until = Date.now() + 30_000;
      for (;;) {
        const delivered = await suite.tdb.db.delivery.count({ where: { quizAccountId: s.quizAccountId, status: 'DELIVERED' } });
        if (delivered === 3) break;
        assert.ok(Date.now() < until, `delivered in time (${delivered})`);
        await new Promise((r) => setTimeout(r, 50));
      }
      if (suite.services.queue.kind === 'memory') {
        const until2 = Date.now() + 30_000;
        while (((suite.services.queue as unknown as { deadLetters(): unknown[] }).deadLetters().length ?? 0) < parkedBefore + 1) {
          assert.ok(Date.now() < until2, 'the bad result parked');
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    } finally {
      await worker.stop();
    }
    assert.equal(await suite.tdb.db.delivery.count({ where: { quizAccountId: s.quizAccountId } }), 3);
    assert.equal(suite.sim.leads(s.amoId).length, 3);
  });
});
