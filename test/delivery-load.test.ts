// 1,000 results for one account through the quiz.results topic, two delivery workers, 429 bursts.
// Bound by amoCRM's 7 requests per second: 20 leads/complex calls and 20 batch-notes calls
// (POST leads/notes, up to 50 per call), plus what the 429 bursts cost. On the in-process queue and
// on the real broker (KAFKA_BROKERS; skipped with the reason without one).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TOPICS } from '../src/platform/queue/index.ts';
import { startDeliveryWorker } from '../src/features/delivery/worker.ts';
import { DELIVERY_QUEUES, deliverySuite } from './helpers/delivery-suite.ts';

const N = 1000;

// on the in-process queue, and on the real broker when KAFKA_BROKERS is set (its own topics)
for (const q of DELIVERY_QUEUES) {
  describe(`on the ${q.name} queue`, { skip: q.skip }, () => {
    const suite = deliverySuite({ sim: { rateLimitCountsRejected: true }, pipelines: 1, queue: q.name });

    test(`${N} results for one account during 429 bursts: all delivered once, at most 7 requests in any second, in batches`, { timeout: 400_000 }, async () => {
      const { sim, tdb, services } = suite;
      const conn = await suite.setup();
      await conn.rule('quiz-load');

      const options = { pollMs: 200, backoffMs: 200, maxBackoffMs: 2_000, reconcileDelayMs: 500, amoClient: { backoffMs: 100, maxBackoffMs: 1_000 } };
      const workers = [await startDeliveryWorker(services, options), await startDeliveryWorker(services, { ...options, consume: false })];
      const bursts = setInterval(() => sim.injectFault(conn.amoId, { kind: '429', count: 3 }), 3_000);
      try {
        const messages = Array.from({ length: N }, (_, i) => ({
          key: conn.quizAccountId,
          value: {
            quizAccountId: conn.quizAccountId,
            resultId: `load-${i}`,
            quizId: 'quiz-load',
            contact: { name: `Клиент ${i}`, phone: `+7 900 ${String(i).padStart(7, '0')}` },
            answers: [{ questionId: 'q1', values: [String(i)] }],
          },
        }));
        await services.queue.publishBatch(TOPICS.quizResults, messages.slice(0, N / 2));
        await services.queue.publishBatch(TOPICS.quizResults, messages.slice(N / 2));
        // and a few again: produced twice
        await services.queue.publishBatch(TOPICS.quizResults, messages.slice(0, 20));

        const until = Date.now() + 380_000;
        for (;;) {
          const delivered = await tdb.db.delivery.count({ where: { quizAccountId: conn.quizAccountId, status: 'DELIVERED' } });
          if (delivered === N) break;
          assert.ok(Date.now() < until, `delivered ${delivered} of ${N}`);
          await new Promise((r) => setTimeout(r, 500));
        }
      } finally {
        clearInterval(bursts);
        await Promise.all(workers.map((w) => w.stop()));
      }

      assert.equal(await tdb.db.delivery.count({ where: { quizAccountId: conn.quizAccountId } }), N);
      const leads = sim.leads(conn.amoId);
      assert.equal(leads.length, N, 'one lead per result');
      const names = new Set(leads.map((l) => l.contact?.name));
      assert.equal(names.size, N, 'no result twice');
      assert.ok(
        leads.every((l) => l.notes.length === 1),
        'one note per lead',
      );
      const rows = await tdb.db.delivery.findMany({ where: { quizAccountId: conn.quizAccountId }, select: { amoLeadId: true } });
      assert.equal(new Set(rows.map((r) => r.amoLeadId)).size, N);

      const log = sim.requestLog(conn.amoId);
      assert.ok(
        log.some((r) => r.status === 429),
        'the bursts happened',
      );
      assert.ok(sim.maxRequestsInAnySecond(conn.amoId) <= 7, `max ${sim.maxRequestsInAnySecond(conn.amoId)} requests in a second`);
      const complex = log.filter((r) => r.method === 'POST' && r.path.startsWith('/api/v4/leads/complex') && r.status === 200);
      assert.ok(complex.length <= N / 10, `${complex.length} leads/complex calls for ${N} leads: batches were used`);
    });
  });
}
