// The amoCRM catalogue sync (src/features/catalogue) against real PostgreSQL and the amoCRM simulator
// over HTTP: a sync reaches exactly what amoCRM holds, the first time and after amoCRM changed.
// The Kafka tests run when KAFKA_BROKERS is set, and the broker-restart test only with
// KAFKA_RESTART_TEST=1 (it stops and starts the broker of scripts/kafka.sh, which must be the one
// KAFKA_BROKERS points at). Jobs and failures: sync-jobs.test.ts, sync-failures.test.ts.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test, type TestContext } from 'node:test';
import type { AmoSimulator } from '@quiz-gateway/amo-sim';
import type { Db } from '../src/platform/db.ts';
import { bridgeEvents, type AmoEvent } from '../src/platform/events.ts';
import { parseBrokers, TOPICS } from '../src/platform/queue/index.ts';
import { AMO_TASKS_GROUP } from '../src/platform/queue/groups.ts';
import { requestSync, runSyncJob, startSyncWorker } from '../src/features/catalogue/index.ts';
import { connectSimAccount } from './helpers/amo.ts';
import { brokerAdmin, portOpen } from './helpers/kafka.ts';
import { at } from './helpers/narrow.ts';
import { amoConfig, completedFor, countsOf, fast, sleep, startSyncKit, timeout, waitFor, type Harness, type SyncKit } from './sync.kit.ts';

