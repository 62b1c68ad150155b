// The amo.events relay (src/platform/event-relay.ts) over a fake outbox and a fake queue, on fake
// timers: rows are published oldest first under their ids and deleted; while the broker refuses
// or does not answer they stay and are retried after doubling delays; nothing is lost. The
// de-duplication of repeats by bridgeEvents. Real PostgreSQL and Kafka: event-outbox.test.ts.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import { relayBackoff, relayEvents, type EventOutboxStore, type OutboxEvent } from '../src/platform/event-relay.ts';
import { bridgeEvents, createGatewayPubSub } from '../src/platform/events.ts';
import { createLogger } from '../src/platform/logger.ts';
import { createQueue, TOPICS } from '../src/platform/queue/index.ts';

const logger = createLogger({ level: 'silent' });

interface Row extends OutboxEvent {
  dueAt: number;
  lockedUntil: number;
  lastError?: string;
}

/** The outbox in memory, with the store's semantics (due, not leased, oldest first; the clock is Date.now). */
function fakeStore() {
  const rows = new Map<string, Row>();
  let n = 0;
  const errors: string[] = [];
  const store: EventOutboxStore = {
    async claim(limit, leaseMs) {
      const now = Date.now();
      const due = [...rows.values()].filter((r) => r.dueAt <= now && r.lockedUntil < now).slice(0, limit);
      for (const r of due) {
        r.attempts += 1;
        r.lockedUntil = now + leaseMs;
      }
      // the real store's RETURNING has no order either
      return due.map((r) => ({ ...r, payload: { ...r.payload } })).reverse();
    },
    async published(ids) {
      for (const id of ids) rows.delete(id);
    },
    async retryLater(list, error) {
      errors.push(error);
      for (const { id, delayMs } of list) {
        const r = rows.get(id)!;
        r.dueAt = Date.now() + delayMs;
        r.lockedUntil = 0;
        r.lastError = error;
      }
    },
  };
  const add = (payload: Record<string, unknown>) => {
    const id = `ev-${++n}`;
    rows.set(id, { id, quizAccountId: String(payload.quizAccountId), payload, attempts: 0, createdAt: new Date(Date.now() + n), dueAt: 0, lockedUntil: 0 });
    return id;
  };
  return { store, rows, add, errors };
}

/** A queue whose publishBatch does what `mode` says: take the messages, refuse them, or never answer. */
function fakeQueue() {
  const sent: { key: string; value: any }[] = [];
  let mode: 'up' | 'down' | 'hang' = 'up';
  let calls = 0;
  return {
    sent,
    get calls() {
      return calls;
    },
    set mode(m: 'up' | 'down' | 'hang') {
      mode = m;
    },
    queue: {
      async publishBatch(topic: string, messages: { key: string; value: unknown }[]) {
        calls++;
        assert.equal(topic, TOPICS.amoEvents);
        if (mode === 'down') throw new Error('broker down');
        if (mode === 'hang') return new Promise<void>(() => {});
        sent.push(...(messages as { key: string; value: any }[]));
      },
    },
  };
}

/** Lets every pending promise callback run (fake timers leave setImmediate alone). */
const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

