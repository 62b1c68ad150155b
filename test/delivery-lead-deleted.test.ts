// A lead deleted in amoCRM shows on its Delivery: the simulator deletes it, amoCRM's leads[delete]
// webhook reaches the gateway's own route, and GraphQL says leadDeleted (once; the owner's only).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { subscribeAccountWebhook } from '../src/features/webhooks/index.ts';
import { tokenFor } from './helpers/app.ts';
import { until } from './helpers/wait.ts';
import { startWebhookWorld, type WebhookWorld } from './helpers/webhooks.ts';

describe('a lead deleted in amoCRM', () => {
  let w: WebhookWorld | undefined;
  before(async () => {
    w = await startWebhookWorld();
  });
  after(() => w?.stop());

  it('is shown as deleted on its delivery', async () => {
    const { stack, services, conn, testDb } = w!;
    assert.equal(await subscribeAccountWebhook(services, conn.accountId), true);
    const { leadId, delivery } = await w!.leadWithDelivery('quiz-del');
    const other = await w!.leadWithDelivery('quiz-del');
    const gid = Buffer.from(`Delivery:${delivery.id}`).toString('base64');
    const query = `query($id: ID!) { node(id: $id) { ... on Delivery { leadDeleted leadDeletedAt status amoLeadId } } }`;
    const token = await tokenFor(conn.quizAccountId);
    assert.deepEqual((await stack.gw.gql(query, { id: gid }, token)).data?.node.leadDeleted, false);

    const sent = await stack.sim.deleteLead(conn.amoId, leadId);
    assert.equal(sent.length, 1);
    assert.equal(sent[0]!.ok, true);
    const row = await until('lead deleted', async () => {
      const d = await testDb.db.delivery.findUniqueOrThrow({ where: { id: delivery.id } });
      return d.leadDeletedAt ? d : null;
    });
    const read = await stack.gw.gql(query, { id: gid }, token);
    assert.equal(read.data?.node.leadDeleted, true);
    assert.equal(read.data?.node.leadDeletedAt, row.leadDeletedAt!.toISOString());
    assert.equal(read.data?.node.status, 'DELIVERED', 'the delivery itself stays delivered');
    assert.equal((await testDb.db.delivery.findUniqueOrThrow({ where: { id: other.delivery.id } })).leadDeletedAt, null, 'another lead is untouched');
    // another tenant cannot read it
    assert.equal((await stack.gw.gql(query, { id: gid }, await tokenFor('someone-else'))).data?.node, null);
    // the lead is gone at amoCRM too
    assert.equal(
      stack.sim.leads(conn.amoId).some((l) => l.id === leadId && !l.is_deleted),
      false,
    );
  });
});
