// amoCRM's own webhooks: parsing (pure), subscription at the simulator, the receiver (store once,
// 404 / 400 with nothing stored, in time while the queue is slow) and processing into the
// Delivery and a deliveryUpdated subscriber (on another replica when KAFKA_BROKERS is set).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import {
  eventHash,
  handleAmoWebhookRequest,
  leadAtStepWhere,
  leadAtStepWhereById,
  leadOutcome,
  leadOutcomeWhere,
  parseAmoWebhook,
  processWebhookEvent,
  receiveWebhook,
  subscribeAccountWebhook,
  sweepUnprocessedEvents,
  unsubscribeAccountWebhook,
  webhookDestination,
  webhookEventTaskHandler,
  webhookSecretFromPath,
  WebhookParseError,
  WEBHOOK_EVENTS,
} from '../src/features/webhooks/index.ts';
import { handleAmoTask } from '../src/features/catalogue/worker.ts';
import { TOPICS, type Subscription } from '../src/platform/queue/index.ts';
import type { Services } from '../src/platform/services.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { connectSimAccount, testAmoConfig, type ConnectedAccount } from './helpers/amo.ts';
import { kafkaSettings, nextEvent, startStack, wsClient, type Stack } from './helpers/stack.ts';
import { tokenFor } from './helpers/app.ts';
import { until } from './helpers/wait.ts';
import { at, defined, only } from './helpers/narrow.ts';

const FORM = 'application/x-www-form-urlencoded';
const form = (pairs: Record<string, string | number>) => new URLSearchParams(Object.entries(pairs).map(([k, v]) => [k, String(v)])).toString();

