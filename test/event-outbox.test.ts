// amo.events' outbox against real PostgreSQL (and a real Kafka broker when KAFKA_BROKERS is set):
// the event is a row of the transaction that causes it (none when it rolls back), the relay
// publishes it under the row's id and deletes it, a row whose writer died before relaying it is
// published by another replica's sweep, two replicas publish each row once, and a refused publish
// leaves the row for a later try. The relay's timing on fakes: event-relay.test.ts. A broker
// restart during a sync: test/sync.test.ts.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test, type TestContext } from 'node:test';
import { seedDemoAccount } from '../src/dev/seed-data.ts';
import { finishJob } from '../src/features/catalogue/jobs.ts';
import { createEventOutboxStore, enqueueEvents } from '../src/platform/event-outbox.ts';
import { relayEvents } from '../src/platform/event-relay.ts';
import { createLogger } from '../src/platform/logger.ts';
import { createQueue, parseBrokers, TOPICS, type Queue } from '../src/platform/queue/index.ts';
import { createServices } from '../src/platform/services.ts';
import { testConfig } from './helpers/app.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { brokerAdmin } from './helpers/kafka.ts';
import { until } from './helpers/wait.ts';

const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const brokers = parseBrokers(process.env.KAFKA_BROKERS);
const runId = `eo-${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`;
let tdb: TestDatabase;

before(async () => {
  tdb = await createTestDatabase();
});
after(async () => {
  await tdb?.drop();
});

const outbox = () => tdb.db.eventOutbox.findMany({ orderBy: { createdAt: 'asc' } });

/** An amo.events message as the relay publishes it. */
type Published = { type: string; quizAccountId: string; id?: string; jobId?: string };

/** A queue (Kafka when a broker is given: its own topics) and every amo.events message it carries. */
async function recordingQueue(t: TestContext, name: string): Promise<{ queue: Queue; events: Published[]; topic: string }> {
  const topicPrefix = `${runId}-${name}.`;
  const queue = await createQueue({ brokers, topicPrefix, logger, partitions: 1, retryBackoffMs: 50, shutdownGraceMs: 1_000 });
  t.after(() => queue.close());
  const events: Published[] = [];
  await queue.broadcast(TOPICS.amoEvents, async (m) => {
    events.push(m.value as Published);
  });
  return { queue, events, topic: `${topicPrefix}${TOPICS.amoEvents}` };
}

async function servicesOver(t: TestContext, queue: Queue, eventSweepMs = 0) {
  const services = await createServices({ config: testConfig(), db: tdb.db, queue, logger, metrics: false, eventSweepMs });
  t.after(() => services.close());
  return services;
}

