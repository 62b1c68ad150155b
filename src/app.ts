// One gateway process: GraphQL over HTTP and websocket, amoCRM's webhooks,
// health, and (optionally) the workers, on one port. The parts are built in src/server/;
// here they are put together, started and stopped.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAuthenticator } from './platform/auth.ts';
import { bridgeEvents } from './platform/events.ts';
import type { Subscription } from './platform/queue/index.ts';
import { createServices, type CreateServicesOptions, type Services } from './platform/services.ts';
import { createHttpFront } from './server/http.ts';
import { serveGraphqlWs } from './server/websocket.ts';
import { createGatewayYoga, type GatewayYoga } from './server/yoga.ts';
import { startWorkers, type Workers } from './workers/index.ts';

// where the tests take them from
export { ARMOR_LIMITS } from './server/yoga.ts';
export { routeLabel } from './server/http.ts';

/**
 * The services' options (`createServices`: config, and db, queue, logger, fetch … to reuse or
 * override; a db or queue given here is not closed by stop()) and the app's own.
 */
export interface AppOptions extends CreateServicesOptions {
  /** Run the queue consumers and periodic jobs in this process (default true). */
  workers?: boolean;
}

export interface App {
  services: Services;
  server: Server;
  yoga: GatewayYoga;
  /** graphql-ws subscription executions running and the subscribers they serve (one per tenant and operation) */
  subscriptionStats(): { executions: number; subscribers: number };
  start(port?: number, host?: string): Promise<string>;
  stop(): Promise<void>;
}

/** How often a replica with workers looks for amo.events rows nobody relayed (left by a crash). */
export const EVENT_SWEEP_MS = 5_000;

/**
 * How long stop() waits for each phase before it moves on, and for all of them together
 * (under main.ts' 30 s forced exit). The workers get what the requests left over.
 */
export const SHUTDOWN_GRACE_MS = { total: 25_000, requests: 5_000, websockets: 2_000, workers: 15_000, other: 3_000 };

/** Resolves when `promise` settles or after `ms`, whichever is first; says which. */
async function bounded(promise: Promise<unknown> | undefined, ms: number): Promise<boolean> {
  if (!promise) return true;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function buildApp(options: AppOptions): Promise<App> {
  const { workers: runWorkers, ...serviceOptions } = options;
  // a replica that runs the workers also sweeps amo.events' outbox for rows a crashed one left
  const services = await createServices({ ...serviceOptions, metrics: undefined, eventSweepMs: serviceOptions.eventSweepMs ?? (runWorkers !== false ? EVENT_SWEEP_MS : 0) });
  const { config, logger, queue, pubsub } = services;
  // The app serves /metrics and times requests: it always has its metrics.
  const metrics = services.metrics!;
  const authenticate = createAuthenticator(config.auth);
  const yoga = createGatewayYoga(services, metrics, authenticate);
  const http = createHttpFront(services, metrics, yoga);
  const { server } = http;
  const ws = serveGraphqlWs(server, yoga, authenticate, http.accepting, config.ws);

  let eventBridge: Subscription | undefined;
  let workers: Workers | undefined;
  let stopping: Promise<void> | undefined;

  return {
    services,
    server,
    yoga,
    subscriptionStats: () => ws.subscriptionStats(),
    async start(port = config.port, host = config.host) {
      eventBridge = await bridgeEvents(queue, pubsub);
      // Listen first: joining a Kafka group can wait out a dead member's session (after a crash),
      // and health checks must be answered meanwhile.
      await new Promise<void>((resolve) => server.listen(port, host, resolve));
      if (runWorkers !== false) workers = await startWorkers(services);
      const address = server.address() as AddressInfo;
      const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
      return `http://${shownHost}:${address.port}`;
    },
    stop() {
      stopping ??= shutdown();
      return stopping;
    },
  };

  /**
   * Stops taking requests and websockets (1001), lets requests in flight finish, then the
   * workers (their handlers finish or their messages go back to the group uncommitted),
   * then closes the queue and the database. Every phase is bounded; calling it again
   * returns the same promise.
   */
  async function shutdown(): Promise<void> {
    const log = logger.child({ component: 'shutdown' });
    const deadline = Date.now() + SHUTDOWN_GRACE_MS.total;
    // Past the deadline every phase still gets a moment, so the queue and database are at least asked to close.
    const within = (ms: number) => Math.max(250, Math.min(ms, deadline - Date.now()));
    http.stopAccepting();
    const serverClosed = new Promise<void>((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
    });
    server.closeIdleConnections();
    ws.goAway();
    if (!(await bounded(http.drained(), within(SHUTDOWN_GRACE_MS.requests)))) {
      log.warn({ inFlight: http.inFlight() }, 'requests still running at shutdown; closing their connections');
    }
    server.closeAllConnections();
    const wsClosed = ws.close();
    if (!(await bounded(wsClosed, within(SHUTDOWN_GRACE_MS.websockets)))) {
      ws.terminate();
      await bounded(wsClosed, within(SHUTDOWN_GRACE_MS.other));
    }
    await bounded(serverClosed, within(SHUTDOWN_GRACE_MS.other));
    ws.clearTimers();
    const step = async (what: string, ms: number, fn: (() => Promise<unknown>) | undefined) => {
      if (!fn) return;
      try {
        if (!(await bounded(fn(), within(ms)))) log.error({ what, ms }, 'shutdown step did not finish in time; moving on');
      } catch (err) {
        log.error({ err, what }, 'shutdown step failed');
      }
    };
    await step('workers', SHUTDOWN_GRACE_MS.workers, workers && (() => workers!.stop()));
    await step('event bridge', SHUTDOWN_GRACE_MS.other, eventBridge && (() => eventBridge!.stop()));
    // metrics, then the queue and the database when the services made them
    for (const part of services.closers) await step(part.what, part.what === 'queue' ? SHUTDOWN_GRACE_MS.workers : SHUTDOWN_GRACE_MS.other, part.close);
  }
}
