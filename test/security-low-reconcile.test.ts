// Issue 16 (Low): two tenants connected to the same amoCRM account never adopt each other's leads
// in reconcile: the result-id field carries a per-tenant marker (RESULT_FIELD), and a lead any
// Delivery in that amoCRM account owns is never adopted (LEAD_CONTENT).
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createAmoSimulator, type AmoSimulator } from '@quiz-gateway/amo-sim';
import { acceptResult } from '../src/features/delivery/index.ts';
import { runDeliveryPass } from '../src/features/delivery/worker.ts';
import { saveTokens, type AmoComplexLeadInput, type AmoLead } from '../src/platform/amo/index.ts';
import { resultMarker } from '../src/features/delivery/payload.ts';
import { isLeadOf, type ReconcileTarget } from '../src/features/delivery/reconcile.ts';
import type { Services } from '../src/platform/services.ts';
import { TEST_AMO_CLIENT_ID, TEST_AMO_CLIENT_SECRET, TEST_AMO_REDIRECT, testAmoConfig } from './helpers/amo.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import {
  connectDeliveryAccount,
  copyCatalogue,
  createRule,
  deliveryServices as makeServices,
  drainDeliveries,
  expireLeases,
  simpleResult,
  testDeliveryRuntime,
  type DeliveryAccount,
} from './helpers/delivery.ts';

let sim: AmoSimulator;
let tdb: TestDatabase;
let services: Services;
before(async () => {
  sim = createAmoSimulator({ clientId: TEST_AMO_CLIENT_ID, clientSecret: TEST_AMO_CLIENT_SECRET, redirectUri: TEST_AMO_REDIRECT });
  await sim.start();
  tdb = await createTestDatabase();
  services = await makeServices(tdb.db);
});
after(async () => {
  await services?.queue.close();
  await tdb?.drop();
  await sim?.stop();
});

/** A second tenant connected to the same amoCRM account as `a`, with the same rule. */
async function sameAmoAccount(a: DeliveryAccount, quizAccountId: string): Promise<string> {
  const simAccount = sim.account(a.amoId);
  const row = await tdb.db.amoAccount.create({
    data: { quizAccountId, amoId: a.amoId, name: simAccount.name, subdomain: simAccount.subdomain, host: sim.host, webhookSecret: randomBytes(16).toString('hex') },
  });
  const pair = sim.issueTokens(a.amoId);
  await saveTokens(tdb.db, testAmoConfig().tokenEncryptionKey, row.id, {
    accessToken: pair.access_token,
    refreshToken: pair.refresh_token,
    expiresIn: pair.expires_in,
    accessExpiresAt: new Date(Date.now() + pair.expires_in * 1000),
  });
  const cat = await copyCatalogue(tdb.db, sim, row.id, a.amoId);
  await createRule(tdb.db, cat, row.id, { quizId: 'quiz-1', pipelineAmoId: a.pipeline, statusAmoId: a.firstStatus });
  return row.id;
}

/** Tenant B delivers result `resultId`; then tenant A's Delivery of the same result id is committed SENDING and the process dies before the call; A is reconciled. */
async function bothDeliver(a: DeliveryAccount, tenantB: string, resultId: string) {
  const b = await acceptResult(services, tenantB, simpleResult(resultId));
  await drainDeliveries(testDeliveryRuntime(services), tdb.db, tenantB);
  const ofA = await acceptResult(services, a.quizAccountId, simpleResult(resultId));
  const crash = testDeliveryRuntime(services, {
    beforeSend: () => {
      throw new Error('the process died before leads/complex');
    },
  });
  await runDeliveryPass(crash).catch(() => {});
  assert.equal((await tdb.db.delivery.findUniqueOrThrow({ where: { id: ofA.id } })).stage, 'SENDING');
  await expireLeases(tdb.db);
  await drainDeliveries(testDeliveryRuntime(services), tdb.db, a.quizAccountId);
  return {
    leadOfB: (await tdb.db.delivery.findUniqueOrThrow({ where: { id: b.id } })).amoLeadId,
    rowOfA: await tdb.db.delivery.findUniqueOrThrow({ where: { id: ofA.id } }),
  };
}

