// retryFailedDeliveries (all, by quiz, by time range; idempotent; the caller's only) and
// Delivery.answers, through GraphQL on PostgreSQL.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApp, tokenFor, type TestApp } from './helpers/app.ts';

describe('bulk retry of FAILED deliveries, and a delivery’s answers', () => {
  let testDb: TestDatabase;
  let gw: TestApp;
  before(async () => {
    testDb = await createTestDatabase();
    gw = await startTestApp(testDb, { workers: false });
  });
  after(async () => {
    await gw?.stop();
    await testDb?.drop();
  });

  const RETRY = `mutation($quizId: ID, $from: DateTime, $to: DateTime) { retryFailedDeliveries(quizId: $quizId, from: $from, to: $to) }`;
  const failed = (quizAccountId: string, quizId: string, resultId: string, createdAt: Date, status: 'FAILED' | 'DELIVERED' = 'FAILED') =>
    testDb.db.delivery.create({
      data: { quizAccountId, quizId, resultId, payload: {}, status, reason: status === 'FAILED' ? 'AMO_REJECTED' : null, lastError: 'x', attempts: 10, createdAt },
    });

  it('retries by quiz, by time range, then all; again retries none; never another tenant’s', async () => {
    const t1 = new Date('2026-11-01T10:00:00Z');
    const t2 = new Date('2026-11-02T10:00:00Z');
    const t3 = new Date('2026-11-03T10:00:00Z');
    const a1 = await failed('bulk-a', 'q1', 'r1', t1);
    await failed('bulk-a', 'q1', 'r2', t2);
    await failed('bulk-a', 'q2', 'r3', t2);
    await failed('bulk-a', 'q2', 'r4', t3);
    await failed('bulk-a', 'q2', 'r5', t3, 'DELIVERED');
    const b = await failed('bulk-b', 'q1', 'r1', t1);
    const token = await tokenFor('bulk-a');

    const bad = await gw.gql(RETRY, { from: t3.toISOString(), to: t1.toISOString() }, token);
    assert.equal(bad.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
    assert.equal((await gw.gql(RETRY, { quizId: 'q1', to: t2.toISOString() }, token)).data?.retryFailedDeliveries, 1);
    const row = await testDb.db.delivery.findUniqueOrThrow({ where: { id: a1.id } });
    assert.deepEqual([row.status, row.reason, row.attempts, row.lastError], ['PENDING', 'QUEUED', 0, null]);
    assert.equal((await gw.gql(RETRY, { from: t2.toISOString(), to: t3.toISOString() }, token)).data?.retryFailedDeliveries, 2);
    assert.equal((await gw.gql(RETRY, {}, token)).data?.retryFailedDeliveries, 1);
    assert.equal((await gw.gql(RETRY, {}, token)).data?.retryFailedDeliveries, 0, 'idempotent');
    assert.equal(await testDb.db.delivery.count({ where: { quizAccountId: 'bulk-a', status: 'FAILED' } }), 0);
    assert.equal((await testDb.db.delivery.findUniqueOrThrow({ where: { id: b.id } })).status, 'FAILED', 'another tenant’s stays FAILED');
    assert.equal(await testDb.db.delivery.count({ where: { quizAccountId: 'bulk-a', status: 'DELIVERED' } }), 1);
  });

  it('a delivery’s answers are readable by its owner only', async () => {
    const payload = {
      resultId: 'ans-1',
      quizId: 'q1',
      answers: [
        { questionId: 'q-area', title: 'Area', values: ['54,5'] },
        { questionId: 'q-rooms', values: ['2', '3'] },
      ],
    };
    const d = await testDb.db.delivery.create({ data: { quizAccountId: 'bulk-a', quizId: 'q1', resultId: 'ans-1', payload } });
    const gid = Buffer.from(`Delivery:${d.id}`).toString('base64');
    const q = `query($id: ID!) { node(id: $id) { ... on Delivery { answers { questionId title values } } } }`;
    const mine = await gw.gql(q, { id: gid }, await tokenFor('bulk-a'));
    assert.deepEqual(mine.data?.node.answers, [
      { questionId: 'q-area', title: 'Area', values: ['54,5'] },
      { questionId: 'q-rooms', title: null, values: ['2', '3'] },
    ]);
    assert.equal((await gw.gql(q, { id: gid }, await tokenFor('bulk-b'))).data?.node, null);
    const list = await gw.gql(`{ deliveries(first: 10, quizId: "q1") { edges { node { resultId answers { questionId } } } } }`, {}, await tokenFor('bulk-a'));
    const withAnswers = list.data?.deliveries.edges.find((e: { node: { resultId: string } }) => e.node.resultId === 'ans-1');
    assert.deepEqual(withAnswers.node.answers, [{ questionId: 'q-area' }, { questionId: 'q-rooms' }]);
  });
});
