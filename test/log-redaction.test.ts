// No secret in the gateway's logs at debug level, beyond the connect path (accounts.test.ts): the
// real src/main.ts, LOG_LEVEL=debug, its stdout and stderr captured, through a token refresh, a
// sync, a delivery, webhooks (a real one and one with a forged secret in the path) and a refresh
// amoCRM refuses. Every access and refresh token the simulator ever issued, the client secret, the
// account's webhook secret, the tenant's JWT and the token encryption key are then looked for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TEST_AMO_CLIENT_SECRET, testAmoConfig } from './helpers/amo.ts';
import { row, setupCase, sim, startMain, submit, useGatewayProcesses, waitFor, type GatewayProcess, type Case } from './helpers/gateway-process.ts';

useGatewayProcesses();

const FORM = 'application/x-www-form-urlencoded';

async function gql(gw: GatewayProcess, c: Case, query: string): Promise<any> {
  const res = await fetch(`${gw.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${c.token}` },
    body: JSON.stringify({ query }),
  });
  const body = (await res.json()) as { data?: any; errors?: unknown };
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  return body.data;
}

/** Makes the gateway's access token look expired to both sides, so its next call refreshes first. */
async function expireAccess(c: Case): Promise<void> {
  sim.expireAccessTokens(c.amoId);
  await c.tdb.db.amoToken.update({ where: { accountId: c.accountId }, data: { accessExpiresAt: new Date(Date.now() - 60_000) } });
}

test('src/main.ts at LOG_LEVEL=debug logs no token or secret over refresh, sync, delivery, webhooks and a refused refresh', { timeout: 240_000 }, async () => {
  const c = await setupCase('redaction', 'RESULT_FIELD');
  const gw = await startMain(c, { LOG_LEVEL: 'debug', DELIVERY_BACKOFF_MS: '200', DELIVERY_RECONCILE_DELAY_MS: '0' });
  try {
    const refreshesBefore = sim.refreshCount(c.amoId);

    // refresh, then a sync on the new tokens
    await expireAccess(c);
    const { syncAccount } = await gql(gw, c, 'mutation { syncAccount { id } }');
    assert.ok(syncAccount.id);
    const job = await waitFor(
      async () => (await c.tdb.db.syncJob.findMany({ where: { accountId: c.accountId } })).find((j) => j.status === 'SUCCEEDED' || j.status === 'FAILED'),
      () => `the sync to finish\n${gw.tail()}`,
      90_000,
    );
    assert.equal(job.status, 'SUCCEEDED', job.error ?? '');
    assert.equal(sim.refreshCount(c.amoId), refreshesBefore + 1, 'the sync refreshed the tokens once');

    // a delivery
    await submit(gw, c);
    const delivered = await waitFor(
      async () => {
        const r = await row(c);
        return r.status === 'DELIVERED' ? r : null;
      },
      () => `the delivery\n${gw.tail()}`,
      90_000,
    );

    // webhooks: amoCRM's status change of that lead, and one to a forged secret
    const { webhookSecret } = await c.tdb.db.amoAccount.findUniqueOrThrow({ where: { id: c.accountId } });
    const lead = sim.leads(c.amoId).find((l) => l.id === Number(delivered.amoLeadId))!;
    const body = new URLSearchParams({
      'leads[status][0][id]': String(lead.id),
      'leads[status][0][status_id]': '142',
      'leads[status][0][pipeline_id]': String(lead.pipeline_id),
      'account[id]': String(c.amoId),
    }).toString();
    const hook = await fetch(`${gw.url}/webhook/amo/${webhookSecret}`, { method: 'POST', headers: { 'content-type': FORM }, body });
    assert.equal(hook.status, 200);
    const forgedSecret = `${webhookSecret.slice(0, -4)}beef`;
    const forged = await fetch(`${gw.url}/webhook/amo/${forgedSecret}`, { method: 'POST', headers: { 'content-type': FORM }, body });
    assert.equal(forged.status, 404);
    await waitFor(
      async () => (await c.tdb.db.webhookEvent.findFirst({ where: { accountId: c.accountId, processedAt: { not: null } } })) !== null,
      () => `the webhook processed\n${gw.tail()}`,
      60_000,
    );

    // a refresh amoCRM refuses: the account turns stale
    sim.revoke(c.amoId);
    await expireAccess(c);
    const { syncAccount: second } = await gql(gw, c, 'mutation { syncAccount { id } }');
    assert.ok(second.id);
    await waitFor(
      async () => (await c.tdb.db.amoAccount.findUniqueOrThrow({ where: { id: c.accountId } })).stale,
      () => `the account to turn stale\n${gw.tail()}`,
      90_000,
    );
    assert.ok(sim.refreshCount(c.amoId) >= refreshesBefore + 2, 'the refused refresh was tried');
    await waitFor(
      async () => (await c.tdb.db.syncJob.findMany({ where: { accountId: c.accountId, status: 'FAILED' } })).length === 1,
      () => `the second sync to fail\n${gw.tail()}`,
      60_000,
    );

    const secrets: [string, string][] = [
      ...[...sim.state.accessTokens.keys()].map((t) => ['access token', t] as [string, string]),
      ...[...sim.state.accessTokens.values()].map((r) => ['access token id', r.jti] as [string, string]),
      ...[...sim.state.refreshTokens.keys()].map((t) => ['refresh token', t] as [string, string]),
      ['client secret', TEST_AMO_CLIENT_SECRET],
      ['webhook secret', webhookSecret],
      ['forged webhook secret', forgedSecret],
      ['tenant JWT', c.token],
      ['token encryption key', testAmoConfig().tokenEncryptionKey.toString('base64')],
    ];
    assert.ok(secrets.filter(([what]) => what === 'refresh token').length >= 2, 'the refresh issued new tokens to look for');
    const logs = gw.output;
    assert.match(logs, /"level":20/, 'debug lines were written');
    const leaked = secrets.filter(([, value]) => logs.includes(value)).map(([what]) => what);
    assert.deepEqual(leaked, [], `secrets in the logs: ${leaked.join(', ')}`);
  } finally {
    await gw.terminate();
  }
});
