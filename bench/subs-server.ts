// Child process of bench/subscriptions.ts: holds the websocket subscribers, either the gateway
// (`gateway`: graphql-ws on buildApp, events published on its pubsub) or a bare `ws` server that
// speaks just enough graphql-ws (ack, subscribe, next) and sends a prebuilt answer (`bare`).
// stdin: {"cmd":"publish","tenants":[…],"payloads":{tenant: event}} → MSG {publishedAt}
//        {"cmd":"stats"} → MSG {rssMiB, heapMiB, cpuMs, sockets}
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import { jwtVerify } from 'jose';
import { buildApp } from '../src/app.ts';
import { createDb } from '../src/platform/db.ts';
import { testConfig, TEST_JWT_SECRET } from '../test/helpers/app.ts';
import { onStdinLines, rssMiB } from './lib.ts';

const [mode] = process.argv.slice(2);
const cpu0 = process.cpuUsage();
let publish: (tenant: string, event: any) => void;
let sockets: () => number;

if (mode === 'gateway') {
  const url = process.env.DATABASE_URL!;
  // 100 clients per tenant: above the default per-tenant connection limit (50), which the bench does not measure
  const perTenant = process.env.BENCH_SUBS_PER_TENANT ?? '10000';
  const config = testConfig({ DATABASE_URL: url, GRAPHIQL: 'false', WS_MAX_CONNECTIONS_PER_TENANT: perTenant });
  const app = await buildApp({ config, db: createDb(url), workers: false });
  const base = await app.start(0, '127.0.0.1');
  publish = (tenant, event) => (app.services.pubsub.publish as (t: string, id: string, e: unknown) => void)('delivery.updated', tenant, event);
  sockets = () => -1;
  console.log(`READY ${JSON.stringify({ url: base, pid: process.pid })}`);
  process.on('SIGTERM', () => void app.stop().finally(() => process.exit(0)));
} else {
  // tenant → (socket → subscription id); the answer is what the gateway sends for the same row
  const subs = new Map<string, Map<WebSocket, string>>();
  const secret = new TextEncoder().encode(TEST_JWT_SECRET);
  const server = createServer();
  const wss = new WebSocketServer({ server, path: '/graphql' });
  wss.on('connection', (ws) => {
    let tenant: string | undefined;
    ws.on('message', async (raw) => {
      const msg = JSON.parse(raw.toString());
      if (msg.type === 'connection_init') {
        const token = /^Bearer\s+(\S+)$/i.exec(msg.payload?.authorization ?? '')?.[1];
        try {
          const { payload } = await jwtVerify(token ?? '', secret, { algorithms: ['HS256'] });
          tenant = String(payload.accountId);
          ws.send(JSON.stringify({ type: 'connection_ack' }));
        } catch {
          ws.close(4401, 'Unauthorized');
        }
      } else if (msg.type === 'subscribe' && tenant) {
        let m = subs.get(tenant);
        if (!m) subs.set(tenant, (m = new Map()));
        m.set(ws, msg.id);
        ws.once('close', () => m!.delete(ws));
      } else if (msg.type === 'ping') ws.send(JSON.stringify({ type: 'pong' }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  publish = (tenant, event) => {
    const data = JSON.stringify({ deliveryUpdated: event.row });
    for (const [ws, id] of subs.get(tenant) ?? []) ws.send(`{"id":${JSON.stringify(id)},"type":"next","payload":{"data":${data}}}`);
  };
  sockets = () => wss.clients.size;
  console.log(`READY ${JSON.stringify({ url: `http://127.0.0.1:${port}`, pid: process.pid })}`);
  process.on('SIGTERM', () => process.exit(0));
}

onStdinLines((msg) => {
  if (msg.cmd === 'publish') {
    const publishedAt = Date.now();
    for (const tenant of msg.tenants as string[]) publish(tenant, msg.payloads[tenant]);
    console.log(`MSG ${JSON.stringify({ publishedAt })}`);
  } else if (msg.cmd === 'stats') {
    if (msg.gc && global.gc) global.gc();
    const u = process.cpuUsage(cpu0);
    const m = process.memoryUsage();
    const mib = (v: number) => Math.round(v / 2 ** 20);
    console.log(
      `MSG ${JSON.stringify({
        rssMiB: rssMiB(process.pid),
        heapMiB: mib(m.heapUsed),
        heapTotalMiB: mib(m.heapTotal),
        externalMiB: mib(m.external),
        arrayBuffersMiB: mib(m.arrayBuffers),
        cpuMs: (u.user + u.system) / 1000,
        sockets: sockets(),
      })}`,
    );
  }
});
