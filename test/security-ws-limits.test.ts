// Issue 16 (Medium): the websocket has limits. One connection may hold only so many
// operations at once, one tenant only so many connections, and a client that floods
// messages is cut off; each abuse closes with its own code and reason.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApp, tokenFor, type TestApp } from './helpers/app.ts';
import { until } from './helpers/wait.ts';

let testDb: TestDatabase;
let gw: TestApp;

before(async () => {
  testDb = await createTestDatabase();
  gw = await startTestApp(testDb, {
    config: { WS_MAX_SUBSCRIPTIONS_PER_CONNECTION: '3', WS_MAX_CONNECTIONS_PER_TENANT: '2', WS_MAX_MESSAGES_PER_SECOND: '20' },
  });
});
after(async () => {
  await gw?.stop();
  await testDb?.drop();
});

interface Raw {
  socket: WebSocket;
  messages: { type: string; id?: string }[];
  closed: Promise<{ code: number; reason: string }>;
  send(message: object): void;
}

/** A graphql-transport-ws client by hand, so a test can send what a real client would not. */
async function connect(tenant: string): Promise<Raw> {
  const socket = new WebSocket(gw.url.replace(/^http/, 'ws') + '/graphql', 'graphql-transport-ws');
  const messages: Raw['messages'] = [];
  // a connection still open after 60 s reads as code 0, so a missing close fails its assertion (a bound, not a timing claim)
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    setTimeout(() => resolve({ code: 0, reason: 'still open' }), 60_000).unref();
  });
  socket.on('message', (data) => messages.push(JSON.parse(data.toString())));
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${await tokenFor(tenant)}` } }));
  await until('the connection to be acknowledged or closed', async () => messages.some((m) => m.type === 'connection_ack') || socket.readyState !== socket.OPEN);
  return { socket, messages, closed, send: (message) => socket.send(JSON.stringify(message)) };
}

/**
 * A ping answered: the server has handled every message sent before it (graphql-ws reads them in
 * order, and the limits are checked as each arrives), and the connection is still open.
 */
async function handledSoFar(client: Raw): Promise<void> {
  const pongs = client.messages.filter((m) => m.type === 'pong').length;
  client.send({ type: 'ping' });
  await until('the pong', async () => client.messages.filter((m) => m.type === 'pong').length > pongs || client.socket.readyState !== client.socket.OPEN);
}

const SUBSCRIBE = (id: string) => ({ id, type: 'subscribe', payload: { query: 'subscription { deliveryUpdated { id } }' } });

test('more operations open at once than allowed close the connection with 4430', async () => {
  const client = await connect('ws-subs');
  for (const id of ['1', '2', '3']) client.send(SUBSCRIBE(id));
  await handledSoFar(client);
  assert.equal(client.socket.readyState, client.socket.OPEN, 'three subscriptions are allowed');
  client.send(SUBSCRIBE('4'));
  assert.deepEqual(await client.closed, { code: 4430, reason: 'Too many operations on this connection' });
});

test('completed operations free their place: one after another never hits the cap', async () => {
  const client = await connect('ws-subs-serial');
  // 13 messages with the init and the ping: within the message rate however fast they go
  for (let i = 0; i < 6; i++) {
    client.send(SUBSCRIBE(`s${i}`));
    client.send({ id: `s${i}`, type: 'complete' });
  }
  await handledSoFar(client);
  assert.equal(client.socket.readyState, client.socket.OPEN);
  client.socket.close();
});

test('a tenant’s connection beyond the cap is closed with 4431; other tenants and freed places still connect', async () => {
  const a1 = await connect('ws-tenant-a');
  const a2 = await connect('ws-tenant-a');
  const a3 = await connect('ws-tenant-a');
  assert.deepEqual(await a3.closed, { code: 4431, reason: 'Too many connections for this tenant' });
  assert.ok(!a3.messages.some((m) => m.type === 'connection_ack'));
  const b = await connect('ws-tenant-b');
  assert.ok(
    b.messages.some((m) => m.type === 'connection_ack'),
    'another tenant is not affected',
  );
  a1.socket.close();
  await a1.closed;
  await until('the place to be freed', async () => {
    const again = await connect('ws-tenant-a');
    const ok = again.messages.some((m) => m.type === 'connection_ack');
    again.socket.close();
    return ok;
  });
  for (const c of [a2, b]) c.socket.close();
});

test('a client that floods messages is closed with 4432', async () => {
  const client = await connect('ws-flood');
  // ten times the rate at once: more than one second's allowance whichever windows the burst falls in
  for (let i = 0; i < 200; i++) client.send({ type: 'ping' });
  assert.deepEqual(await client.closed, { code: 4432, reason: 'Too many messages' });
});

test('a client within the rate keeps its connection', async () => {
  const client = await connect('ws-calm');
  // 16 messages with the init: under the 20 a second even when all arrive within one
  for (let i = 0; i < 15; i++) client.send({ type: 'ping' });
  await until('the pongs', async () => client.messages.filter((m) => m.type === 'pong').length === 15 || client.socket.readyState !== client.socket.OPEN);
  assert.equal(client.socket.readyState, client.socket.OPEN);
  client.socket.close();
});
