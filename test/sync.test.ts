// The amoCRM catalogue sync (src/features/catalogue) against real PostgreSQL and the amoCRM simulator over HTTP.
// Most tests use the in-process queue; the Kafka tests run when KAFKA_BROKERS is set, and the
// broker-restart test only with KAFKA_RESTART_TEST=1 (it stops and starts the broker of
// scripts/kafka.sh, which must be the one KAFKA_BROKERS points at).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test, type TestContext } from 'node:test';
import { createAmoSimulator, type AmoSimulator } from '@quiz-gateway/amo-sim';
import type { Config } from '../src/platform/config.ts';
import { createDb, type Db } from '../src/platform/db.ts';
import { bridgeEvents, type AmoEvent } from '../src/platform/events.ts';
import type { EntityType } from '../src/generated/prisma/enums.ts';
import { createLogger } from '../src/platform/logger.ts';
import { createQueue, parseBrokers, TOPICS, type Queue, type QueueOptions } from '../src/platform/queue/index.ts';
import { createServices, type Services } from '../src/platform/services.ts';
import { SYNC_ERRORS, handleAmoTask, recoverStuckJobs, requestSync, runSyncJob, startSyncWorker, type RunSyncOptions, type SyncJob } from '../src/features/catalogue/index.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { connectSimAccount, testAmoConfig, TEST_AMO_CLIENT_ID, TEST_AMO_CLIENT_SECRET, TEST_AMO_REDIRECT } from './helpers/amo.ts';
import { at } from './helpers/narrow.ts';

const amoConfig = testAmoConfig();
const logger = createLogger({ level: process.env.LOG_LEVEL ?? 'silent', name: 'sync-test' });
const brokers = parseBrokers(process.env.KAFKA_BROKERS);
const runId = `st-${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`;
/** Short client backoff so absorbed faults do not slow the file down. */
const fast: RunSyncOptions = { client: { backoffMs: 20, maxBackoffMs: 200 } };

const SIM_ENTITIES = [
  ['leads', 'LEAD'],
  ['contacts', 'CONTACT'],
  ['companies', 'COMPANY'],
  ['customers', 'CUSTOMER'],
] as const;

let sim: AmoSimulator;
let tdb: TestDatabase;
let db: Db;

before(async () => {
  sim = createAmoSimulator({
    clientId: TEST_AMO_CLIENT_ID,
    clientSecret: TEST_AMO_CLIENT_SECRET,
    redirectUri: TEST_AMO_REDIRECT,
    rateLimitRps: 7,
    rateLimitCountsRejected: true,
  });
  await sim.start();
  tdb = await createTestDatabase();
  db = tdb.db;
});

after(async () => {
  await tdb?.drop();
  await sim?.stop();
});

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
/** Resolves null after `ms` without keeping the process alive. */
const timeout = (ms: number) => new Promise<null>((resolve) => setTimeout(() => resolve(null), ms).unref());

async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(25);
  }
}

interface Harness {
  services: Services;
  queue: Queue;
  /** every amo.events message this services' queue carried since it was built */
  events: AmoEvent[];
}

async function harness(t: TestContext, options: { db?: Db; queue?: Partial<QueueOptions> } = {}): Promise<Harness> {
  const queue = await createQueue({ logger, maxAttempts: 3, retryBackoffMs: 20, maxRetryBackoffMs: 100, shutdownGraceMs: 1_000, ...options.queue });
  const events: AmoEvent[] = [];
  await queue.broadcast(TOPICS.amoEvents, async (m) => {
    events.push(m.value as AmoEvent);
  });
  t.after(() => queue.close());
  const services = await createServices({
    config: amoConfig as unknown as Config,
    db: options.db ?? db,
    queue,
    logger,
    instanceId: `sync-test-${randomBytes(3).toString('hex')}`,
    metrics: false,
  });
  return { services, queue, events };
}

