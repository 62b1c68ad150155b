// AbortSignals reach the amoCRM calls of the catalogue sync and the rule check: a stop or an
// aborted caller cancels the call instead of waiting for amoCRM.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { requestSync, runSyncJob, startSyncWorker } from '../src/features/catalogue/index.ts';
import { checkRule } from '../src/features/rules/index.ts';
import { connectSimAccount } from './helpers/amo.ts';
import { amoConfig, fast, startSyncKit, type SyncKit } from './sync.kit.ts';

let kit: SyncKit;
before(async () => {
  kit = await startSyncKit();
});
after(async () => kit?.stop());

test('an aborted run leaves the job RUNNING even on its last attempt, and calls amoCRM no further', async (t) => {
  const h = await kit.harness(t);
  const a = await connectSimAccount(kit.db, kit.sim, amoConfig, { seed: { users: 2, pipelines: 1 } });
  const job = await requestSync(h.services, a.accountId);
  kit.sim.clearRequestLog(a.amoId);
  const ac = new AbortController();
  ac.abort(new Error('stop'));
  await assert.rejects(runSyncJob(h.services, job.id, { ...fast, maxAttempts: 1, signal: ac.signal }), /stop/);
  const row = await kit.db.syncJob.findUniqueOrThrow({ where: { id: job.id } });
  assert.equal(row.status, 'RUNNING');
  assert.equal(kit.sim.requestLog(a.amoId).length, 0, 'no amoCRM request went out');
  const done = await runSyncJob(h.services, job.id, fast);
  assert.equal(done?.status, 'SUCCEEDED');
});

test('stopping the worker aborts a sync in flight: the stop is quick and the job is left to be run again', async (t) => {
  const h = await kit.harness(t);
  const a = await connectSimAccount(kit.db, kit.sim, amoConfig, { seed: { users: 2, pipelines: 1 } });
  // Every amoCRM answer hangs until its signal aborts it: the stop can only finish by cancelling the call.
  let entered!: () => void;
  const inFlight = new Promise<void>((resolve) => (entered = resolve));
  const aborted: unknown[] = [];
  const hangingFetch: typeof fetch = (_input, init) =>
    new Promise((_resolve, reject) => {
      entered();
      init?.signal?.addEventListener('abort', () => {
        aborted.push(init.signal!.reason);
        reject(init.signal!.reason);
      });
    });
  const worker = await startSyncWorker(h.services, { recoverEveryMs: 0, client: { ...fast.client, fetch: hangingFetch } });
  const job = await requestSync(h.services, a.accountId);
  await inFlight;
  await worker.stop();
  assert.equal(aborted.length, 1, "the worker's stop aborted the amoCRM call in flight");
  const row = await kit.db.syncJob.findUniqueOrThrow({ where: { id: job.id } });
  assert.equal(row.status, 'RUNNING', 'an interrupted sync is left to be run again, not failed');
});

test('checkRule with an aborted signal reads nothing and records nothing', async (t) => {
  const h = await kit.harness(t);
  const a = await connectSimAccount(kit.db, kit.sim, amoConfig, { seed: { users: 2, pipelines: 1 } });
  await runSyncJob(h.services, (await requestSync(h.services, a.accountId)).id, fast);
  const pipeline = await kit.db.pipeline.findFirstOrThrow({ where: { accountId: a.accountId }, include: { steps: true } });
  const rule = await kit.db.rule.create({ data: { accountId: a.accountId, quizId: 'q-sig', pipelineId: pipeline.id, stepId: pipeline.steps[0]!.id } as never });
  kit.sim.clearRequestLog(a.amoId);
  const ac = new AbortController();
  ac.abort(new Error('stop'));
  await assert.rejects(checkRule(h.services, rule.id, { signal: ac.signal }), /stop/);
  assert.equal(kit.sim.requestLog(a.amoId).length, 0);
  assert.equal((await kit.db.rule.findUniqueOrThrow({ where: { id: rule.id } })).checkedAt, null);
  assert.deepEqual(await checkRule(h.services, rule.id), []);
});
