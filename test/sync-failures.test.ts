// A sync when amoCRM misbehaves (src/features/catalogue): 429s, 5xx and slow answers are absorbed;
// a block or revoked tokens end the job FAILED; a retryable failure goes back to the queue until
// its last attempt. In-process queue; real PostgreSQL and the amoCRM simulator.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { AmoSimulator } from '@quiz-gateway/amo-sim';
import type { Db } from '../src/platform/db.ts';
import { SYNC_ERRORS, requestSync, runSyncJob, type RunSyncOptions } from '../src/features/catalogue/index.ts';
import { connectSimAccount } from './helpers/amo.ts';
import { amoConfig, completedFor, countsOf, fast, startSyncKit, waitFor, type SyncKit } from './sync.kit.ts';

let kit: SyncKit;
let sim: AmoSimulator;
let db: Db;

before(async () => {
  kit = await startSyncKit();
  ({ sim, db } = kit);
});

after(async () => {
  await kit?.stop();
});

describe('sync: in-process queue', () => {
  test('429 bursts, 5xx answers and a slow response mid-sync are absorbed', async (t) => {
    const h = await kit.harness(t);
    const a = await connectSimAccount(db, sim, amoConfig, { seed: { users: 3, pipelines: 2, fieldsPerEntity: 3, tagsPerEntity: 300 } });
    sim.injectFault(a.amoId, { kind: '429', count: 3, path: '/contacts/tags' });
    sim.injectFault(a.amoId, { kind: '5xx', status: 503, count: 2, path: '/leads/tags' });
    sim.injectFault(a.amoId, { kind: '5xx', status: 500, count: 1, path: '/companies/custom_fields' });
    sim.injectFault(a.amoId, { kind: 'slow', delayMs: 1_500, count: 1, path: '/leads/pipelines' });
    const done = await runSyncJob(h.services, (await requestSync(h.services, a.accountId)).id, fast);
    assert.equal(done?.status, 'SUCCEEDED', done?.error ?? '');
    assert.equal(done?.attempts, 1);
    assert.equal(sim.faults(a.amoId).length, 0, 'every fault was hit');
    const counts = await kit.assertConverged(a.accountId, a.amoId);
    assert.deepEqual(countsOf(done!), counts);
    kit.assertRateLimit(a.amoId);
  });

  test('a blocked account (403) ends the job FAILED with a clear error and sync.completed', async (t) => {
    const h = await kit.harness(t);
    const a = await connectSimAccount(db, sim, amoConfig, { seed: { users: 2, pipelines: 1, tagsPerEntity: 3 } });
    sim.injectFault(a.amoId, { kind: 'block', path: '/custom_fields' });
    const job = await requestSync(h.services, a.accountId);
    const done = await runSyncJob(h.services, job.id, fast);
    assert.equal(done?.status, 'FAILED');
    assert.equal(done?.error, SYNC_ERRORS.blocked);
    assert.match(done!.error!, /^amoCRM blocked this integration \(403\)/);
    assert.ok(done?.finishedAt);
    assert.deepEqual(countsOf(done!), { users: 0, pipelines: 0, steps: 0, fields: 0, tags: 0 });
    assert.ok((await db.amoAccount.findUniqueOrThrow({ where: { id: a.accountId } })).blockedAt);
    await waitFor('sync.completed', () => completedFor(h.events, job.id).length === 1);
    // the next request makes a new job that fails at once, without calling amoCRM
    sim.unblock(a.amoId);
    sim.clearRequestLog(a.amoId);
    const next = await runSyncJob(h.services, (await requestSync(h.services, a.accountId)).id, fast);
    assert.equal(next?.status, 'FAILED');
    assert.equal(next?.error, SYNC_ERRORS.blocked);
    assert.equal(sim.requestLog(a.amoId).length, 0);
  });

  test('revoked tokens end the job FAILED, mark the account stale and publish token.stale', async (t) => {
    const h = await kit.harness(t);
    const a = await connectSimAccount(db, sim, amoConfig, { seed: { users: 2, pipelines: 1, tagsPerEntity: 3 } });
    sim.revoke(a.amoId);
    const job = await requestSync(h.services, a.accountId);
    const done = await runSyncJob(h.services, job.id, fast);
    assert.equal(done?.status, 'FAILED');
    assert.equal(done?.error, 'the amoCRM tokens were revoked: connect the account again');
    assert.equal((await db.amoAccount.findUniqueOrThrow({ where: { id: a.accountId } })).stale, true);
    await waitFor(
      'token.stale and sync.completed',
      () => h.events.some((e) => e.type === 'token.stale' && e.accountId === a.accountId) && completedFor(h.events, job.id).length === 1,
    );
    // the trigger of the stale transition wrote it to amo.events' outbox: it carries the row's id
    const stale = h.events.filter((e) => e.type === 'token.stale' && e.accountId === a.accountId);
    const id = (stale[0] as { id?: string } | undefined)?.id;
    assert.match(id ?? '', /^[0-9a-f-]{36}$/);
    assert.deepEqual(stale, [{ type: 'token.stale', quizAccountId: a.quizAccountId, accountId: a.accountId, id }]);
  });

  test('a retryable failure is rethrown for the queue to retry, and the job is FAILED after its last attempt', async (t) => {
    const h = await kit.harness(t);
    const a = await connectSimAccount(db, sim, amoConfig, { seed: { users: 2, pipelines: 1, tagsPerEntity: 3 } });
    const noRetries: RunSyncOptions = { maxAttempts: 2, client: { maxRetries: 0 } };

    // one 5xx: the first run throws, the job stays RUNNING; the redelivery succeeds
    sim.injectFault(a.amoId, { kind: '5xx', status: 502, count: 1, path: '/api/v4/users' });
    const job = await requestSync(h.services, a.accountId);
    await assert.rejects(runSyncJob(h.services, job.id, noRetries), /502/);
    const between = await db.syncJob.findUniqueOrThrow({ where: { id: job.id } });
    assert.equal(between.status, 'RUNNING');
    assert.equal(between.attempts, 1);
    const retried = await runSyncJob(h.services, job.id, noRetries);
    assert.equal(retried?.status, 'SUCCEEDED', retried?.error ?? '');
    assert.equal(retried?.attempts, 2);

    // 5xx on every try: FAILED after the last attempt, and sync.completed
    sim.injectFault(a.amoId, { kind: '5xx', status: 503, count: 10, path: '/api/v4/users' });
    const failing = await requestSync(h.services, a.accountId);
    await assert.rejects(runSyncJob(h.services, failing.id, noRetries));
    const last = await runSyncJob(h.services, failing.id, noRetries);
    assert.equal(last?.status, 'FAILED');
    assert.equal(last?.attempts, 2);
    assert.match(last!.error!, /failed 2 times; last error: amoCRM answered 503/);
    await waitFor('sync.completed', () => completedFor(h.events, failing.id).length === 1);
    sim.clearFaults(a.amoId);
  });
});