test("RESULT_FIELD: tenant A's reconcile does not adopt tenant B's lead of the same result id", async () => {
  const a = await connectDeliveryAccount({ sim, tdb }, 1);
  await a.rule('quiz-1');
  const tenantB = `tenant-b-${randomBytes(3).toString('hex')}`;
  await sameAmoAccount(a, tenantB);
  const { leadOfB, rowOfA } = await bothDeliver(a, tenantB, 'same-result-1');
  assert.equal((await tdb.db.amoAccount.findUniqueOrThrow({ where: { id: a.accountId } })).reconcileMode, 'RESULT_FIELD');
  assert.equal(rowOfA.status, 'DELIVERED', rowOfA.lastError ?? '');
  assert.ok(leadOfB);
  assert.notEqual(rowOfA.amoLeadId, leadOfB, "tenant A adopted tenant B's lead");
  assert.equal(sim.leads(a.amoId).length, 2, 'one lead per tenant');
});

test("LEAD_CONTENT: a lead another tenant's Delivery owns in the same amoCRM account is not adopted, however alike", async () => {
  const a = await connectDeliveryAccount({ sim, tdb }, 1);
  await a.rule('quiz-1');
  const tenantB = `tenant-b-${randomBytes(3).toString('hex')}`;
  await sameAmoAccount(a, tenantB);
  // as if amoCRM had refused the result-id field on this account
  await tdb.db.amoAccount.updateMany({ where: { amoId: a.amoId }, data: { reconcileMode: 'LEAD_CONTENT', reconcileCheckedAt: new Date(), resultFieldId: null } });
  const { leadOfB, rowOfA } = await bothDeliver(a, tenantB, 'same-result-2');
  assert.equal(rowOfA.status, 'DELIVERED', rowOfA.lastError ?? '');
  assert.ok(leadOfB);
  assert.notEqual(rowOfA.amoLeadId, leadOfB, "tenant A adopted tenant B's lead");
  assert.equal(sim.leads(a.amoId).length, 2, 'one lead per tenant');
});

test('old markers stay readable: a Delivery that sent the bare result id still recognises its lead, a new one only its own marker', () => {
  const fieldId = 99;
  const leadWith = (value: string) => ({ id: 1, name: 'Quiz q: Анна', price: 0, custom_fields_values: [{ field_id: fieldId, values: [{ value }] }] }) as unknown as AmoLead;
  const sentWith = (value: string): AmoComplexLeadInput => ({ name: 'Quiz q: Анна', custom_fields_values: [{ field_id: fieldId, values: [{ value }] }] });
  const target = (sentLead: AmoComplexLeadInput | null): ReconcileTarget => ({ deliveryId: 'd', resultId: 'r-1', since: new Date(), sentLead });
  const mine = resultMarker('tenant-a', 'r-1');
  assert.notEqual(mine, resultMarker('tenant-b', 'r-1'));
  assert.equal(isLeadOf(leadWith('r-1'), target(sentWith('r-1')), fieldId), true, 'sent before the marker: the bare id');
  assert.equal(isLeadOf(leadWith('r-1'), target(null), fieldId), true, 'sent before sent_lead was recorded: the bare id');
  assert.equal(isLeadOf(leadWith(mine), target(sentWith(mine)), fieldId), true);
  assert.equal(isLeadOf(leadWith(resultMarker('tenant-b', 'r-1')), target(sentWith(mine)), fieldId), false, "another tenant's lead");
  assert.equal(isLeadOf(leadWith('r-1'), target(sentWith(mine)), fieldId), false, 'an old bare-id lead of someone else');
});
