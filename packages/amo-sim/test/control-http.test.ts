// The control API over HTTP (/_sim/<method>).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type Json, SIM_OPTIONS, UNTHROTTLED_OPTIONS, bearer, newField, nth, simulatorSuite } from './helpers.ts';

describe('control API over HTTP', () => {
  const { sim } = simulatorSuite(SIM_OPTIONS);

  test('seed, inject a fault and read back over /_sim', async () => {
    const call = async (method: string, ...args: unknown[]) => {
      const res = await fetch(`${sim.url}/_sim/${method}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(args) });
      return res.status === 204 ? undefined : res.json();
    };
    const acc = await call('seedAccount', { subdomain: 'remote', pipelines: 1 });
    assert.equal(acc.subdomain, 'remote');
    const tokens = await call('issueTokens', acc.id);
    await call('injectFault', acc.id, { kind: '5xx', status: 502, count: 1, path: '^/api/v4/account' });
    assert.equal((await fetch(`${sim.url}/api/v4/account`, bearer(tokens.access_token))).status, 502);
    assert.equal((await fetch(`${sim.url}/api/v4/account`, bearer(tokens.access_token))).status, 200);
    const log = await call('requestLog', acc.id);
    assert.deepEqual(
      log.map((e: { status: number }) => e.status),
      [502, 200],
    );
    const redirect = await call('authorize', { accountId: acc.id, state: 'remote-state', consent: 'allow' });
    assert.equal(new URL(redirect).searchParams.get('state'), 'remote-state');
    assert.equal((await fetch(`${sim.url}/_sim/nope`, { method: 'POST' })).status, 404);
  });
});

describe('control API over HTTP', () => {
  const { connect, control } = simulatorSuite(UNTHROTTLED_OPTIONS);

  test('setAccountOptions, updateField and customers over /_sim', async () => {
    const { acc, api } = connect();
    const updated = await control('setAccountOptions', acc.id, { tokenUserIsAdmin: false, searchDelayMs: 10, blockAfter429s: 3, customFieldLimit: 99 });
    assert.deepEqual([updated.tokenUserIsAdmin, updated.searchDelayMs, updated.blockAfter429s, updated.customFieldLimit, updated.unsortedEnabled], [false, 10, 3, 99, true]);
    assert.equal((await api('/api/v4/leads/custom_fields', { json: newField('x') })).status, 403);
    const f = acc.fields.leads.find((x) => x.type === 'text')!;
    const p = nth(acc.pipelines, 0);
    const field = await control('updateField', acc.id, 'leads', f.id, { required_statuses: [{ status_id: nth(p.statuses, 1).id, pipeline_id: p.id }] });
    assert.deepEqual(field.required_statuses, [{ status_id: nth(p.statuses, 1).id, pipeline_id: p.id }]);
    await api('/api/v4/customers', { json: [{ name: 'через HTTP' }] });
    assert.deepEqual(
      (await control('customers', acc.id)).map((c: Json) => c.name),
      ['через HTTP'],
    );
    const seeded = await control('seedAccount', { options: { unsortedEnabled: false } });
    assert.equal(seeded.unsortedEnabled, false);
  });
});