const brokers = parseBrokers(process.env.KAFKA_BROKERS);
const runId = `st-${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`;

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
  test('a large account (several pages per list) syncs through the worker to exactly what amoCRM holds; sync.completed reaches the pub/sub', async (t) => {
    const h = await kit.harness(t);
    const a = await connectSimAccount(db, sim, amoConfig, {
      seed: { users: 6, pipelines: 40, statusesPerPipeline: 3, fieldsPerEntity: 300, tagsPerEntity: 600 },
    });
    const bridge = await bridgeEvents(h.queue, h.services.pubsub);
    t.after(() => bridge.stop());
    const completed = h.services.pubsub.subscribe('sync.completed', a.quizAccountId)[Symbol.asyncIterator]();
    const firstCompleted = completed.next();

    const worker = await startSyncWorker(h.services, { client: fast.client });
    t.after(() => worker.stop());

    const job = await requestSync(h.services, a.accountId);
    assert.equal(job.status, 'QUEUED');
    assert.deepEqual(job.scopes, ['USERS', 'PIPELINES', 'FIELDS', 'TAGS']);

    const event = await Promise.race([firstCompleted, timeout(60_000)]);
    assert.ok(event && !event.done, 'sync.completed arrived through bridgeEvents');
    assert.match(event.value.id ?? '', /^[0-9a-f-]{36}$/, 'the event carries its outbox id');
    assert.deepEqual(event.value, { type: 'sync.completed', quizAccountId: a.quizAccountId, accountId: a.accountId, jobId: job.id, id: event.value.id });
    await completed.return?.();

    const done = await kit.waitForJob(job.id);
    assert.equal(done.status, 'SUCCEEDED', done.error ?? '');
    assert.equal(done.error, null);
    assert.equal(done.attempts, 1);
    assert.ok(done.startedAt && done.finishedAt && done.finishedAt >= done.startedAt);

    const counts = await kit.assertConverged(a.accountId, a.amoId);
    assert.deepEqual(countsOf(done), counts);
    assert.equal(counts.pipelines, 40);
    assert.equal(counts.tags, 2400);
    assert.equal(counts.fields, 1221); // 300 per entity (leads, contacts, companies, customers) and the account's 21 predefined

    // 142/143 recur in every pipeline: one step per pipeline each
    assert.equal(await db.step.count({ where: { accountId: a.accountId, amoId: 142 } }), 40);
    const account = await db.amoAccount.findUniqueOrThrow({ where: { id: a.accountId } });
    assert.ok(account.lastSyncAt && account.lastSyncAt >= done.startedAt!);

    // several pages of each list were read
    const log = sim.requestLog(a.amoId);
    assert.equal(log.filter((e) => e.path.startsWith('/api/v4/leads/tags')).length, 3);
    assert.equal(log.filter((e) => e.path.startsWith('/api/v4/contacts/custom_fields')).length, 2);
    kit.assertRateLimit(a.amoId);
    assert.equal(completedFor(h.events, job.id).length, 1, 'sync.completed published once');
  });

  test('a second sync converges after amoCRM changed: renamed rows update, removed rows are soft-deleted, returning rows are live again', async (t) => {
    const h = await kit.harness(t);
    const a = await connectSimAccount(db, sim, amoConfig, {
      seed: { users: 4, pipelines: 3, statusesPerPipeline: 3, fieldsPerEntity: 6, tagsPerEntity: 8 },
    });
    const first = await runSyncJob(h.services, (await requestSync(h.services, a.accountId)).id, fast);
    assert.equal(first?.status, 'SUCCEEDED', first?.error ?? '');
    await kit.assertConverged(a.accountId, a.amoId);

    const snap = sim.account(a.amoId);
    const admin = snap.users.find((u) => u.rights.is_admin)!;
    const others = snap.users.filter((u) => u.id !== admin.id);
    const renamedUser = at(others, 0, 'user');
    const removedUser = at(others, 1, 'user');
    sim.updateUser(a.amoId, renamedUser.id, { name: 'Переименованный Пользователь', rights: { is_active: false } });
    sim.removeUser(a.amoId, removedUser.id);
    const addedUser = sim.addUser(a.amoId, { name: 'Новый Менеджер' });

    const p1 = at(snap.pipelines, 0, 'pipeline');
    const p2 = at(snap.pipelines, 1, 'pipeline');
    const p3 = at(snap.pipelines, 2, 'pipeline');
    sim.updatePipeline(a.amoId, p1.id, { name: 'Воронка (новая)' });
    const regular = p1.statuses.filter((s) => s.id !== 142 && s.id !== 143 && s.type === 0);
    const renamedStatus = at(regular, 0, 'regular status');
    const removedStatus = at(regular, 1, 'regular status');
    sim.updateStatus(a.amoId, p1.id, renamedStatus.id, { name: 'Первый шаг', color: '#fffeb2' });
    sim.removeStatus(a.amoId, p1.id, removedStatus.id);
    const addedStatus = sim.addStatus(a.amoId, p2.id, { name: 'Новый этап' });
    sim.removePipeline(a.amoId, p3.id);

    const selectField = snap.fields.leads.find((f) => f.type === 'select')!;
    sim.updateField(a.amoId, 'leads', selectField.id, {
      name: 'Город (обновлено)',
      enums: [{ id: at(selectField.enums ?? [], 0, 'select option').id, value: 'Москва и область' }, 'Сочи'],
    });
    const removedField = snap.fields.contacts.find((f) => f.type === 'text' && !f.is_predefined)!;
    sim.removeField(a.amoId, 'contacts', removedField.id);
    const addedField = sim.addField(a.amoId, 'companies', { name: 'Отрасль', type: 'multiselect', enums: ['IT', 'Ритейл'] });

    const renamedTag = at(snap.tags.leads, 0, 'lead tag');
    const removedTag = at(snap.tags.leads, 1, 'lead tag');
    const returningTag = at(snap.tags.leads, 2, 'lead tag');
    sim.updateTag(a.amoId, 'leads', renamedTag.id, { name: 'переименован', color: 'FFCE5A' });
    sim.removeTag(a.amoId, 'leads', removedTag.id);
    sim.removeTag(a.amoId, 'leads', returningTag.id);
    const addedTag = sim.addTag(a.amoId, 'contacts', 'новый тег');

    const before = await db.tag.findUniqueOrThrow({ where: { accountId_entity_amoId: { accountId: a.accountId, entity: 'LEAD', amoId: renamedTag.id } } });
    const second = await runSyncJob(h.services, (await requestSync(h.services, a.accountId)).id, fast);
    assert.equal(second?.status, 'SUCCEEDED', second?.error ?? '');
    const counts = await kit.assertConverged(a.accountId, a.amoId);
    assert.deepEqual(countsOf(second!), counts);

    // renamed rows keep their cache id
    const after = await db.tag.findUniqueOrThrow({ where: { accountId_entity_amoId: { accountId: a.accountId, entity: 'LEAD', amoId: renamedTag.id } } });
    assert.equal(after.id, before.id);
    assert.equal(after.name, 'переименован');
    assert.ok(await db.amoUser.findFirst({ where: { accountId: a.accountId, amoId: addedUser.id, deletedAt: null } }));
    assert.ok(await db.step.findFirst({ where: { accountId: a.accountId, amoId: addedStatus.id, deletedAt: null } }));
    assert.ok(await db.customField.findFirst({ where: { accountId: a.accountId, amoId: addedField.id, entity: 'COMPANY', deletedAt: null } }));
    assert.ok(await db.tag.findFirst({ where: { accountId: a.accountId, amoId: addedTag.id, entity: 'CONTACT', deletedAt: null } }));

    // removed rows are soft-deleted, not gone
    const gone = [
      await db.amoUser.findFirst({ where: { accountId: a.accountId, amoId: removedUser.id } }),
      await db.step.findFirst({ where: { accountId: a.accountId, amoId: removedStatus.id, pipeline: { amoId: p1.id } } }),
      await db.pipeline.findFirst({ where: { accountId: a.accountId, amoId: p3.id } }),
      await db.customField.findFirst({ where: { accountId: a.accountId, amoId: removedField.id } }),
      await db.tag.findFirst({ where: { accountId: a.accountId, amoId: removedTag.id } }),
      await db.tag.findFirst({ where: { accountId: a.accountId, amoId: returningTag.id } }),
    ];
    for (const row of gone) assert.ok(row && row.deletedAt, 'soft-deleted');
    const p3Steps = await db.step.findMany({ where: { accountId: a.accountId, pipeline: { amoId: p3.id } } });
    assert.ok(p3Steps.length > 0 && p3Steps.every((s) => s.deletedAt), "a removed pipeline's steps are soft-deleted too");

    // a tag and a user come back with the same amoCRM ids: live again, same cache rows
    sim.mutate(a.amoId, (acc) => {
      acc.tags.leads.push(structuredClone(returningTag));
      acc.users.push(structuredClone(removedUser));
    });
    const third = await runSyncJob(h.services, (await requestSync(h.services, a.accountId)).id, fast);
    assert.equal(third?.status, 'SUCCEEDED', third?.error ?? '');
    await kit.assertConverged(a.accountId, a.amoId);
    const back = await db.tag.findFirstOrThrow({ where: { accountId: a.accountId, amoId: returningTag.id } });
    assert.equal(back.id, gone[5]!.id);
    assert.equal(back.deletedAt, null);
    assert.equal((await db.amoUser.findFirstOrThrow({ where: { accountId: a.accountId, amoId: removedUser.id } })).deletedAt, null);
    kit.assertRateLimit(a.amoId);
  });
});

