// The webhook receiver against PostgreSQL and the simulator (test/helpers/webhooks.ts): a webhook
// stored once however often and however encoded it comes, 404 / 400 with nothing stored, and an
// answer in time while the queue is slow (the sweep processes what was not published yet).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { subscribeAccountWebhook, sweepUnprocessedEvents } from '../src/features/webhooks/index.ts';
import { TOPICS } from '../src/platform/queue/index.ts';
import type { Services } from '../src/platform/services.ts';
import type { TestDatabase } from './helpers/db.ts';
import { connectSimAccount, testAmoConfig, type ConnectedAccount } from './helpers/amo.ts';
import type { Stack } from './helpers/stack.ts';
import { at } from './helpers/narrow.ts';
import { FORM, form, startWebhookWorld, type WebhookWorld } from './helpers/webhooks.ts';

describe('amoCRM webhooks against PostgreSQL and the simulator', () => {
  let w: WebhookWorld | undefined;
  let testDb: TestDatabase;
  let stack: Stack;
  let services: Services;
  let conn: ConnectedAccount;
  let secret: string;
  let eventCount: WebhookWorld['eventCount'];
  let post: WebhookWorld['post'];
  let leadWithDelivery: WebhookWorld['leadWithDelivery'];
  let otherStatus: WebhookWorld['otherStatus'];
  before(async () => {
    w = await startWebhookWorld();
    ({ testDb, stack, services, conn, secret, eventCount, post, leadWithDelivery, otherStatus } = w);
    // amoCRM posts to the endpoint only once the account's webhook is subscribed there
    assert.equal(await subscribeAccountWebhook(services, conn.accountId), true);
  });
  after(() => w?.stop());

  it('stores a webhook sent twice once', async () => {
    const { leadId, lead } = await leadWithDelivery();
    await stack.sim.changeLeadStatus(conn.amoId, leadId, otherStatus(lead.pipeline_id, lead.status_id));
    const count = await eventCount();
    const replay = await stack.sim.replayLastWebhook(conn.amoId);
    assert.equal(replay.ok, true);
    assert.equal(await eventCount(), count);
    // Same events in another encoding / order: still once.
    const last = stack.sim.webhookDeliveries(conn.amoId).at(-1)!;
    const reordered = new URLSearchParams([...new URLSearchParams(last.body)].reverse()).toString();
    const res = await post(`/webhook/amo/${secret}`, reordered);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { ok: true, stored: 0, duplicates: 2 });
    assert.equal(await eventCount(), count);
  });

  it('stores nothing for a forged secret (404) or a malformed payload (400)', async () => {
    const total = () => testDb.db.webhookEvent.count();
    const before = await total();
    const good = form({ 'leads[status][0][id]': 1, 'leads[status][0][status_id]': 142, 'leads[status][0][pipeline_id]': 1, 'account[id]': conn.amoId });
    for (const forged of [randomBytes(24).toString('hex'), 'x', secret.slice(0, -1)]) {
      const res = await post(`/webhook/amo/${forged}`, good);
      assert.equal(res.status, 404, forged);
    }
    // A disconnected account's secret is forged too.
    const gone = await connectSimAccount(testDb.db, stack.sim, testAmoConfig());
    const goneRow = await testDb.db.amoAccount.update({ where: { id: gone.accountId }, data: { deletedAt: new Date() } });
    assert.equal((await post(`/webhook/amo/${goneRow.webhookSecret}`, form({ 'leads[add][0][id]': 1, 'account[id]': gone.amoId }))).status, 404);

    const malformed: Array<[string, string]> = [
      ['', FORM],
      ['hello', FORM],
      ['account[id]=1', FORM],
      [form({ 'leads[status][0][id]': 'abc', 'leads[status][0][status_id]': 1, 'leads[status][0][pipeline_id]': 1, 'account[id]': conn.amoId }), FORM],
      [`${good}&leads[add]=oops`, FORM],
      ['{"account":{"id":', 'application/json'],
      [good, 'multipart/form-data; boundary=xyz'],
      // Well formed, but for another amoCRM account.
      [form({ 'leads[add][0][id]': 1, 'account[id]': conn.amoId + 1 }), FORM],
    ];
    for (const [body, type] of malformed) {
      const res = await post(`/webhook/amo/${secret}`, body, type);
      assert.equal(res.status, 400, body);
      assert.ok(typeof (await res.json()).error === 'string');
    }
    assert.equal(await total(), before);

    // A well-formed payload the gateway cannot type yet is kept, raw body and all.
    const unknown = form({ 'companies[add][0][id]': 77, 'companies[add][0][name]': 'ACME', 'account[id]': conn.amoId, 'account[subdomain]': 'x' });
    const res = await post(`/webhook/amo/${secret}`, unknown);
    assert.equal(res.status, 200);
    const row = await testDb.db.webhookEvent.findFirstOrThrow({ where: { raw: unknown } });
    assert.equal(row.type, 'unknown');
    assert.equal((row.payload as any).entity, 'companies');
    assert.equal((row.payload as any).data.name, 'ACME');
  });

  it('answers in time while the queue is slow; the sweep processes what is not yet published', async () => {
    const { leadId, delivery, lead } = await leadWithDelivery();
    const target = otherStatus(lead.pipeline_id, lead.status_id);
    // Every amo.tasks publish hangs until the test lets it land (the gateway's queue, patched for this test).
    const queue = stack.gw.app.services.queue;
    const realPublishBatch = queue.publishBatch;
    const pending: Promise<void>[] = [];
    let published = 0;
    let letPublishesLand!: () => void;
    const publishesLand = new Promise<void>((r) => (letPublishesLand = r));
    queue.publishBatch = (topic, messages) => {
      if (topic !== TOPICS.amoTasks) return realPublishBatch.call(queue, topic, messages); // (MemoryQueue.publish goes through here)
      const p = publishesLand.then(() => realPublishBatch.call(queue, topic, messages)).then(() => void published++);
      pending.push(p);
      return p;
    };
    try {
      // The simulator gives up on an attempt after 2 s, as amoCRM does.
      const sent = at(await stack.sim.changeLeadStatus(conn.amoId, leadId, target), 0, 'webhook delivery');
      assert.equal(sent.ok, true);
      assert.equal(sent.attempts.length, 1, 'answered on the first attempt, within the simulator’s 2 s timeout');
      assert.equal(pending.length, 1, 'the publish was started');
      assert.equal(published, 0, 'the answer came before the publish resolved');
      const unprocessed = await testDb.db.webhookEvent.count({ where: { accountId: conn.accountId, processedAt: null } });
      assert.equal(unprocessed, 2);
      assert.equal(Number((await testDb.db.delivery.findUniqueOrThrow({ where: { id: delivery.id } })).leadStatusAmoId) === target, false);

      assert.equal(await sweepUnprocessedEvents(services, { olderThanMs: 60_000 }), 0, 'too young for the sweep');
      assert.equal(await sweepUnprocessedEvents(services, { olderThanMs: 0 }), 2);
      assert.equal((await testDb.db.delivery.findUniqueOrThrow({ where: { id: delivery.id } })).leadStatusAmoId, target);
      assert.equal(await sweepUnprocessedEvents(services, { olderThanMs: 0 }), 0);

      // When the slow publish lands at last, its tasks find nothing to do.
      letPublishesLand();
      await Promise.all(pending);
      assert.equal(published, 1);
    } finally {
      letPublishesLand(); // a failed assertion leaves no publish hanging
      queue.publishBatch = realPublishBatch;
    }
  });
});
