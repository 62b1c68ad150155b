// Outgoing hooks: the signed disconnect hook and amoCRM's form-encoded webhooks with retries.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CLIENT_ID, CLIENT_SECRET, SIM_OPTIONS, nth, simulatorSuite } from './helpers.ts';

const { sim, connect } = simulatorSuite(SIM_OPTIONS);

describe('hooks', () => {
  let server: Server;
  let hookUrl: string;
  const received: Array<{ url: string; body: string; type: string }> = [];
  let failNext = 0;

  before(async () => {
    server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        received.push({ url: req.url ?? '', body, type: req.headers['content-type'] ?? '' });
        if (req.url?.startsWith('/webhook/delete')) {
          const u = new URL(req.url, 'http://x');
          const expected = createHmac('sha256', CLIENT_SECRET)
            .update(`${u.searchParams.get('client_uuid')}|${u.searchParams.get('account_id')}`)
            .digest('hex');
          res.writeHead(u.searchParams.get('signature') === expected ? 200 : 401).end();
          return;
        }
        if (failNext > 0) {
          failNext--;
          res.writeHead(500).end();
        } else res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    hookUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  test('disconnect hook is signed with HMAC-SHA256 of "client_uuid|account_id"', async () => {
    const { acc } = connect();
    assert.equal(await sim.sendDisconnectHook(acc.id, `${hookUrl}/webhook/delete`), 200);
    const u = new URL(received.at(-1)!.url, 'http://x');
    assert.equal(u.searchParams.get('account_id'), String(acc.id));
    assert.equal(u.searchParams.get('client_uuid'), CLIENT_ID);
    assert.equal(await sim.sendDisconnectHook(acc.id, `${hookUrl}/webhook/delete`, { signature: 'forged' }), 401);
  });

  test('status webhook arrives form-encoded and is retried after a 500; replay', async () => {
    const { acc, api } = connect();
    const sub = await api('/api/v4/webhooks', { json: { destination: `${hookUrl}/amo/events`, settings: ['status_lead'] } });
    assert.equal(sub.status, 200);
    assert.equal(sim.webhooks(acc.id).length, 1);
    const [lead] = await (await api('/api/v4/leads/complex', { json: [{ name: 'Сделка' }] })).json();
    const stored = nth(sim.leads(acc.id), 0);
    const target = nth(acc.pipelines, 0).statuses.at(-3)!;

    failNext = 1;
    const before = received.length;
    const delivery = nth(await sim.changeLeadStatus(acc.id, lead.id, target.id), 0);
    assert.equal(delivery.ok, true);
    assert.deepEqual(
      delivery.attempts.map((a) => a.status),
      [500, 200],
    );
    const got = received.slice(before);
    assert.equal(got.length, 2);
    assert.equal(nth(got, 1).type, 'application/x-www-form-urlencoded');
    const form = new URLSearchParams(nth(got, 1).body);
    assert.equal(form.get('leads[status][0][id]'), String(lead.id));
    assert.equal(form.get('leads[status][0][status_id]'), String(target.id));
    assert.equal(form.get('leads[status][0][pipeline_id]'), String(nth(acc.pipelines, 0).id));
    assert.equal(form.get('leads[status][0][old_status_id]'), String(stored.status_id));
    assert.equal(form.get('account[subdomain]'), acc.subdomain);
    assert.equal(form.get('account[id]'), String(acc.id));

    const replay = await sim.replayLastWebhook(acc.id);
    assert.equal(replay.ok, true);
    assert.equal(received.at(-1)!.body, nth(got, 1).body);

    const del = await api('/api/v4/webhooks', { method: 'DELETE', json: { destination: `${hookUrl}/amo/events` } });
    assert.equal(del.status, 204);
    assert.deepEqual(await sim.changeLeadStatus(acc.id, lead.id, 142), []);
  });
});
