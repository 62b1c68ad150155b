// Alerts to the owner's webhook against PostgreSQL and a local HTTP receiver: set through GraphQL,
// each event kind written by the database in the event's own transaction, posted once, signed,
// a 500 retried, and tenant B's webhook never hearing tenant A's events.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApp, tokenFor, type TestApp } from './helpers/app.ts';
import { until } from './helpers/wait.ts';
import { startAlerts, verifyAlertSignature } from '../src/features/alerts/index.ts';
import { markAccountStale } from '../src/platform/amo/index.ts';

interface Received {
  path: string;
  id: string;
  kind: string;
  body: any;
  verified: boolean;
  answered: number;
}

const SECRETS: Record<string, string> = { '/a': 'tenant-a-secret-0123456789', '/b': 'tenant-b-secret-9876543210' };

describe('alerts to the owner’s webhook', () => {
  let testDb: TestDatabase;
  let gw: TestApp;
  let receiver: Server;
  let base: string;
  let stopAlerts: (() => Promise<void>) | undefined;
  const received: Received[] = [];
  const failOnce = new Set<string>(['delivery.failed']);

  before(async () => {
    testDb = await createTestDatabase();
    gw = await startTestApp(testDb, { workers: false, config: { ALERT_BACKOFF_MS: '50', ALERT_MAX_ATTEMPTS: '5' } });
    receiver = createServer((req, res) => {
      let raw = '';
      req.on('data', (c) => (raw += c));
      req.on('end', () => {
        const kind = String(req.headers['x-gateway-alert-kind']);
        // tenant A's receiver is down for its first delivery.failed
        const answered = req.url === '/a' && failOnce.delete(kind) ? 500 : 200;
        received.push({
          path: req.url!,
          id: String(req.headers['x-gateway-alert-id']),
          kind,
          body: JSON.parse(raw),
          verified: verifyAlertSignature(SECRETS[req.url!] ?? 'none', raw, String(req.headers['x-gateway-signature'])),
          answered,
        });
        res.writeHead(answered).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  });
  after(async () => {
    await stopAlerts?.();
    await gw?.stop();
    await new Promise((r) => receiver?.close(r));
    await testDb?.drop();
  });

  const SET = `mutation($input: AlertWebhookInput!) { setAlertWebhook(input: $input) { url } }`;
  const READ = `{ alertWebhook { url recentAlerts { id kind status attempts lastStatusCode lastError deliveredAt } } }`;

  it('refuses a bad URL or a short secret', async () => {
    const token = await tokenFor('alert-a');
    const bad = await gw.gql(SET, { input: { url: 'ftp://example.com/x', secret: SECRETS['/a'] } }, token);
    assert.equal(bad.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
    const short = await gw.gql(SET, { input: { url: `${base}/a`, secret: 'short' } }, token);
    assert.equal(short.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
    assert.equal((await gw.gql(READ, {}, token)).data?.alertWebhook, null);
  });

  it('posts each event once, signed, to its own tenant; a 500 is retried', async () => {
    const db = testDb.db;
    const [tokenA, tokenB] = [await tokenFor('alert-a'), await tokenFor('alert-b')];
    assert.equal((await gw.gql(SET, { input: { url: `${base}/a`, secret: SECRETS['/a'] } }, tokenA)).data?.setAlertWebhook.url, `${base}/a`);
    assert.ok((await gw.gql(SET, { input: { url: `${base}/b`, secret: SECRETS['/b'] } }, tokenB)).data?.setAlertWebhook);
    const secretRow = await db.alertWebhook.findUniqueOrThrow({ where: { quizAccountId: 'alert-a' } });
    assert.ok(!secretRow.secretEnc.includes(SECRETS['/a']!), 'the secret is encrypted at rest');

    const account = (quizAccountId: string, amoId: number) =>
      db.amoAccount.create({
        data: { quizAccountId, amoId, name: quizAccountId, subdomain: quizAccountId, host: `${quizAccountId}.amocrm.ru`, webhookSecret: `${quizAccountId}-hook` },
      });
    const accA = await account('alert-a', 9101);
    await account('alert-b', 9102);
    await account('alert-c', 9103); // no webhook: nobody to tell
    const pipeline = await db.pipeline.create({ data: { accountId: accA.id, amoId: 1, name: 'Sales' } });
    const step = await db.step.create({ data: { accountId: accA.id, pipelineId: pipeline.id, amoId: 10, name: 'New' } });
    const rule = await db.rule.create({ data: { accountId: accA.id, quizId: 'q1', pipelineId: pipeline.id, stepId: step.id } });
    const delivery = (quizAccountId: string) => db.delivery.create({ data: { quizAccountId, quizId: 'q1', resultId: `${quizAccountId}-r1`, payload: {} } });
    const [dA, dB, dC] = [await delivery('alert-a'), await delivery('alert-b'), await delivery('alert-c')];

    // the events, each as the gateway's writers make them
    for (const d of [dA, dB, dC]) await db.delivery.update({ where: { id: d.id }, data: { status: 'FAILED', reason: 'AMO_REJECTED', lastError: 'amoCRM refused the lead' } });
    await db.delivery.update({ where: { id: dA.id }, data: { lastError: 'again' } }); // still FAILED: no new event
    await db.rule.update({ where: { id: rule.id }, data: { problems: ['step «New» (10) no longer exists'], checkedAt: new Date() } });
    await db.rule.update({ where: { id: rule.id }, data: { problems: ['step «New» (10) no longer exists'], checkedAt: new Date() } }); // same problems: no new event
    await db.amoAccount.update({ where: { id: accA.id }, data: { blockedAt: new Date() } });
    assert.equal(await markAccountStale({ db }, accA.id, 'test'), true);
    const disconnected = await gw.gql(`mutation { disconnectAccount { account { id } } }`, {}, tokenA);
    assert.ok(disconnected.data?.disconnectAccount.account, JSON.stringify(disconnected.errors));

    assert.equal(await db.alertOutbox.count({ where: { quizAccountId: 'alert-c' } }), 0);
    assert.equal(await db.alertOutbox.count({ where: { quizAccountId: 'alert-a' } }), 5);

    stopAlerts = startAlerts(gw.app.services, { pollMs: 25 });
    await until('every alert posted', async () => (await db.alertOutbox.count({ where: { status: 'PENDING' } })) === 0);

    const a = received.filter((r) => r.path === '/a');
    const b = received.filter((r) => r.path === '/b');
    assert.ok(
      received.every((r) => r.verified),
      'every post verifies with its tenant’s secret',
    );
    const delivered = (list: Received[]) => list.filter((r) => r.answered === 200);
    assert.deepEqual(
      delivered(a)
        .map((r) => r.kind)
        .sort(),
      ['account.blocked', 'account.disconnected', 'account.stale', 'delivery.failed', 'rule.problems'],
    );
    assert.equal(new Set(delivered(a).map((r) => r.id)).size, 5, 'each event delivered once');
    assert.deepEqual(
      a.filter((r) => r.answered === 500).map((r) => r.kind),
      ['delivery.failed'],
    );
    assert.equal(a.filter((r) => r.kind === 'delivery.failed').length, 2, 'the 500 was retried once, then delivered');
    assert.deepEqual(
      b.map((r) => r.kind),
      ['delivery.failed'],
      'B hears only its own',
    );
    assert.equal(b[0]!.body.data.deliveryId, Buffer.from(`Delivery:${dB.id}`).toString('base64'));
    assert.equal(b[0]!.body.data.resultId, 'alert-b-r1');
    const rule0 = a.find((r) => r.kind === 'rule.problems')!;
    assert.deepEqual(rule0.body.data.problems, ['step «New» (10) no longer exists']);

    const read = await gw.gql(READ, {}, tokenA);
    const alerts = read.data.alertWebhook.recentAlerts as { kind: string; status: string; attempts: number; lastStatusCode: number; lastError: string | null }[];
    assert.equal(alerts.length, 5);
    assert.ok(alerts.every((x) => x.status === 'DELIVERED' && x.lastStatusCode === 200));
    assert.equal(alerts.find((x) => x.kind === 'delivery.failed')!.attempts, 2);
    const readB = await gw.gql(READ, {}, tokenB);
    assert.deepEqual(
      readB.data.alertWebhook.recentAlerts.map((x: { kind: string }) => x.kind),
      ['delivery.failed'],
    );
  });

  it('a test alert goes through the outbox too; removing the webhook stops the alerts', async () => {
    const token = await tokenFor('alert-b');
    const sent = await gw.gql(`mutation { sendTestAlert }`, {}, token);
    const id = sent.data?.sendTestAlert as string;
    await until('the test alert', async () => received.find((r) => r.id === id));
    assert.equal(received.find((r) => r.id === id)!.path, '/b');
    assert.equal((await gw.gql(`mutation { removeAlertWebhook }`, {}, token)).data?.removeAlertWebhook, true);
    const d = await testDb.db.delivery.create({ data: { quizAccountId: 'alert-b', quizId: 'q1', resultId: 'alert-b-r2', payload: {}, status: 'FAILED' } });
    assert.ok(d);
    assert.equal(await testDb.db.alertOutbox.count({ where: { quizAccountId: 'alert-b', kind: 'delivery.failed' } }), 1);
  });
});