// ---------------------------------------------------------------------------------------------
describe('parseAmoWebhook', () => {
  const account = { 'account[subdomain]': 'demo', 'account[id]': 29000001, 'account[_links][self]': 'https://demo.amocrm.ru' };

  it('types a status change (and the update that comes with it)', () => {
    const body = form({
      'leads[status][0][id]': 123,
      'leads[status][0][status_id]': 142,
      'leads[status][0][pipeline_id]': 7,
      'leads[status][0][old_status_id]': 55,
      'leads[status][0][old_pipeline_id]': 6,
      'leads[status][0][name]': 'Quiz lead',
      'leads[status][0][last_modified]': 1700000000,
      'leads[status][0][updated_at]': 1700000001,
      'leads[status][0][custom_fields][0][id]': 9,
      'leads[status][0][custom_fields][0][values][0][value]': 'x',
      'leads[update][0][id]': 123,
      'leads[update][0][status_id]': 142,
      'leads[update][0][pipeline_id]': 7,
      'leads[update][0][updated_at]': 1700000001,
      ...account,
    });
    const parsed = parseAmoWebhook(`${FORM}; charset=UTF-8`, body);
    assert.deepEqual(parsed.account, { id: 29000001, subdomain: 'demo' });
    assert.equal(parsed.events.length, 2);
    const [status, update] = [at(parsed.events, 0), at(parsed.events, 1)];
    assert.equal(status.kind, 'lead.status');
    assert.equal(status.leadId, 123);
    assert.equal(status.statusId, 142);
    assert.equal(status.pipelineId, 7);
    assert.equal(status.oldStatusId, 55);
    assert.equal(status.oldPipelineId, 6);
    assert.equal(status.occurredAt, 1700000001);
    assert.equal(status.name, 'Quiz lead');
    assert.deepEqual(status.data.custom_fields, { '0': { id: '9', values: { '0': { value: 'x' } } } });
    assert.equal(update.kind, 'lead.updated');
    assert.equal(update.statusId, 142);
  });

  it('types added, deleted, contact and note events', () => {
    const body = form({
      'leads[add][0][id]': 1,
      'leads[add][0][status_id]': 10,
      'leads[add][0][pipeline_id]': 2,
      'leads[add][0][created_at]': 1700000000,
      'leads[delete][0][id]': 3,
      'leads[delete][0][status_id]': 10,
      'leads[delete][0][pipeline_id]': 2,
      'contacts[add][0][id]': 4,
      'contacts[add][0][name]': 'Ann',
      'contacts[update][0][id]': 5,
      'contacts[update][0][updated_at]': 1700000005,
      'leads[note][0][note][id]': 6,
      'leads[note][0][note][text]': 'called',
      'leads[note][0][note][element_id]': 1,
      'leads[note][0][note][element_type]': 2,
      'leads[note][0][note][date_create]': 1700000006,
      'leads[note][0][type]': 'lead',
      ...account,
    });
    const events = parseAmoWebhook(FORM, body).events;
    const byKind = Object.fromEntries(events.map((e) => [e.kind, e]));
    const of = (kind: string) => defined(byKind[kind], `${kind} event`);
    assert.deepEqual(Object.keys(byKind).sort(), ['contact.added', 'contact.updated', 'lead.added', 'lead.deleted', 'note.added']);
    assert.equal(of('lead.added').leadId, 1);
    assert.equal(of('lead.added').statusId, 10);
    assert.equal(of('lead.added').occurredAt, 1700000000);
    assert.equal(of('lead.deleted').leadId, 3);
    assert.equal(of('contact.added').contactId, 4);
    assert.equal(of('contact.added').name, 'Ann');
    assert.equal(of('contact.updated').occurredAt, 1700000005);
    assert.deepEqual(
      { leadId: of('note.added').leadId, noteId: of('note.added').noteId, text: of('note.added').text, at: of('note.added').occurredAt },
      { leadId: 1, noteId: 6, text: 'called', at: 1700000006 },
    );
  });

  it('keeps sections it cannot type as `unknown`', () => {
    const events = parseAmoWebhook(FORM, form({ 'companies[add][0][id]': 8, 'task[update][0][id]': 9, ...account })).events;
    assert.deepEqual(
      events.map((e) => [e.kind, e.entity, e.action]),
      [
        ['unknown', 'companies', 'add'],
        ['unknown', 'task', 'update'],
      ],
    );
  });

  it('reads JSON bodies, and the same event hashes alike in both encodings', () => {
    const json = JSON.stringify({
      leads: { status: [{ id: 123, status_id: 142, pipeline_id: 7, old_status_id: 55 }] },
      account: { id: 29000001, subdomain: 'demo' },
    });
    const fromJson = parseAmoWebhook('application/json', json);
    const fromForm = parseAmoWebhook(
      FORM,
      form({ 'leads[status][0][id]': 123, 'leads[status][0][status_id]': 142, 'leads[status][0][pipeline_id]': 7, 'leads[status][0][old_status_id]': 55, 'account[id]': 29000001 }),
    );
    const jsonEvent = at(fromJson.events, 0);
    assert.equal(jsonEvent.kind, 'lead.status');
    assert.equal(jsonEvent.statusId, 142);
    assert.equal(eventHash(jsonEvent), eventHash(at(fromForm.events, 0)));
    // Without a content type the body is sniffed.
    assert.equal(at(parseAmoWebhook(undefined, json).events, 0).leadId, 123);
  });

  it('hashes different events differently and ignores the parameter order', () => {
    const a = at(parseAmoWebhook(FORM, 'leads[status][0][id]=1&leads[status][0][status_id]=2&leads[status][0][pipeline_id]=3&account[id]=1').events, 0);
    const b = at(parseAmoWebhook(FORM, 'account[id]=1&leads[status][0][pipeline_id]=3&leads[status][0][status_id]=2&leads[status][0][id]=1').events, 0);
    const c = at(parseAmoWebhook(FORM, 'leads[status][0][id]=1&leads[status][0][status_id]=4&leads[status][0][pipeline_id]=3&account[id]=1').events, 0);
    assert.equal(eventHash(a), eventHash(b));
    assert.notEqual(eventHash(a), eventHash(c));
  });

  it('rejects what is not an amoCRM webhook with a clear error', () => {
    const bad: Array<[string | undefined, string, RegExp]> = [
      [FORM, '', /empty body/],
      [FORM, 'leads[status][0][id]=1&leads[status][0][status_id]=2&leads[status][0][pipeline_id]=3', /no account/],
      [FORM, 'account[id]=1', /no events/],
      [FORM, 'account[id]=abc&leads[add][0][id]=1', /account\[id\] is not a number/],
      [FORM, 'account[id]=1&leads[status][0][id]=x&leads[status][0][status_id]=2&leads[status][0][pipeline_id]=3', /leads\[status\]\[0\]: id/],
      [FORM, 'account[id]=1&leads[status][0][id]=1&leads[status][0][pipeline_id]=3', /status_id/],
      [FORM, 'account[id]=1&leads[add]=1', /not a list/],
      [FORM, 'account[id]=1&leads=1', /not a section/],
      [FORM, 'account[id]=1&leads[add][0]]=1', /malformed parameter/],
      [FORM, 'account[id]=1&leads[add][0][id]=1&leads[add][0][id]=2', /given twice/],
      [FORM, 'account[id]=1&__proto__[add][0][id]=1', /forbidden|unexpected/],
      [FORM, 'hello world', /no account/],
      ['application/json', '{"account":', /not valid JSON/],
      ['application/json', '[1,2]', /not an object/],
      ['multipart/form-data; boundary=x', 'account[id]=1&leads[add][0][id]=1', /unsupported content type/],
    ];
    for (const [type, body, re] of bad) {
      assert.throws(
        () => parseAmoWebhook(type, body),
        (err: unknown) => err instanceof WebhookParseError && re.test(err.message),
        `${type} ${body}`,
      );
    }
  });

  it('helpers: path secret, destination, outcome', () => {
    assert.equal(webhookSecretFromPath('/webhook/amo/abc123'), 'abc123');
    assert.equal(webhookSecretFromPath('/webhook/amo/'), null);
    assert.equal(webhookSecretFromPath('/webhook/amo/a/b'), null);
    assert.equal(webhookDestination({ publicUrl: 'https://gw.example/' }, { webhookSecret: 's3cret' }), 'https://gw.example/webhook/amo/s3cret');
    assert.equal(leadOutcome({ leadStatusAmoId: null }), null);
    assert.equal(leadOutcome({ leadStatusAmoId: 142 }), 'won');
    assert.equal(leadOutcome({ leadStatusAmoId: 143 }), 'lost');
    assert.equal(leadOutcome({ leadStatusAmoId: 20 }), 'open');
  });
});