// ------------------------------------------------------------------------------------- Kafka

const kafkaSkip = brokers.length === 0 ? 'KAFKA_BROKERS is not set: start a broker with `bash scripts/kafka.sh start`' : false;

async function kafkaHarness(t: TestContext, name: string): Promise<Harness & { fatal: Error[] }> {
  const fatal: Error[] = [];
  const h = await kit.harness(t, {
    queue: {
      brokers,
      topicPrefix: `${runId}-${name}.`,
      partitions: 2,
      maxAttempts: 3,
      retryBackoffMs: 100,
      maxRetryBackoffMs: 1_000,
      shutdownGraceMs: 2_000,
      onFatal: (err) => fatal.push(err),
    },
  });
  return { ...h, fatal };
}

describe('sync: Kafka', { skip: kafkaSkip }, () => {
  test('requestSync publishes, startSyncWorker consumes, the job completes', { timeout: 90_000 }, async (t) => {
    const h = await kafkaHarness(t, 'path');
    const a = await connectSimAccount(db, sim, amoConfig, { seed: { users: 3, pipelines: 2, fieldsPerEntity: 5, tagsPerEntity: 10 } });
    const worker = await startSyncWorker(h.services, { client: fast.client });
    t.after(() => worker.stop());
    const job = await requestSync(h.services, a.accountId);
    const done = await kit.waitForJob(job.id, 60_000);
    assert.equal(done.status, 'SUCCEEDED', done.error ?? '');
    assert.deepEqual(countsOf(done), await kit.assertConverged(a.accountId, a.amoId));
    await waitFor('sync.completed over Kafka', () => completedFor(h.events, job.id).length >= 1, 30_000);
    assert.deepEqual(h.fatal, []);
  });

  const restartSkip = process.env.KAFKA_RESTART_TEST !== '1' ? 'set KAFKA_RESTART_TEST=1 to run it (it stops and starts the broker of scripts/kafka.sh)' : false;

  // The job finishes while the restarted broker may still elect leaders: sync.completed waits in the
  // outbox (written with the job's commit) and the relay publishes it once the broker takes it, so
  // neither the task's commit nor the event is held up by the outage (they were, before the outbox).
  test('a broker restart during a sync: the job still completes exactly once', { skip: restartSkip, timeout: 240_000 }, async (t) => {
    const run = promisify(execFile);
    const script = join(import.meta.dirname, '..', 'scripts', 'kafka.sh');
    const scriptPort = process.env.KAFKA_PORT ?? '19092';
    assert.ok(
      brokers.some((b) => b.endsWith(`:${scriptPort}`)),
      `KAFKA_BROKERS must point at the broker of scripts/kafka.sh (port ${scriptPort})`,
    );

    const h = await kafkaHarness(t, 'restart');
    const a = await connectSimAccount(db, sim, amoConfig, { seed: { users: 3, pipelines: 5, fieldsPerEntity: 20, tagsPerEntity: 3_000 } });
    const worker = await startSyncWorker(h.services, { client: fast.client });
    t.after(() => worker.stop());
    // what this replica's subscribers hear (bridgeEvents drops a repeat of an event id)
    const bridge = await bridgeEvents(h.queue, h.services.pubsub);
    t.after(() => bridge.stop());
    const heard: AmoEvent[] = [];
    const subscribed = h.services.pubsub.subscribe('sync.completed', a.quizAccountId);
    t.after(() => subscribed.return?.());
    void (async () => {
      for await (const e of subscribed) heard.push(e);
    })();
    const job = await requestSync(h.services, a.accountId);
    await waitFor('the job running', async () => (await db.syncJob.findUnique({ where: { id: job.id } }))?.status === 'RUNNING', 60_000);

    const status = async () => (await db.syncJob.findUniqueOrThrow({ where: { id: job.id } })).status;
    await run('bash', [script, 'stop']);
    assert.equal(await portOpen(Number(scriptPort)), false, 'the broker is down');
    assert.equal(await status(), 'RUNNING', 'the job runs while the broker is down');
    await sleep(1_000); // an outage the consumer's heartbeats and commits notice
    assert.equal(await status(), 'RUNNING', 'the job still runs at the end of the outage');
    await run('bash', [script, 'start']);

    const done = await kit.waitForJob(job.id, 180_000);
    assert.equal(done.status, 'SUCCEEDED', done.error ?? '');
    assert.deepEqual(countsOf(done), await kit.assertConverged(a.accountId, a.amoId));
    // Nothing runs the job again once the group (prefixed like the topics) committed its message,
    // and no sync.completed is still on its way once the broadcast took in all amo.events holds.
    const admin = await brokerAdmin(brokers);
    t.after(() => admin.close());
    const tasksTopic = `${runId}-restart.${TOPICS.amoTasks}`;
    const eventsTopic = `${runId}-restart.${TOPICS.amoEvents}`;
    await waitFor('the sync task committed', () => admin.committedThroughEnd(`${runId}-restart.${AMO_TASKS_GROUP}`, tasksTopic), 150_000); // after a restart the group's rejoin can take a session timeout or two
    // the relay publishes sync.completed once the broker takes it (after its backoff, at most 30 s)
    await waitFor('sync.completed relayed', () => completedFor(h.events, job.id).length >= 1, 90_000);
    await waitFor('every amo.events message taken in', async () => h.events.length === (await admin.messages(eventsTopic)), 60_000);
    const later = await db.syncJob.findUniqueOrThrow({ where: { id: job.id } });
    assert.equal(later.status, 'SUCCEEDED');
    assert.equal(later.attempts, 1, 'claimed and run once');
    assert.equal(later.finishedAt?.getTime(), done.finishedAt?.getTime(), 'finished once');
    // at least once on the topic (a publish the broker took while its answer was lost is repeated),
    // always as the one event of the outbox row written with the job's commit
    const completed = completedFor(h.events, job.id);
    assert.ok(completed.length >= 1, 'sync.completed published');
    assert.equal(new Set(completed.map((e) => e.type === 'sync.completed' && e.id)).size, 1, 'one event, whatever its copies');
    assert.equal(await db.eventOutbox.count({ where: { quizAccountId: a.quizAccountId } }), 0, 'the outbox relayed it');
    await waitFor('the subscriber heard it', () => heard.length >= 1, 30_000);
    assert.deepEqual(
      heard.map((e) => e.type === 'sync.completed' && e.jobId),
      [job.id],
      'the subscriber heard it once',
    );
    assert.equal(await db.syncJob.count({ where: { accountId: a.accountId } }), 1);
    assert.deepEqual(h.fatal, []);
    kit.assertRateLimit(a.amoId);
  });
});
