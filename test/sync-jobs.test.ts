// Sync jobs (src/features/catalogue): requestSync hands out one queued job, scopes limit the sync,
// lost and dead jobs are recovered, the worker dispatches other tasks, and two workers on one
// account share its rate limit. In-process queue; real PostgreSQL and the amoCRM simulator.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { AmoSimulator } from '@quiz-gateway/amo-sim';
import { createDb, type Db } from '../src/platform/db.ts';
import { TOPICS } from '../src/platform/queue/index.ts';
import { SYNC_ERRORS, handleAmoTask, recoverStuckJobs, requestSync, runSyncJob, startSyncWorker } from '../src/features/catalogue/index.ts';
import { connectSimAccount } from './helpers/amo.ts';
import { amoConfig, completedFor, countsOf, eventsTakenIn, fast, SIM_ENTITIES, startSyncKit, waitFor, type SyncKit } from './sync.kit.ts';

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
  test('requestSync returns the queued job while one is queued (also under a race); scopes limit what is fetched and written', async (t) => {
    const h = await kit.harness(t);
    const a = await connectSimAccount(db, sim, amoConfig, { seed: { users: 3, pipelines: 2, fieldsPerEntity: 3, tagsPerEntity: 5 } });

    const racing = await Promise.all(Array.from({ length: 6 }, () => requestSync(h.services, a.accountId, ['TAGS'])));
    const jobId = racing[0]!.id;
    assert.ok(
      racing.every((j) => j.id === jobId),
      'every concurrent request got the same job',
    );
    assert.equal(await db.syncJob.count({ where: { accountId: a.accountId } }), 1);
    const again = await requestSync(h.services, a.accountId, ['USERS']);
    assert.equal(again.id, jobId, 'a queued job is returned whatever the scopes asked');
    assert.deepEqual(again.scopes, ['TAGS']);

    sim.clearRequestLog(a.amoId);
    const done = await runSyncJob(h.services, jobId, fast);
    assert.equal(done?.status, 'SUCCEEDED', done?.error ?? '');
    const paths = sim.requestLog(a.amoId).map((e) => e.path);
    assert.ok(paths.length > 0 && paths.every((p) => /^\/api\/v4\/\w+\/tags/.test(p)), `only tags were fetched: ${paths.join(', ')}`);
    const want = kit.expected(a.amoId);
    const total = SIM_ENTITIES.reduce((n, [e]) => n + want.tags(e).length, 0);
    assert.deepEqual(countsOf(done!), { users: 0, pipelines: 0, steps: 0, fields: 0, tags: total });
    assert.equal(await db.amoUser.count({ where: { accountId: a.accountId } }), 0);
    assert.equal(await db.pipeline.count({ where: { accountId: a.accountId } }), 0);
    assert.equal(await db.customField.count({ where: { accountId: a.accountId } }), 0);
    assert.equal(await db.tag.count({ where: { accountId: a.accountId, deletedAt: null } }), total);

    // once finished, the next request queues a new job and publishes its task
    const tasks: unknown[] = [];
    await h.queue.consume(TOPICS.amoTasks, 'probe', async (m) => {
      tasks.push(m.value);
    });
    const next = await requestSync(h.services, a.accountId, ['USERS', 'USERS', 'PIPELINES']);
    assert.notEqual(next.id, jobId);
    assert.deepEqual(next.scopes, ['USERS', 'PIPELINES']);
    await waitFor('the sync task', () => tasks.length >= 2);
    assert.deepEqual(tasks[1], { type: 'sync', jobId: next.id, quizAccountId: a.quizAccountId, scopes: ['USERS', 'PIPELINES'] });
    const second = await runSyncJob(h.services, next.id, fast);
    assert.deepEqual({ ...countsOf(second!), fields: 0, tags: 0 }, { ...countsOf(second!) });
    assert.equal(second!.users, want.users.length);
    assert.equal(await db.tag.count({ where: { accountId: a.accountId, deletedAt: null } }), total, 'tags untouched by a USERS+PIPELINES sync');

    // a finished job is not run again
    sim.clearRequestLog(a.amoId);
    const rerun = await runSyncJob(h.services, next.id, fast);
    assert.equal(rerun?.status, 'SUCCEEDED');
    assert.equal(rerun?.attempts, 1);
    assert.equal(sim.requestLog(a.amoId).length, 0);
    assert.equal(completedFor(h.events, next.id).length, 1);
  });

  test('recoverStuckJobs republishes lost QUEUED jobs and dead RUNNING jobs, and fails a job that died too often', async (t) => {
    const h = await kit.harness(t);
    const a = await connectSimAccount(db, sim, amoConfig, { seed: { users: 2, pipelines: 1, tagsPerEntity: 3 } });
    const b = await connectSimAccount(db, sim, amoConfig, { seed: { users: 2, pipelines: 1, tagsPerEntity: 3 } });
    const c = await connectSimAccount(db, sim, amoConfig, { seed: { users: 2, pipelines: 1, tagsPerEntity: 3 } });
    const old = new Date(Date.now() - 60_000);
    // a: committed but never published; b: its worker died mid-run; c: died on its last attempt
    const lost = await db.syncJob.create({ data: { accountId: a.accountId, scopes: [], queuedAt: old } });
    const dead = await db.syncJob.create({ data: { accountId: b.accountId, scopes: ['USERS'], status: 'RUNNING', attempts: 1, queuedAt: old, startedAt: old } });
    const hopeless = await db.syncJob.create({ data: { accountId: c.accountId, scopes: [], status: 'RUNNING', attempts: 5, queuedAt: old, startedAt: old } });
    const fresh = await requestSync(h.services, (await connectSimAccount(db, sim, amoConfig, { seed: { users: 1, pipelines: 1 } })).accountId);

    const worker = await startSyncWorker(h.services, { client: fast.client, recoverEveryMs: 0 });
    t.after(() => worker.stop());
    const report = await recoverStuckJobs(h.services, 30_000);
    assert.deepEqual(report.republished.sort(), [lost.id, dead.id].sort());
    assert.deepEqual(report.failed, [hopeless.id]);
    const failed = await db.syncJob.findUniqueOrThrow({ where: { id: hopeless.id } });
    assert.equal(failed.status, 'FAILED');
    assert.equal(failed.error, SYNC_ERRORS.died);
    // a second pass right after does not republish the RUNNING job again (its started_at was bumped)
    const again = await recoverStuckJobs(h.services, 30_000);
    assert.ok(!again.republished.includes(dead.id));
    assert.deepEqual(again.failed, []);

    const [doneLost, doneDead, doneFresh] = await Promise.all([kit.waitForJob(lost.id), kit.waitForJob(dead.id), kit.waitForJob(fresh.id)]);
    for (const j of [doneLost, doneDead, doneFresh]) assert.equal(j.status, 'SUCCEEDED', j.error ?? '');
    assert.equal(doneLost.attempts, 1, 'the duplicate task of a finished job is skipped');
    assert.equal(doneDead.attempts, 2);
    assert.equal(doneDead.users, kit.expected(b.amoId).users.length);
    assert.equal(completedFor(h.events, hopeless.id).length, 1);
  });

  test('the worker recovers a job whose task was lost on its own (periodic recovery)', async (t) => {
    const h = await kit.harness(t);
    const a = await connectSimAccount(db, sim, amoConfig, { seed: { users: 2, pipelines: 1, tagsPerEntity: 3 } });
    const lost = await db.syncJob.create({ data: { accountId: a.accountId, scopes: ['PIPELINES'] } }); // never published
    const worker = await startSyncWorker(h.services, { client: fast.client, recoverEveryMs: 200, queuedStuckAfterMs: 300 });
    t.after(() => worker.stop());
    const done = await kit.waitForJob(lost.id);
    assert.equal(done.status, 'SUCCEEDED', done.error ?? '');
    assert.equal(done.pipelines, 1);
  });

  test('the worker dispatches other task types to the handlers given and ignores unknown ones', async (t) => {
    const h = await kit.harness(t);
    const seen: unknown[] = [];
    const worker = await startSyncWorker(h.services, {
      handlers: {
        'rule.changed': async (task) => {
          seen.push(task);
        },
      },
    });
    t.after(() => worker.stop());
    await h.queue.publish(TOPICS.amoTasks, 'q1', { type: 'something.else', quizAccountId: 'q1' });
    await h.queue.publish(TOPICS.amoTasks, 'q1', { nope: true });
    await h.queue.publish(TOPICS.amoTasks, 'q1', { type: 'rule.changed', quizAccountId: 'q1', quizId: 'z', ruleId: 'r' });
    await waitFor('rule.changed handled', () => seen.length === 1);
    assert.deepEqual(seen, [{ type: 'rule.changed', quizAccountId: 'q1', quizId: 'z', ruleId: 'r' }]);
    assert.equal((h.queue as unknown as { deadLetters(): unknown[] }).deadLetters().length, 0);
    // handleAmoTask is usable on its own, too
    await handleAmoTask(h.services, { topic: TOPICS.amoTasks, key: 'q1', value: { type: 'sync', jobId: '00000000-0000-0000-0000-000000000000', quizAccountId: 'q1', scopes: [] } });
  });

  test('two workers (separate connections) syncing the same account at once stay within 7 requests/s and finish the job once', async (t) => {
    const h1 = await kit.harness(t);
    const db2 = createDb(kit.tdb.url, { max: 4 });
    t.after(() => db2.$disconnect());
    const h2 = await kit.harness(t, { db: db2 });
    const a = await connectSimAccount(db, sim, amoConfig, { seed: { users: 4, pipelines: 10, fieldsPerEntity: 40, tagsPerEntity: 600 } });
    sim.clearRequestLog(a.amoId);
    const job = await requestSync(h1.services, a.accountId);
    const [r1, r2] = await Promise.all([runSyncJob(h1.services, job.id, fast), runSyncJob(h2.services, job.id, fast)]);
    assert.equal(r1?.status, 'SUCCEEDED', r1?.error ?? '');
    assert.equal(r2?.status, 'SUCCEEDED', r2?.error ?? '');
    const done = await db.syncJob.findUniqueOrThrow({ where: { id: job.id } });
    assert.equal(done.attempts, 2, 'both ran it');
    assert.deepEqual(countsOf(done), await kit.assertConverged(a.accountId, a.amoId));
    const tagGets = sim.requestLog(a.amoId).filter((e) => e.path.startsWith('/api/v4/leads/tags')).length;
    assert.equal(tagGets, 6, 'both workers really fetched');
    kit.assertRateLimit(a.amoId);
    await Promise.all([eventsTakenIn(h1), eventsTakenIn(h2)]);
    assert.equal(completedFor([...h1.events, ...h2.events], job.id).length, 1, 'finished (and announced) once');

    // and a second pair of syncs, each its own job, of the same account at once
    sim.clearRequestLog(a.amoId);
    const [j1, j2] = await Promise.all([requestSync(h1.services, a.accountId), requestSync(h2.services, a.accountId)]);
    assert.equal(j1.id, j2.id);
    await Promise.all([runSyncJob(h1.services, j1.id, fast), runSyncJob(h2.services, j1.id, fast)]);
    kit.assertRateLimit(a.amoId);
  });
});
