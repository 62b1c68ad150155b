// amoCRM's own webhooks against PostgreSQL and the simulator (test/helpers/webhooks.ts): subscription
// at amoCRM, and processing into the Delivery and a deliveryUpdated subscriber (on another replica
// when KAFKA_BROKERS is set). Parsing: webhooks-parse.test.ts; the receiver: webhooks-receive.test.ts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  leadAtStepWhere,
  leadAtStepWhereById,
  leadOutcome,
  leadOutcomeWhere,
  processWebhookEvent,
  receiveWebhook,
  subscribeAccountWebhook,
  unsubscribeAccountWebhook,
  WEBHOOK_EVENTS,
} from '../src/features/webhooks/index.ts';
import type { Services } from '../src/platform/services.ts';
import type { TestDatabase } from './helpers/db.ts';
import type { ConnectedAccount } from './helpers/amo.ts';
import { kafkaSettings, nextEvent, startStack, wsClient, type Stack } from './helpers/stack.ts';
import { tokenFor } from './helpers/app.ts';
import { until } from './helpers/wait.ts';
import { FORM, form, startWebhookWorld, type WebhookWorld } from './helpers/webhooks.ts';

describe('amoCRM webhooks against PostgreSQL and the simulator', () => {
  let w: WebhookWorld | undefined;
  let testDb: TestDatabase;
  let stack: Stack;
  let services: Services;
  let conn: ConnectedAccount;
  let secret: string;
  let hookUrl: string;
  let leadWithDelivery: WebhookWorld['leadWithDelivery'];
  let otherStatus: WebhookWorld['otherStatus'];
  before(async () => {
    w = await startWebhookWorld();
    ({ testDb, stack, services, conn, secret, hookUrl, leadWithDelivery, otherStatus } = w);
  });
  after(() => w?.stop());

  it('subscribes and unsubscribes the account webhook at amoCRM', async () => {
    assert.equal(await subscribeAccountWebhook(services, conn.accountId), true);
    const hooks = stack.sim.webhooks(conn.amoId);
    assert.equal(hooks.length, 1);
    assert.equal(hooks[0]!.destination, `${hookUrl}/webhook/amo/${secret}`);
    assert.deepEqual([...hooks[0]!.settings].sort(), [...WEBHOOK_EVENTS].sort());
    // Again (a reconnect): still one.
    assert.equal(await subscribeAccountWebhook(services, conn.accountId), true);
    assert.equal(stack.sim.webhooks(conn.amoId).length, 1);

    const account = await testDb.db.amoAccount.findUniqueOrThrow({ where: { id: conn.accountId } });
    assert.equal(await unsubscribeAccountWebhook(services, account), true);
    assert.equal(stack.sim.webhooks(conn.amoId).length, 0);
    const log = stack.sim.requestLog(conn.amoId).filter((r) => r.path.startsWith('/api/v4/webhooks'));
    assert.deepEqual(
      log.map((r) => `${r.method} ${r.status}`),
      ['POST 200', 'POST 200', 'DELETE 204'],
    );

    // A failure is reported, never thrown.
    stack.sim.injectFault(conn.amoId, { kind: '5xx', status: 503, count: 1, path: '/api/v4/webhooks' });
    assert.equal(await subscribeAccountWebhook(services, conn.accountId, { client: { maxRetries: 0 } }), false);
    assert.equal(await subscribeAccountWebhook(services, randomUUID()), false);
    assert.equal(await subscribeAccountWebhook(services, conn.accountId), true);
  });

  it('a status change at amoCRM reaches the Delivery (step, pipeline, time) and a deliveryUpdated subscriber', async () => {
    const kafka = kafkaSettings();
    assert.equal(stack.gw.app.services.queue.kind, process.env.KAFKA_BROKERS ? 'kafka' : 'memory');
    // Another replica when a broker is there (the event must cross Kafka); else this one.
    const other =
      stack.gw.app.services.queue.kind === 'kafka'
        ? await startStack(testDb, { sim: stack.sim, config: { ...kafka, KAFKA_TOPIC_PREFIX: stack.gw.config.kafka.topicPrefix } })
        : null;
    try {
      const replica = other ?? stack;
      const { leadId, delivery, lead } = await leadWithDelivery('quiz-live');
      const target = otherStatus(lead.pipeline_id, lead.status_id);
      const client = wsClient(replica.gw.url, await tokenFor(conn.quizAccountId));
      try {
        const sub = nextEvent(
          client,
          'subscription { deliveryUpdated(quizId: "quiz-live") { id status } }',
          {},
          () => replica.gw.app.services.pubsub.listening('delivery.updated', conn.quizAccountId) > 0,
        );
        await sub.ready;
        const sent = await stack.sim.changeLeadStatus(conn.amoId, leadId, target);
        assert.equal(sent.length, 1);
        assert.equal(sent[0]!.ok, true);
        assert.equal(sent[0]!.attempts.length, 1, 'answered on the first attempt');
        assert.deepEqual([...sent[0]!.events].sort(), ['status_lead', 'update_lead']);

        const pushed = await sub.value;
        assert.equal(pushed.deliveryUpdated.status, 'DELIVERED');
        const row = await testDb.db.delivery.findUniqueOrThrow({ where: { id: delivery.id } });
        assert.equal(row.leadStatusAmoId, target);
        assert.equal(row.leadPipelineAmoId, lead.pipeline_id);
        assert.equal(leadOutcome(row), 'open');
        // Both events stored, both processed; the time is the event's own.
        const events = await testDb.db.webhookEvent.findMany({ where: { accountId: conn.accountId, payload: { path: ['leadId'], equals: leadId } } });
        assert.deepEqual(events.map((e) => e.type).sort(), ['lead.status', 'lead.updated']);
        const statusEvent = events.find((e) => e.type === 'lead.status')!;
        const sentAt = Number(new URLSearchParams(sent[0]!.body).get('leads[status][0][updated_at]'));
        assert.equal((statusEvent.payload as any).occurredAt, sentAt);
        assert.equal(row.leadStatusChangedAt?.getTime(), sentAt * 1000);
        await until('both events processed', async () => (await testDb.db.webhookEvent.count({ where: { id: { in: events.map((e) => e.id) }, processedAt: null } })) === 0);
      } finally {
        await client.dispose();
      }

      // Won: the outcome and the step filter follow.
      await stack.sim.changeLeadStatus(conn.amoId, leadId, 142);
      await until('won', async () => Number((await testDb.db.delivery.findUniqueOrThrow({ where: { id: delivery.id } })).leadStatusAmoId) === 142);
      const won = await testDb.db.delivery.findUniqueOrThrow({ where: { id: delivery.id } });
      assert.equal(leadOutcome(won), 'won');
      const pipeline = await testDb.db.pipeline.create({ data: { accountId: conn.accountId, amoId: lead.pipeline_id, name: 'P' } });
      const step = await testDb.db.step.create({ data: { accountId: conn.accountId, pipelineId: pipeline.id, amoId: 142, name: 'Won' } });
      const atStep = await testDb.db.delivery.findMany({
        where: leadAtStepWhere({ accountId: conn.accountId, pipelineAmoId: lead.pipeline_id, statusAmoId: 142 }),
        select: { id: true },
      });
      assert.deepEqual(
        atStep.map((d) => d.id),
        [delivery.id],
      );
      const byId = await testDb.db.delivery.findMany({ where: await leadAtStepWhereById(testDb.db, step.id, conn.quizAccountId), select: { id: true } });
      assert.deepEqual(
        byId.map((d) => d.id),
        [delivery.id],
      );
      assert.equal((await testDb.db.delivery.findMany({ where: await leadAtStepWhereById(testDb.db, step.id, 'someone-else') })).length, 0);
      assert.equal((await testDb.db.delivery.findMany({ where: { id: delivery.id, ...leadOutcomeWhere('won') } })).length, 1);
      assert.equal((await testDb.db.delivery.findMany({ where: { id: delivery.id, ...leadOutcomeWhere('open') } })).length, 0);

      // The same through GraphQL, as the owner sees it (and never for another tenant).
      const stepGid = Buffer.from(`Step:${step.id}`).toString('base64');
      const query = `query($step: ID) { deliveries(stepId: $step) { totalCount edges { node { leadOutcome leadStep { name } leadStatusAmoId } } }
        won: deliveries(outcome: WON) { totalCount } open: deliveries(outcome: OPEN) { totalCount } }`;
      const owner = await stack.gw.gql(query, { step: stepGid }, await tokenFor(conn.quizAccountId));
      assert.equal(owner.errors, undefined, JSON.stringify(owner.errors));
      assert.equal(owner.data.deliveries.totalCount, 1, JSON.stringify(owner.data));
      assert.deepEqual(owner.data.deliveries.edges[0].node, { leadOutcome: 'WON', leadStep: { name: 'Won' }, leadStatusAmoId: 142 });
      assert.equal(owner.data.won.totalCount, 1);
      assert.equal(owner.data.open.totalCount, 0);
      const stranger = await stack.gw.gql(query, { step: stepGid }, await tokenFor('someone-else'));
      assert.equal(stranger.data.deliveries.totalCount, 0);
      assert.equal(stranger.data.won.totalCount, 0);
    } finally {
      await other?.stop();
    }
  });

  it('ignores an older event arriving after a newer one, and leads the gateway did not create', async () => {
    const { leadId, delivery, lead } = await leadWithDelivery();
    const target = otherStatus(lead.pipeline_id, lead.status_id);
    await stack.sim.changeLeadStatus(conn.amoId, leadId, target);
    const row = await until('status', async () => {
      const d = await testDb.db.delivery.findUniqueOrThrow({ where: { id: delivery.id } });
      return Number(d.leadStatusAmoId) === target && d;
    });
    const newerAt = row.leadStatusChangedAt!.getTime() / 1000;
    const old = form({
      'leads[status][0][id]': leadId,
      'leads[status][0][status_id]': 143,
      'leads[status][0][pipeline_id]': lead.pipeline_id,
      'leads[status][0][updated_at]': newerAt - 60,
      'account[id]': conn.amoId,
    });
    const answer = await receiveWebhook(services, secret, FORM, old);
    assert.equal(answer.status, 200);
    const stored = await testDb.db.webhookEvent.findFirstOrThrow({ where: { accountId: conn.accountId, raw: old } });
    await processWebhookEvent(services, stored.id); // whichever gets it first, the other does nothing
    const after = await testDb.db.delivery.findUniqueOrThrow({ where: { id: delivery.id } });
    assert.equal(after.leadStatusAmoId, target);
    assert.equal(after.leadStatusChangedAt?.getTime(), row.leadStatusChangedAt?.getTime());
    assert.equal(await processWebhookEvent(services, stored.id), false, 'processed once');

    // A lead that no Delivery created: stored and processed, nothing else changes.
    const before = await testDb.db.delivery.findMany({ orderBy: { id: 'asc' } });
    const stranger = form({ 'leads[status][0][id]': 987654, 'leads[status][0][status_id]': 142, 'leads[status][0][pipeline_id]': lead.pipeline_id, 'account[id]': conn.amoId });
    assert.equal((await receiveWebhook(services, secret, FORM, stranger)).status, 200);
    const ev = await testDb.db.webhookEvent.findFirstOrThrow({ where: { raw: stranger } });
    await until('processed', async () => (await testDb.db.webhookEvent.findUniqueOrThrow({ where: { id: ev.id } })).processedAt);
    assert.deepEqual(await testDb.db.delivery.findMany({ orderBy: { id: 'asc' } }), before);
  });
});
