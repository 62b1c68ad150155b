// Shared set-up of the catalogue-sync suites (test/sync*.test.ts): one amoCRM simulator and one
// database per file, a queue and services per test, and the check that the cache holds exactly
// what amoCRM holds.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import type { AmoSimulator } from '@quiz-gateway/amo-sim';
import type { Config } from '../src/platform/config.ts';
import type { Db } from '../src/platform/db.ts';
import type { AmoEvent } from '../src/platform/events.ts';
import type { EntityType } from '../src/generated/prisma/enums.ts';
import { createLogger } from '../src/platform/logger.ts';
import { createQueue, TOPICS, type Queue, type QueueOptions } from '../src/platform/queue/index.ts';
import { createServices, type Services } from '../src/platform/services.ts';
import type { RunSyncOptions, SyncJob } from '../src/features/catalogue/index.ts';
import type { TestDatabase } from './helpers/db.ts';
import { startSimAndDatabase, testAmoConfig } from './helpers/amo.ts';

export const amoConfig = testAmoConfig();
const logger = createLogger({ level: process.env.LOG_LEVEL ?? 'silent', name: 'sync-test' });
/** Short client backoff so absorbed faults do not slow the suites down. */
export const fast: RunSyncOptions = { client: { backoffMs: 20, maxBackoffMs: 200 } };

export const SIM_ENTITIES = [
  ['leads', 'LEAD'],
  ['contacts', 'CONTACT'],
  ['companies', 'COMPANY'],
  ['customers', 'CUSTOMER'],
] as const;

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
/** Resolves null after `ms` without keeping the process alive. */
export const timeout = (ms: number) => new Promise<null>((resolve) => setTimeout(() => resolve(null), ms).unref());

export async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(25);
  }
}

export interface Harness {
  services: Services;
  queue: Queue;
  /** every amo.events message this services' queue carried since it was built */
  events: AmoEvent[];
}

/**
 * Resolves once the harness took in every amo.events message its queue carried so far: a mark
 * published now arrives after them (one partition, in order), so a count of events is final.
 */
export async function eventsTakenIn(h: Harness): Promise<void> {
  const mark = `mark-${randomBytes(4).toString('hex')}`;
  await h.queue.publish(TOPICS.amoEvents, mark, { type: 'test.mark', mark });
  await waitFor('the amo.events mark', () => h.events.some((e) => (e as { mark?: string }).mark === mark));
}

export const completedFor = (events: AmoEvent[], jobId: string) => events.filter((e) => e.type === 'sync.completed' && e.jobId === jobId);

export const countsOf = (job: SyncJob) => ({ users: job.users, pipelines: job.pipelines, steps: job.steps, fields: job.fields, tags: job.tags });

export interface SyncKit {
  sim: AmoSimulator;
  tdb: TestDatabase;
  db: Db;
  /** A queue (in-process unless `options.queue` says otherwise) and services over it, closed after the test. */
  harness(t: TestContext, options?: { db?: Db; queue?: Partial<QueueOptions> }): Promise<Harness>;
  /** The job once it SUCCEEDED or FAILED. */
  waitForJob(jobId: string, timeoutMs?: number): Promise<SyncJob>;
  /** What the simulator holds for the account, in the cache's shape. */
  expected(amoId: number): ReturnType<typeof expectedOf>;
  /** Asserts the cache equals the simulator's data; returns the expected counts. */
  assertConverged(accountId: string, amoId: number): Promise<{ users: number; pipelines: number; steps: number; fields: number; tags: number }>;
  /** Asserts the account never saw more than 7 requests in a second, nor a refusal by the limiter. */
  assertRateLimit(amoId: number): void;
  stop(): Promise<void>;
}

/** Starts the simulator (7 requests/s, refused requests counted) and creates the database. */
export async function startSyncKit(): Promise<SyncKit> {
  const { sim, tdb, db } = await startSimAndDatabase();

  return {
    sim,
    tdb,
    db,
    async harness(t, options = {}) {
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
    },
    waitForJob(jobId, timeoutMs = 60_000) {
      return waitFor(
        `job ${jobId} finished`,
        async () => {
          const job = await db.syncJob.findUnique({ where: { id: jobId } });
          return job && (job.status === 'SUCCEEDED' || job.status === 'FAILED') ? job : null;
        },
        timeoutMs,
      );
    },
    expected: (amoId) => expectedOf(sim, amoId),
    async assertConverged(accountId, amoId) {
      const have = await cached(db, accountId);
      const want = expectedOf(sim, amoId);
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
    },
    assertRateLimit(amoId) {
      const max = sim.maxRequestsInAnySecond(amoId);
      assert.ok(max <= 7, `the simulator saw ${max} requests in one second for the account (limit 7)`);
      assert.ok(
        sim.requestLog(amoId).every((e) => e.via !== 'rate-limit'),
        'no request was refused by the rate limiter',
      );
    },
    async stop() {
      await tdb.drop();
      await sim.stop();
    },
  };
}

/** The live cache of an account, shaped like the simulator's data. */
async function cached(db: Db, accountId: string) {
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

function expectedOf(sim: AmoSimulator, amoId: number) {
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
