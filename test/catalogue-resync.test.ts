// The periodic re-sync against the simulator and PostgreSQL, the real workers running: the
// catalogue is synced again without a manual sync, the rules are checked again, and a step
// deleted at amoCRM reaches the owner's alert webhook as rule.problems.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { connectSimAccount, testAmoConfig, type ConnectedAccount } from './helpers/amo.ts';
import { startStack, type Stack } from './helpers/stack.ts';
import { tokenFor } from './helpers/app.ts';
import { until } from './helpers/wait.ts';

describe('periodic catalogue re-sync', () => {
  let testDb: TestDatabase;
  let stack: Stack;
  let conn: ConnectedAccount;
  let receiver: Server;
  const alerts: { kind: string; body: any }[] = [];
  before(async () => {
    testDb = await createTestDatabase();
    stack = await startStack(testDb, { workers: true, config: { CATALOGUE_RESYNC_INTERVAL_MS: '3000', ALERT_BACKOFF_MS: '100' } });
    conn = await connectSimAccount(testDb.db, stack.sim, testAmoConfig());
    receiver = createServer((req, res) => {
      let raw = '';
      req.on('data', (c) => (raw += c));
      req.on('end', () => {
        alerts.push({ kind: String(req.headers['x-gateway-alert-kind']), body: JSON.parse(raw) });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  });
  after(async () => {
    await stack?.stop();
    await new Promise((r) => receiver?.close(r));
    await testDb?.drop();
  });

  it('syncs again on its own, re-checks the rules, and a deleted step becomes an alert', async () => {
    const db = testDb.db;
    const succeeded = () => db.syncJob.count({ where: { accountId: conn.accountId, status: 'SUCCEEDED' } });
    // never synced: due at the first pass
    await until('a first periodic sync', async () => (await succeeded()) >= 1);
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const set = await stack.gw.gql(
      `mutation($input: AlertWebhookInput!) { setAlertWebhook(input: $input) { url } }`,
      { input: { url, secret: 'resync-secret-0123456789' } },
      await tokenFor(conn.quizAccountId),
    );
    assert.equal(set.data?.setAlertWebhook.url, url, JSON.stringify(set.errors));

    const pipeline = await db.pipeline.findFirstOrThrow({
      where: { accountId: conn.accountId, deletedAt: null },
      include: { steps: { where: { deletedAt: null, type: 0, amoId: { notIn: [142, 143] } } } },
    });
    const step = pipeline.steps[0]!;
    const rule = await db.rule.create({ data: { accountId: conn.accountId, quizId: 'quiz-resync', pipelineId: pipeline.id, stepId: step.id } });
    await until('the rule checked by a periodic pass', async () => (await db.rule.findUniqueOrThrow({ where: { id: rule.id } })).checkedAt);
    assert.deepEqual((await db.rule.findUniqueOrThrow({ where: { id: rule.id } })).problems, []);

    stack.sim.removeStatus(conn.amoId, Number(pipeline.amoId), Number(step.amoId));
    const before = await succeeded();
    const checked = await until('the problem found without a manual sync', async () => {
      const r = await db.rule.findUniqueOrThrow({ where: { id: rule.id } });
      return r.problems.length > 0 ? r : null;
    });
    assert.match(checked.problems[0]!, new RegExp(`step «${step.name}»`));
    await until('the catalogue synced again', async () => (await succeeded()) > before);
    await until('the step marked deleted in the cache', async () => (await db.step.findUniqueOrThrow({ where: { id: step.id } })).deletedAt);
    const alert = await until('the rule.problems alert', async () => alerts.find((a) => a.kind === 'rule.problems'));
    assert.deepEqual(alert.body.data.problems, checked.problems);
    // the same problems found again are not a new alert
    const checkedAt = checked.checkedAt!.getTime();
    await until('checked again', async () => ((await db.rule.findUniqueOrThrow({ where: { id: rule.id } })).checkedAt?.getTime() ?? 0) > checkedAt);
    await until('no alert left pending', async () => (await db.alertOutbox.count({ where: { status: 'PENDING' } })) === 0);
    assert.equal(alerts.filter((a) => a.kind === 'rule.problems').length, 1);
    // every amoCRM call went through the account's rate limiter
    assert.ok(stack.sim.maxRequestsInAnySecond(conn.amoId) <= 7);
  });

  it('finds a lead deleted at amoCRM whose webhook never came', async () => {
    const db = testDb.db;
    const client = stack.gw.app.services.amo.client(conn.accountId);
    const [gone, kept] = await client.createLeadsComplex([{ name: 'to delete' }, { name: 'to keep' }]);
    const delivery = (resultId: string, amoLeadId: number) =>
      db.delivery.create({
        data: {
          quizAccountId: conn.quizAccountId,
          accountId: conn.accountId,
          quizId: 'quiz-resync',
          resultId,
          payload: {},
          status: 'DELIVERED',
          stage: 'DONE',
          amoLeadId,
          deliveredAt: new Date(),
        },
      });
    const dGone = await delivery('gone', gone!.id);
    const dKept = await delivery('kept', kept!.id);
    // no webhook is subscribed for this account: amoCRM tells nobody
    const sent = await stack.sim.deleteLead(conn.amoId, gone!.id);
    assert.equal(sent.length, 0);
    await until('the deleted lead found by a periodic pass', async () => (await db.delivery.findUniqueOrThrow({ where: { id: dGone.id } })).leadDeletedAt);
    const gid = Buffer.from(`Delivery:${dGone.id}`).toString('base64');
    const read = await stack.gw.gql(`query($id: ID!) { node(id: $id) { ... on Delivery { leadDeleted status } } }`, { id: gid }, await tokenFor(conn.quizAccountId));
    assert.deepEqual(read.data?.node, { leadDeleted: true, status: 'DELIVERED' });
    // a pass that looked at both (the deleted one was found in it) left the live lead alone
    const lookedAtKept = stack.sim.requestLog(conn.amoId).some((r) => r.method === 'GET' && r.path === `/api/v4/leads/${kept!.id}`);
    assert.ok(lookedAtKept);
    assert.equal((await db.delivery.findUniqueOrThrow({ where: { id: dKept.id } })).leadDeletedAt, null);
  });
});