// ---------------------------------------------------------------------------------------------
describe('amoCRM webhooks against PostgreSQL and the simulator', () => {
  let testDb: TestDatabase;
  let stack: Stack;
  let services: Services;
  /** the gateway's own `POST /webhook/amo/:secret` route when it has one, else a server in this file calling the same handler */
  let viaGatewayRoute = false;
  let hookServer: Server;
  let hookUrl: string;
  let consumer: Subscription;
  let conn: ConnectedAccount;
  let secret: string;

  const eventCount = (accountId = conn.accountId) => testDb.db.webhookEvent.count({ where: { accountId } });
  const post = (path: string, body: string, contentType = FORM) => fetch(`${hookUrl}${path}`, { method: 'POST', headers: { 'content-type': contentType }, body });

  /** A lead at the simulator (through its API) and the Delivery that "created" it. */
  async function leadWithDelivery(quizId = 'quiz-1') {
    const created = only(await services.amo.client(conn.accountId).createLeadsComplex([{ name: 'Quiz lead' }]), 'created lead');
    const delivery = await testDb.db.delivery.create({
      data: {
        quizAccountId: conn.quizAccountId,
        accountId: conn.accountId,
        quizId,
        resultId: `result-${randomBytes(4).toString('hex')}`,
        payload: {},
        status: 'DELIVERED',
        stage: 'DONE',
        amoLeadId: created.id,
        deliveredAt: new Date(),
      },
    });
    const lead = stack.sim.leads(conn.amoId).find((l) => l.id === created.id)!;
    return { leadId: created.id, delivery, lead };
  }

  /** A status of the lead's pipeline other than its current one (and not won/lost). */
  function otherStatus(pipelineId: number, current: number): number {
    const p = stack.sim.account(conn.amoId).pipelines.find((x) => x.id === pipelineId)!;
    return p.statuses.find((s) => s.id !== current && s.id !== 142 && s.id !== 143 && s.type === 0)!.id;
  }

  before(async () => {
    testDb = await createTestDatabase();
    stack = await startStack(testDb, { simOptions: { webhookBackoffMs: 50, webhookRetries: 2 }, config: kafkaSettings() });
    // Does the gateway route webhooks yet? (a malformed body with a real secret: 400 when it does)
    conn = await connectSimAccount(testDb.db, stack.sim, testAmoConfig());
    secret = (await testDb.db.amoAccount.findUniqueOrThrow({ where: { id: conn.accountId } })).webhookSecret;
    const probe = await fetch(`${stack.gw.url}/webhook/amo/${secret}`, { method: 'POST', headers: { 'content-type': FORM }, body: 'x=1' });
    await probe.arrayBuffer();
    viaGatewayRoute = probe.status === 400;
    const gwServices = stack.gw.app.services;
    hookServer = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const s = webhookSecretFromPath(url.pathname);
      if (!s) return void res.writeHead(404).end();
      handleAmoWebhookRequest(gwServices, req, res, s).catch((err) => {
        res.writeHead(500).end(String(err));
      });
    });
    await new Promise<void>((r) => hookServer.listen(0, '127.0.0.1', r));
    hookUrl = viaGatewayRoute ? stack.gw.url : `http://127.0.0.1:${(hookServer.address() as AddressInfo).port}`;
    // startStack leaves PUBLIC_URL unset (so publicUrl is :4000): point destinations at the endpoint.
    services = { ...gwServices, config: { ...gwServices.config, publicUrl: hookUrl } };
    // The amo.tasks consumer as the worker runs it, with the webhook.event handler.
    consumer = await services.queue.consume(TOPICS.amoTasks, 'gateway-workers', (m) =>
      handleAmoTask(services, m, { handlers: { 'webhook.event': webhookEventTaskHandler(services) } }),
    );
  });

  after(async () => {
    await consumer?.stop();
    // a before() that failed early has no server: closing none must not wait forever
    if (hookServer) await new Promise((r) => hookServer.close(r));
    await stack?.stop();
    await testDb?.drop();
  });

  it('subscribes and unsubscribes the account webhook at amoCRM', async () => {
    assert.equal(await subscribeAccountWebhook(services, conn.accountId), true);
    let hooks = stack.sim.webhooks(conn.amoId);
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
      await until('won', async () => (await testDb.db.delivery.findUniqueOrThrow({ where: { id: delivery.id } })).leadStatusAmoId === 142);
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
      return d.leadStatusAmoId === target && d;
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
    // Every amo.tasks publish takes 5 s (the gateway's queue, patched for this test).
    const queue = stack.gw.app.services.queue;
    const realPublishBatch = queue.publishBatch;
    const pending: Promise<void>[] = [];
    let published = 0;
    queue.publishBatch = (topic, messages) => {
      if (topic !== TOPICS.amoTasks) return realPublishBatch.call(queue, topic, messages); // (MemoryQueue.publish goes through here)
      const p = new Promise<void>((r) => setTimeout(r, 5_000)).then(() => realPublishBatch.call(queue, topic, messages)).then(() => void published++);
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
      assert.equal((await testDb.db.delivery.findUniqueOrThrow({ where: { id: delivery.id } })).leadStatusAmoId === target, false);

      assert.equal(await sweepUnprocessedEvents(services, { olderThanMs: 60_000 }), 0, 'too young for the sweep');
      assert.equal(await sweepUnprocessedEvents(services, { olderThanMs: 0 }), 2);
      assert.equal((await testDb.db.delivery.findUniqueOrThrow({ where: { id: delivery.id } })).leadStatusAmoId, target);
      assert.equal(await sweepUnprocessedEvents(services, { olderThanMs: 0 }), 0);

      // When the slow publish lands at last, its tasks find nothing to do.
      await Promise.all(pending);
      assert.equal(published, 1);
    } finally {
      queue.publishBatch = realPublishBatch;
    }
  });
});