function waitForJob(jobId: string, timeoutMs = 60_000): Promise<SyncJob> {
  return waitFor(
    `job ${jobId} finished`,
    async () => {
      const job = await db.syncJob.findUnique({ where: { id: jobId } });
      return job && (job.status === 'SUCCEEDED' || job.status === 'FAILED') ? job : null;
    },
    timeoutMs,
  );
}

const completedFor = (events: AmoEvent[], jobId: string) => events.filter((e) => e.type === 'sync.completed' && e.jobId === jobId);

/** The live cache of an account, shaped like the simulator's data. */
async function cached(accountId: string) {
  const users = await db.amoUser.findMany({ where: { accountId, deletedAt: null }, orderBy: { amoId: 'asc' } });
  const pipelines = await db.pipeline.findMany({
    where: { accountId, deletedAt: null },
    orderBy: { amoId: 'asc' },
    include: { steps: { where: { deletedAt: null }, orderBy: { amoId: 'asc' } } },
  });
  const fields = await db.customField.findMany({ where: { accountId, deletedAt: null }, orderBy: [{ entity: 'asc' }, { amoId: 'asc' }] });
  const tags = await db.tag.findMany({ where: { accountId, deletedAt: null }, orderBy: [{ entity: 'asc' }, { amoId: 'asc' }] });
  return {
    users: users.map((u) => ({ id: u.amoId, name: u.name, email: u.email, role: u.role, group: u.group, isAdmin: u.isAdmin, isActive: u.isActive })),
    pipelines: pipelines.map((p) => ({
      id: p.amoId,
      name: p.name,
      sort: p.sort,
      isMain: p.isMain,
      isArchive: p.isArchive,
      isUnsortedOn: p.isUnsortedOn,
      statuses: p.steps.map((s) => ({ id: s.amoId, name: s.name, sort: s.sort, color: s.color, type: s.type, isEditable: s.isEditable })),
    })),
    fields: (entity: EntityType) =>
      fields
        .filter((f) => f.entity === entity)
        .map((f) => ({ id: f.amoId, name: f.name, code: f.code, type: f.rawType, sort: f.sort, isApiOnly: f.isApiOnly, options: f.options })),
    tags: (entity: EntityType) => tags.filter((x) => x.entity === entity).map((x) => ({ id: x.amoId, name: x.name, color: x.color })),
  };
}

/** What the simulator holds for the account, in the cache's shape. */
function expected(amoId: number) {
  const acc = sim.account(amoId);
  const byId = <T extends { id: number }>(list: T[]) => [...list].sort((a, b) => a.id - b.id);
  return {
    acc,
    users: byId(acc.users).map((u) => ({
      id: u.id,
      name: u.name,
      email: u.email,
      role: u.rights.role_id,
      group: u.rights.group_id,
      isAdmin: u.rights.is_admin,
      isActive: u.rights.is_active,
    })),
    pipelines: byId(acc.pipelines).map((p) => ({
      id: p.id,
      name: p.name,
      sort: p.sort,
      isMain: p.is_main,
      isArchive: p.is_archive,
      isUnsortedOn: p.is_unsorted_on,
      statuses: byId(p.statuses).map((s) => ({ id: s.id, name: s.name, sort: s.sort, color: s.color, type: s.type, isEditable: s.is_editable })),
    })),
    fields: (entity: (typeof SIM_ENTITIES)[number][0]) =>
      entity === 'customers' && !acc.customersEnabled
        ? []
        : byId(acc.fields[entity]).map((f) => ({
            id: f.id,
            name: f.name,
            code: f.code,
            type: f.type,
            sort: f.sort,
            isApiOnly: f.is_api_only,
            options: (f.enums ?? []).map((e) => ({ amoId: e.id, value: e.value, sort: e.sort })),
          })),
    tags: (entity: (typeof SIM_ENTITIES)[number][0]) =>
      entity === 'customers' && !acc.customersEnabled ? [] : byId(acc.tags[entity]).map((x) => ({ id: x.id, name: x.name, color: x.color })),
  };
}