describe('relayEvents', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: 1_000_000 }));
  afterEach(() => mock.timers.reset());

  test('flush publishes the pending rows oldest first, each under its id and keyed by its tenant, then deletes them', async () => {
    const { store, rows, add } = fakeStore();
    const q = fakeQueue();
    const relay = relayEvents({ store, queue: q.queue, logger });
    const a = add({ type: 'sync.completed', quizAccountId: 'qa', accountId: 'acc-a', jobId: 'j1' });
    const b = add({ type: 'token.stale', quizAccountId: 'qb', accountId: 'acc-b' });
    await relay.flush();
    assert.deepEqual(q.sent, [
      { key: 'qa', value: { type: 'sync.completed', quizAccountId: 'qa', accountId: 'acc-a', jobId: 'j1', id: a } },
      { key: 'qb', value: { type: 'token.stale', quizAccountId: 'qb', accountId: 'acc-b', id: b } },
    ]);
    assert.equal(rows.size, 0);
    await relay.stop();
  });

  test('while the broker is down the rows stay and are retried after doubling delays; once it is back they are published once', async () => {
    const { store, rows, add, errors } = fakeStore();
    const q = fakeQueue();
    const relay = relayEvents({ store, queue: q.queue, logger, backoffMs: 500, maxBackoffMs: 4_000 });
    const id = add({ type: 'sync.completed', quizAccountId: 'qa', accountId: 'acc', jobId: 'j1' });
    q.mode = 'down';
    await relay.flush();
    assert.equal(q.calls, 1);
    assert.equal(rows.get(id)?.attempts, 1, 'the row stays');
    assert.deepEqual(errors, ['broker down']);
    // retries at 500, then 1000, 2000, 4000, 4000 ms later
    for (const [delay, calls] of [
      [499, 1],
      [1, 2],
      [1_000, 3],
      [2_000, 4],
      [4_000, 5],
      [4_000, 6],
    ] as const) {
      mock.timers.tick(delay);
      await settle();
      assert.equal(q.calls, calls, `after ${delay} ms more`);
    }
    assert.equal(rows.get(id)?.attempts, 6);
    q.mode = 'up';
    mock.timers.tick(4_000);
    await settle();
    assert.equal(q.sent.length, 1);
    assert.equal(q.sent[0]!.value.id, id);
    assert.equal(rows.size, 0);
    // nothing more is tried once the outbox is empty
    mock.timers.tick(60_000);
    await settle();
    assert.equal(q.calls, 7);
    await relay.stop();
  });

  test('a publish the broker does not answer counts as failed after publishTimeoutMs: the row is retried, not lost', async () => {
    const { store, rows, add } = fakeStore();
    const q = fakeQueue();
    const relay = relayEvents({ store, queue: q.queue, logger, publishTimeoutMs: 1_000, backoffMs: 100 });
    const id = add({ type: 'token.stale', quizAccountId: 'qa', accountId: 'acc' });
    q.mode = 'hang';
    const flushed = relay.flush();
    await settle();
    mock.timers.tick(1_000);
    await flushed;
    assert.equal(rows.get(id)?.attempts, 1);
    assert.equal(rows.get(id)!.lastError, 'the broker did not take the events within 1000 ms');
    q.mode = 'up';
    mock.timers.tick(100);
    await settle();
    assert.deepEqual(
      q.sent.map((m) => m.value.id),
      [id],
    );
    assert.equal(rows.size, 0);
    await relay.stop();
  });

  test('a flush during a pass is answered by a pass after it: rows written meanwhile are published too', async () => {
    const { store, rows, add } = fakeStore();
    const q = fakeQueue();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const publishBatch = q.queue.publishBatch;
    q.queue.publishBatch = async (topic, messages) => {
      await gate;
      return publishBatch(topic, messages);
    };
    const relay = relayEvents({ store, queue: q.queue, logger });
    add({ type: 'token.stale', quizAccountId: 'qa', accountId: 'a1' });
    const first = relay.flush();
    await settle();
    add({ type: 'token.stale', quizAccountId: 'qa', accountId: 'a2' });
    const second = relay.flush();
    const third = relay.flush();
    release();
    await Promise.all([first, second, third]);
    assert.deepEqual(
      q.sent.map((m) => m.value.accountId),
      ['a1', 'a2'],
    );
    assert.equal(q.calls, 2, 'the second and third flush share one pass');
    assert.equal(rows.size, 0);
    await relay.stop();
  });

  test('more rows than a batch are published batch after batch in one pass', async () => {
    const { store, rows, add } = fakeStore();
    const q = fakeQueue();
    const relay = relayEvents({ store, queue: q.queue, logger, batch: 2 });
    for (let i = 0; i < 5; i++) add({ type: 'token.stale', quizAccountId: 'qa', accountId: `a${i}` });
    await relay.flush();
    assert.deepEqual(
      q.sent.map((m) => m.value.accountId),
      ['a0', 'a1', 'a2', 'a3', 'a4'],
    );
    assert.equal(q.calls, 3);
    assert.equal(rows.size, 0);
    await relay.stop();
  });

  test('the sweep publishes rows nobody woke the relay for (another replica left them); stop ends it', async () => {
    const { store, rows, add } = fakeStore();
    const q = fakeQueue();
    const relay = relayEvents({ store, queue: q.queue, logger, pollMs: 5_000 });
    add({ type: 'token.stale', quizAccountId: 'qa', accountId: 'left' });
    mock.timers.tick(4_999);
    await settle();
    assert.equal(q.sent.length, 0);
    mock.timers.tick(1);
    await settle();
    assert.equal(q.sent.length, 1);
    assert.equal(rows.size, 0);
    await relay.stop();
    add({ type: 'token.stale', quizAccountId: 'qa', accountId: 'after-stop' });
    mock.timers.tick(10_000);
    await settle();
    await relay.flush();
    assert.equal(q.sent.length, 1, 'a stopped relay publishes nothing');
    assert.equal(rows.size, 1, 'and the row stays for another replica');
  });

  test('a failing database is retried later, its rows untouched', async () => {
    const { store, rows, add } = fakeStore();
    const q = fakeQueue();
    const claim = store.claim;
    let broken = true;
    store.claim = (limit, leaseMs) => (broken ? Promise.reject(new Error('connection refused')) : claim(limit, leaseMs));
    const relay = relayEvents({ store, queue: q.queue, logger, maxBackoffMs: 2_000 });
    add({ type: 'token.stale', quizAccountId: 'qa', accountId: 'a' });
    await relay.flush();
    assert.equal(rows.size, 1);
    broken = false;
    mock.timers.tick(2_000);
    await settle();
    assert.equal(q.sent.length, 1);
    assert.equal(rows.size, 0);
    await relay.stop();
  });

  test('relayBackoff doubles from backoffMs up to maxBackoffMs', () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((n) => relayBackoff(n, 500, 8_000)),
      [500, 1_000, 2_000, 4_000, 8_000, 8_000],
    );
  });
});