describe('event outbox', () => {
  test('the stale transition writes token.stale in its own transaction: none when it rolls back, one per transition', async () => {
    const { id: accountId, quizAccountId } = await seedDemoAccount(tdb.db, { quizAccountId: `stale-${randomBytes(3).toString('hex')}`, pipelines: 1 });
    const mine = async () => (await outbox()).filter((r) => r.quizAccountId === quizAccountId);
    await assert.rejects(
      tdb.db.$transaction(async (tx) => {
        await tx.$executeRaw`UPDATE amo_account SET stale = true WHERE id = ${accountId}::uuid`;
        throw new Error('rolled back');
      }),
      /rolled back/,
    );
    assert.deepEqual(await mine(), []);
    await tdb.db.$executeRaw`UPDATE amo_account SET stale = true, stale_at = now() WHERE id = ${accountId}::uuid AND stale = false`;
    await tdb.db.$executeRaw`UPDATE amo_account SET stale = true, updated_at = now() WHERE id = ${accountId}::uuid`;
    const rows = await mine();
    assert.deepEqual(
      rows.map((r) => r.payload),
      [{ type: 'token.stale', quizAccountId, accountId }],
    );
    await tdb.db.eventOutbox.deleteMany({ where: { quizAccountId } });
  });

  test('finishJob writes sync.completed with the job; the relay publishes it under the row id and deletes the row', async (t) => {
    const rec = await recordingQueue(t, 'finish');
    const services = await servicesOver(t, rec.queue);
    const { id: accountId, quizAccountId } = await seedDemoAccount(tdb.db, { quizAccountId: `fin-${randomBytes(3).toString('hex')}`, pipelines: 1 });
    const job = await tdb.db.syncJob.create({ data: { accountId, scopes: [], status: 'RUNNING', attempts: 1, startedAt: new Date() } });
    assert.equal(await finishJob(services, job, 'SUCCEEDED', { users: 1, pipelines: 1, steps: 0, fields: 0, tags: 0 }, null), true);
    await until('sync.completed on amo.events', async () => rec.events.some((e) => e.type === 'sync.completed' && e.jobId === job.id));
    const event = rec.events.find((e) => e.type === 'sync.completed' && e.jobId === job.id)!;
    const rowId = event.id;
    assert.match(rowId ?? '', /^[0-9a-f-]{36}$/, 'the event carries its outbox id');
    assert.deepEqual(event, { type: 'sync.completed', quizAccountId, accountId, jobId: job.id, id: rowId });
    await until('the row deleted', async () => (await tdb.db.eventOutbox.count({ where: { id: rowId } })) === 0);
    // a second finish of the same job is no transition: no second event
    assert.equal(await finishJob(services, job, 'FAILED', { users: 0, pipelines: 0, steps: 0, fields: 0, tags: 0 }, 'late'), false);
    assert.equal(await tdb.db.eventOutbox.count({ where: { quizAccountId } }), 0);
  });

  test('a row whose writer died before relaying it (committed, never published) is published by another replica’s sweep', async (t) => {
    const rec = await recordingQueue(t, 'sweep');
    const quizAccountId = `left-${randomBytes(3).toString('hex')}`;
    // the dead replica's commit: the row, and nothing relayed it
    await enqueueEvents(tdb.db, [{ type: 'token.stale', quizAccountId, accountId: '00000000-0000-0000-0000-000000000001' }]);
    const [left] = await tdb.db.eventOutbox.findMany({ where: { quizAccountId } });
    await servicesOver(t, rec.queue, 100);
    await until('the left row published', async () => rec.events.some((e) => e.id === left!.id));
    await until('and deleted', async () => (await tdb.db.eventOutbox.count({ where: { quizAccountId } })) === 0);
    assert.deepEqual(
      rec.events.filter((e) => e.quizAccountId === quizAccountId),
      [{ type: 'token.stale', quizAccountId, accountId: '00000000-0000-0000-0000-000000000001', id: left!.id }],
    );
  });

  test('two replicas relaying the same outbox at once publish each row once', async (t) => {
    const rec = await recordingQueue(t, 'two');
    const quizAccountId = `two-${randomBytes(3).toString('hex')}`;
    const n = 120;
    await enqueueEvents(
      tdb.db,
      Array.from({ length: n }, (_, i) => ({ type: 'sync.completed' as const, quizAccountId, accountId: 'acc', jobId: `job-${i}` })),
    );
    const store = createEventOutboxStore(tdb.db);
    const a = relayEvents({ store, queue: rec.queue, logger, batch: 7 });
    const b = relayEvents({ store, queue: rec.queue, logger, batch: 7 });
    t.after(() => Promise.all([a.stop(), b.stop()]));
    await Promise.all([a.flush(), b.flush(), a.flush(), b.flush()]);
    assert.equal(await tdb.db.eventOutbox.count({ where: { quizAccountId } }), 0);
    await until('every event taken in', async () => rec.events.filter((e) => e.quizAccountId === quizAccountId).length >= n);
    if (brokers.length > 0) {
      const admin = await brokerAdmin(brokers);
      t.after(() => admin.close());
      assert.equal(await admin.messages(rec.topic), n, 'the topic holds each event once');
    }
    const ids = rec.events.filter((e) => e.quizAccountId === quizAccountId).map((e) => e.id);
    assert.equal(ids.length, n);
    assert.equal(new Set(ids).size, n, 'no event twice');
  });

  test('a refused publish leaves the row, with its error, due again after the backoff; then it is published', async (t) => {
    const rec = await recordingQueue(t, 'refused');
    const quizAccountId = `ref-${randomBytes(3).toString('hex')}`;
    await enqueueEvents(tdb.db, [{ type: 'token.stale', quizAccountId, accountId: 'acc' }]);
    let refuse = true;
    const queue = {
      publishBatch: (topic: typeof TOPICS.amoEvents, messages: { key: string; value: unknown }[]) =>
        refuse ? Promise.reject(new Error('There is no leader for this topic-partition')) : rec.queue.publishBatch(topic, messages),
    };
    const relay = relayEvents({ store: createEventOutboxStore(tdb.db), queue, logger, backoffMs: 300 });
    t.after(() => relay.stop());
    await relay.flush();
    const [kept] = await tdb.db.eventOutbox.findMany({ where: { quizAccountId } });
    assert.ok(kept, 'the row stays');
    assert.equal(kept.attempts, 1);
    assert.equal(kept.lastError, 'There is no leader for this topic-partition');
    assert.equal(kept.lockedUntil, null);
    assert.ok(kept.nextAttemptAt > kept.createdAt, 'due again later');
    refuse = false;
    // the relay's own retry, after the backoff
    await until('published after the retry', async () => rec.events.some((e) => e.id === kept.id));
    assert.equal(await tdb.db.eventOutbox.count({ where: { quizAccountId } }), 0);
  });
});