/** Asserts the cache equals the simulator's data; returns the expected counts. */
async function assertConverged(accountId: string, amoId: number) {
  const have = await cached(accountId);
  const want = expected(amoId);
  assert.deepEqual(have.users, want.users, 'users');
  assert.deepEqual(have.pipelines, want.pipelines, 'pipelines and statuses');
  let fields = 0;
  let tags = 0;
  for (const [simEntity, entity] of SIM_ENTITIES) {
    assert.deepEqual(have.fields(entity), want.fields(simEntity), `${simEntity} fields`);
    assert.deepEqual(have.tags(entity), want.tags(simEntity), `${simEntity} tags`);
    fields += want.fields(simEntity).length;
    tags += want.tags(simEntity).length;
  }
  return {
    users: want.users.length,
    pipelines: want.pipelines.length,
    steps: want.pipelines.reduce((n, p) => n + p.statuses.length, 0),
    fields,
    tags,
  };
}

const countsOf = (job: SyncJob) => ({ users: job.users, pipelines: job.pipelines, steps: job.steps, fields: job.fields, tags: job.tags });

function assertRateLimit(amoId: number) {
  const max = sim.maxRequestsInAnySecond(amoId);
  assert.ok(max <= 7, `the simulator saw ${max} requests in one second for the account (limit 7)`);
  assert.ok(
    sim.requestLog(amoId).every((e) => e.via !== 'rate-limit'),
    'no request was refused by the rate limiter',
  );
}