describe('bridgeEvents', () => {
  test('an event repeated under its id reaches the subscribers once; events without an id (delivery.updated) pass as they are', async () => {
    const queue = await createQueue({ logger });
    const pubsub = createGatewayPubSub();
    const bridge = await bridgeEvents(queue, pubsub);
    const heard = pubsub.subscribe('token.stale', 'qa')[Symbol.asyncIterator]();
    const deliveries = pubsub.subscribe('delivery.updated', 'qa')[Symbol.asyncIterator]();
    const first = heard.next();
    const firstDelivery = deliveries.next();
    const stale = (id: string) => ({ type: 'token.stale', quizAccountId: 'qa', accountId: 'acc', id });
    const delivery = { type: 'delivery.updated', quizAccountId: 'qa', deliveryId: 'd1', quizId: 'q', status: 'DELIVERED' };
    await queue.publishBatch(TOPICS.amoEvents, [
      { key: 'qa', value: stale('e1') },
      { key: 'qa', value: stale('e1') },
      { key: 'qa', value: delivery },
      { key: 'qa', value: delivery },
      { key: 'qa', value: stale('e2') },
    ]);
    assert.deepEqual((await first).value, stale('e1'));
    assert.deepEqual((await heard.next()).value, stale('e2'), 'the repeat of e1 was dropped');
    assert.deepEqual((await firstDelivery).value, delivery);
    assert.deepEqual((await deliveries.next()).value, delivery);
    await heard.return?.();
    await deliveries.return?.();
    await bridge.stop();
    await queue.close();
  });
});