describe('sync: in-process queue', () => {
  test('a large account (several pages per list) syncs through the worker to exactly what amoCRM holds; sync.completed reaches the pub/sub', async (t) => {
    const h = await harness(t);
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
    assert.deepEqual(event.value, { type: 'sync.completed', quizAccountId: a.quizAccountId, accountId: a.accountId, jobId: job.id });
    await completed.return?.();

    const done = await waitForJob(job.id);
    assert.equal(done.status, 'SUCCEEDED', done.error ?? '');
    assert.equal(done.error, null);
    assert.equal(done.attempts, 1);
    assert.ok(done.startedAt && done.finishedAt && done.finishedAt >= done.startedAt);

    const counts = await assertConverged(a.accountId, a.amoId);
    assert.deepEqual(countsOf(done), counts);
    assert.equal(counts.pipelines, 40);
    assert.equal(counts.tags, 2400);
    assert.ok(counts.fields >= 1200);

    // 142/143 recur in every pipeline: one step per pipeline each
    assert.equal(await db.step.count({ where: { accountId: a.accountId, amoId: 142 } }), 40);
    const account = await db.amoAccount.findUniqueOrThrow({ where: { id: a.accountId } });
    assert.ok(account.lastSyncAt && account.lastSyncAt >= done.startedAt!);

    // several pages of each list were read
    const log = sim.requestLog(a.amoId);
    assert.equal(log.filter((e) => e.path.startsWith('/api/v4/leads/tags')).length, 3);
    assert.equal(log.filter((e) => e.path.startsWith('/api/v4/contacts/custom_fields')).length, 2);
    assertRateLimit(a.amoId);
    assert.equal(completedFor(h.events, job.id).length, 1, 'sync.completed published once');
  });

  test('a second sync converges after amoCRM changed: renamed rows update, removed rows are soft-deleted, returning rows are live again', async (t) => {
    const h = await harness(t);
    const a = await connectSimAccount(db, sim, amoConfig, {
      seed: { users: 4, pipelines: 3, statusesPerPipeline: 3, fieldsPerEntity: 6, tagsPerEntity: 8 },
    });
    const first = await runSyncJob(h.services, (await requestSync(h.services, a.accountId)).id, fast);
    assert.equal(first?.status, 'SUCCEEDED', first?.error ?? '');
    await assertConverged(a.accountId, a.amoId);

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
    const counts = await assertConverged(a.accountId, a.amoId);
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
    await assertConverged(a.accountId, a.amoId);
    const back = await db.tag.findFirstOrThrow({ where: { accountId: a.accountId, amoId: returningTag.id } });
    assert.equal(back.id, gone[5]!.id);
    assert.equal(back.deletedAt, null);
    assert.equal((await db.amoUser.findFirstOrThrow({ where: { accountId: a.accountId, amoId: removedUser.id } })).deletedAt, null);
    assertRateLimit(a.amoId);
  });

  test('requestSync returns the queued job while one is queued (also under a race); scopes limit what is fetched and written', async (t) => {
    const h = await harness(t);
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
    const want = expected(a.amoId);
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

  test('429 bursts, 5xx answers and a slow response mid-sync are absorbed', async (t) => {
    const h = await harness(t);
    const a = await connectSimAccount(db, sim, amoConfig, { seed: { users: 3, pipelines: 2, fieldsPerEntity: 3, tagsPerEntity: 300 } });
    sim.injectFault(a.amoId, { kind: '429', count: 3, path: '/contacts/tags' });
    sim.injectFault(a.amoId, { kind: '5xx', status: 503, count: 2, path: '/leads/tags' });
    sim.injectFault(a.amoId, { kind: '5xx', status: 500, count: 1, path: '/companies/custom_fields' });
    sim.injectFault(a.amoId, { kind: 'slow', delayMs: 1_500, count: 1, path: '/leads/pipelines' });
    const done = await runSyncJob(h.services, (await requestSync(h.services, a.accountId)).id, fast);
    assert.equal(done?.status, 'SUCCEEDED', done?.error ?? '');
    assert.equal(done?.attempts, 1);
    assert.equal(sim.faults(a.amoId).length, 0, 'every fault was hit');
    const counts = await assertConverged(a.accountId, a.amoId);
    assert.deepEqual(countsOf(done!), counts);
    assertRateLimit(a.amoId);
  });

  test('a blocked account (403) ends the job FAILED with a clear error and sync.completed', async (t) => {
    const h = await harness(t);
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
    const h = await harness(t);
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
    assert.deepEqual(
      h.events.filter((e) => e.type === 'token.stale' && e.accountId === a.accountId),
      [{ type: 'token.stale', quizAccountId: a.quizAccountId, accountId: a.accountId }],
    );
  });

  test('a retryable failure is rethrown for the queue to retry, and the job is FAILED after its last attempt', async (t) => {
    const h = await harness(t);
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

  test('recoverStuckJobs republishes lost QUEUED jobs and dead RUNNING jobs, and fails a job that died too often', async (t) => {
    const h = await harness(t);
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

    const [doneLost, doneDead, doneFresh] = await Promise.all([waitForJob(lost.id), waitForJob(dead.id), waitForJob(fresh.id)]);
    for (const j of [doneLost, doneDead, doneFresh]) assert.equal(j.status, 'SUCCEEDED', j.error ?? '');
    assert.equal(doneLost.attempts, 1, 'the duplicate task of a finished job is skipped');
    assert.equal(doneDead.attempts, 2);
    assert.equal(doneDead.users, expected(b.amoId).users.length);
    assert.equal(completedFor(h.events, hopeless.id).length, 1);
  });

  test('the worker recovers a job whose task was lost on its own (periodic recovery)', async (t) => {
    const h = await harness(t);
    const a = await connectSimAccount(db, sim, amoConfig, { seed: { users: 2, pipelines: 1, tagsPerEntity: 3 } });
    const lost = await db.syncJob.create({ data: { accountId: a.accountId, scopes: ['PIPELINES'] } }); // never published
    const worker = await startSyncWorker(h.services, { client: fast.client, recoverEveryMs: 200, queuedStuckAfterMs: 300 });
    t.after(() => worker.stop());
    const done = await waitForJob(lost.id);
    assert.equal(done.status, 'SUCCEEDED', done.error ?? '');
    assert.equal(done.pipelines, 1);
  });

  test('the worker dispatches other task types to the handlers given and ignores unknown ones', async (t) => {
    const h = await harness(t);
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
    const h1 = await harness(t);
    const db2 = createDb(tdb.url, { max: 4 });
    t.after(() => db2.$disconnect());
    const h2 = await harness(t, { db: db2 });
    const a = await connectSimAccount(db, sim, amoConfig, { seed: { users: 4, pipelines: 10, fieldsPerEntity: 40, tagsPerEntity: 600 } });
    sim.clearRequestLog(a.amoId);
    const job = await requestSync(h1.services, a.accountId);
    const [r1, r2] = await Promise.all([runSyncJob(h1.services, job.id, fast), runSyncJob(h2.services, job.id, fast)]);
    assert.equal(r1?.status, 'SUCCEEDED', r1?.error ?? '');
    assert.equal(r2?.status, 'SUCCEEDED', r2?.error ?? '');
    const done = await db.syncJob.findUniqueOrThrow({ where: { id: job.id } });
    assert.equal(done.attempts, 2, 'both ran it');
    assert.deepEqual(countsOf(done), await assertConverged(a.accountId, a.amoId));
    const tagGets = sim.requestLog(a.amoId).filter((e) => e.path.startsWith('/api/v4/leads/tags')).length;
    assert.equal(tagGets, 6, 'both workers really fetched');
    assertRateLimit(a.amoId);
    await sleep(100);
    assert.equal(completedFor([...h1.events, ...h2.events], job.id).length, 1, 'finished (and announced) once');

    // and a second pair of syncs, each its own job, of the same account at once
    sim.clearRequestLog(a.amoId);
    const [j1, j2] = await Promise.all([requestSync(h1.services, a.accountId), requestSync(h2.services, a.accountId)]);
    assert.equal(j1.id, j2.id);
    await Promise.all([runSyncJob(h1.services, j1.id, fast), runSyncJob(h2.services, j1.id, fast)]);
    assertRateLimit(a.amoId);
  });
});

// ------------------------------------------------------------------------------------- Kafka

const kafkaSkip = brokers.length === 0 ? 'KAFKA_BROKERS is not set: start a broker with `bash scripts/kafka.sh start`' : false;

async function kafkaHarness(t: TestContext, name: string): Promise<Harness & { fatal: Error[] }> {
  const fatal: Error[] = [];
  const h = await harness(t, {
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
    const done = await waitForJob(job.id, 60_000);
    assert.equal(done.status, 'SUCCEEDED', done.error ?? '');
    assert.deepEqual(countsOf(done), await assertConverged(a.accountId, a.amoId));
    await waitFor('sync.completed over Kafka', () => completedFor(h.events, job.id).length >= 1, 30_000);
    assert.deepEqual(h.fatal, []);
  });

  const restartSkip = process.env.KAFKA_RESTART_TEST !== '1' ? 'set KAFKA_RESTART_TEST=1 to run it (it stops and starts the broker of scripts/kafka.sh)' : false;

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
    const job = await requestSync(h.services, a.accountId);
    await waitFor('the job running', async () => (await db.syncJob.findUnique({ where: { id: job.id } }))?.status === 'RUNNING', 60_000);

    await run('bash', [script, 'stop']);
    const duringOutage = (await db.syncJob.findUniqueOrThrow({ where: { id: job.id } })).status;
    await sleep(1_000);
    await run('bash', [script, 'start']);

    const done = await waitForJob(job.id, 180_000);
    assert.equal(done.status, 'SUCCEEDED', done.error ?? '');
    assert.deepEqual(countsOf(done), await assertConverged(a.accountId, a.amoId));
    // redeliveries after the restart find the job finished: it is not run again
    await sleep(3_000);
    const later = await db.syncJob.findUniqueOrThrow({ where: { id: job.id } });
    assert.equal(later.status, 'SUCCEEDED');
    assert.equal(later.finishedAt?.getTime(), done.finishedAt?.getTime(), 'finished once');
    assert.equal(await db.syncJob.count({ where: { accountId: a.accountId } }), 1);
    t.diagnostic(`status when the broker was down: ${duringOutage}; attempts ${later.attempts}, sync.completed seen ${completedFor(h.events, job.id).length} time(s)`);
    assert.deepEqual(h.fatal, []);
    assertRateLimit(a.amoId);
  });
});
