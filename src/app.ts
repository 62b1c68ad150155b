// One gateway process: GraphQL over HTTP and websocket, amoCRM's webhooks,
// health, and (optionally) the workers, on one port.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GraphQLError, NoSchemaIntrospectionCustomRule } from 'graphql';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { WebSocketServer } from 'ws';
import { useServer } from 'graphql-ws/use/ws';
import { createAuthenticator, AuthError, type Caller } from './platform/auth.ts';
import { createContext, type Context } from './platform/context.ts';
import { unauthenticated } from './platform/errors.ts';
import { bridgeEvents } from './platform/events.ts';
import { createMaskError } from './platform/http/mask-error.ts';
import { handleRoute } from './routes.ts';
import type { Subscription } from './platform/queue/index.ts';
import { schema } from './schema/index.ts';
import { createServices, type CreateServicesOptions, type Services } from './platform/services.ts';
import { startWorkers, type Workers } from './workers/index.ts';
import { BodyTooLargeError, readBody } from './platform/http/body.ts';

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
  yoga: YogaServerInstance<Record<string, unknown>, Context>;
  start(port?: number, host?: string): Promise<string>;
  stop(): Promise<void>;
}

/** graphql-armor limits sized for Relay: connections nest edges → node → field. */
export const ARMOR_LIMITS = {
  maxDepth: { n: 12 },
  // Cost counts first/last: pipelines(first: 50) { steps(first: 30) } (1,500 nodes) costs about 27,000.
  costLimit: { maxCost: 50000, objectCost: 2, scalarCost: 1, depthCostFactor: 1.2 },
  maxAliases: { n: 15 },
  maxTokens: { n: 2000 },
  maxDirectives: { n: 20 },
};

/** Largest request body read (HTTP); the websocket's maxPayload is the same. */
export const MAX_BODY_BYTES = 1 << 20;

/**
 * How long stop() waits for each phase before it moves on, and for all of them together
 * (under main.ts' 30 s forced exit). The workers get what the requests left over.
 */
export const SHUTDOWN_GRACE_MS = { total: 25_000, requests: 5_000, websockets: 2_000, workers: 15_000, other: 3_000 };

/** Rejects __schema and __type (introspection); __typename stays allowed. */
export function disableIntrospection(): Plugin {
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(NoSchemaIntrospectionCustomRule);
    },
  };
}

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

const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Subscriptions only over graphql-ws: there a token that expires ends the connection; an HTTP
 * event stream would go on pushing a tenant's events past its token's expiry.
 */
function subscriptionsOverWebsocketOnly(): Plugin {
  return {
    onSubscribe({ args, setResultAndStopExecution }) {
      if ((args.contextValue as { socket?: unknown }).socket) return;
      setResultAndStopExecution({
        errors: [new GraphQLError('Subscriptions are served over graphql-ws (ws /graphql)', { extensions: { code: 'BAD_USER_INPUT' } })],
      });
    },
  };
}

const KNOWN_ROUTES = new Set(['/graphql', '/healthz', '/readyz', '/metrics', '/webhook/create', '/webhook/delete']);

/** The metric and log label of a request path: known routes as they are, webhooks without their secret. */
export function routeLabel(pathname: string, status: number): string {
  if (pathname.startsWith('/webhook/amo/')) return '/webhook/amo/:secret';
  return status !== 404 && KNOWN_ROUTES.has(pathname) ? pathname : 'unmatched';
}

export async function buildApp(options: AppOptions): Promise<App> {
  const { workers: runWorkers, ...serviceOptions } = options;
  const services = await createServices({ ...serviceOptions, metrics: undefined });
  const { config, logger, queue, pubsub } = services;
  // The app serves /metrics and times requests: it always has its metrics.
  const metrics = services.metrics!;
  const authenticate = createAuthenticator(config.auth);

  async function callerOf(authorization: string | null | undefined): Promise<Caller> {
    try {
      return await authenticate(authorization);
    } catch (err) {
      if (err instanceof AuthError) throw unauthenticated(`Unauthenticated: ${err.message}`);
      throw err;
    }
  }

  const yoga = createYoga<Record<string, unknown>, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    graphiql: config.graphiql && !config.isProduction ? { title: 'quiz ↔ amoCRM gateway', subscriptionsProtocol: 'WS' } : false,
    landingPage: false,
    logging: false,
    maskedErrors: { maskError: createMaskError(logger) },
    plugins: [EnvelopArmorPlugin(ARMOR_LIMITS), metrics.plugin, subscriptionsOverWebsocketOnly(), ...(config.isProduction ? [disableIntrospection()] : [])],
    context: async (initial) => {
      const caller = (initial as { caller?: Caller }).caller ?? (await callerOf(initial.request.headers.get('authorization')));
      return createContext(services, caller);
    },
  });

  const server = createServer((req, res) => {
    void dispatch(req, res);
  });

  // Requests being answered, so stop() can let them finish.
  let accepting = true;
  let inFlight = 0;
  let onDrained: (() => void) | undefined;
  const requestLog = logger.child({ component: 'http' });

  async function dispatch(req: IncomingMessage, res: ServerResponse) {
    const start = process.hrtime.bigint();
    const url = new URL(req.url ?? '/', 'http://gateway');
    const method = req.method ?? 'GET';
    inFlight++;
    res.once('close', () => {
      inFlight--;
      if (inFlight === 0) onDrained?.();
      const status = res.statusCode;
      // Fixed labels only: a path may carry a secret (webhooks) or be anything a stranger sent.
      const route = routeLabel(url.pathname, status);
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      metrics.httpDuration.observe({ route, method, status: String(status) }, seconds);
      // No query string (OAuth codes and states travel there), no bodies, no headers but the fact of an authorization.
      requestLog.info(
        {
          method,
          route,
          status,
          durationMs: Math.round(seconds * 1e4) / 10,
          ...(req.headers.authorization ? { authorization: '[redacted]' } : {}),
          ...(res.writableFinished ? {} : { aborted: true }),
        },
        'request',
      );
    });
    try {
      if (!accepting) {
        res.writeHead(503, { 'content-type': 'text/plain', connection: 'close', 'retry-after': '1' }).end('Shutting down');
        return;
      }
      if (url.pathname === '/graphql') {
        const declared = Number(req.headers['content-length'] ?? 0);
        if (declared > MAX_BODY_BYTES) {
          res.writeHead(413, { 'content-type': 'text/plain', connection: 'close' }).end('Request body too large');
          req.resume();
          return;
        }
        if (req.headers['transfer-encoding'] && !req.headers['content-length']) {
          try {
            const body = await readBody(req, MAX_BODY_BYTES);
            // @whatwg-node/server uses an already-read body as it is (a Buffer; an empty one is left out).
            if (body.length > 0) (req as IncomingMessage & { body?: Buffer }).body = body;
          } catch (err) {
            if (!(err instanceof BodyTooLargeError)) throw err;
            res.writeHead(413, { 'content-type': 'text/plain', connection: 'close' }).end('Request body too large');
            return;
          }
        }
        return void (await yoga.requestListener(req, res));
      }
      if (await handleRoute(services, req, res, url)) return;
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found');
    } catch (err) {
      logger.error({ err }, 'request failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('Internal server error');
    }
  }

  const wsServer = new WebSocketServer({ server, path: '/graphql', maxPayload: MAX_BODY_BYTES });
  const expiryTimers = new Map<unknown, NodeJS.Timeout>();
  useServer<Record<string, unknown>, { caller?: Caller }>(
    {
      onConnect: async (ctx) => {
        if (!accepting) {
          ctx.extra.socket.close(1001, 'Server shutting down');
          return false;
        }
        const authorization = (ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization) as string | undefined;
        try {
          const caller = await authenticate(authorization);
          ctx.extra.caller = caller;
          // The client may have gone while the token was being checked.
          if (ctx.extra.socket.readyState !== ctx.extra.socket.OPEN) return false;
          // A token that expires while connected ends the connection. Node's timers top out at
          // about 24.8 days, so a longer wait is re-armed in steps.
          const socket = ctx.extra.socket;
          const arm = () => {
            const ms = caller.expiresAt * 1000 - Date.now();
            if (ms <= 0) {
              expiryTimers.delete(socket);
              socket.close(4401, 'Token expired');
              return;
            }
            const timer = setTimeout(arm, Math.min(ms, MAX_TIMER_MS));
            timer.unref();
            expiryTimers.set(socket, timer);
          };
          arm();
          return true;
        } catch {
          ctx.extra.socket.close(4401, 'Unauthorized');
          return false;
        }
      },
      onClose: (ctx) => {
        clearTimeout(expiryTimers.get(ctx.extra.socket));
        expiryTimers.delete(ctx.extra.socket);
      },
      execute: (args) => (args.rootValue as { execute: typeof import('graphql').execute }).execute(args),
      subscribe: (args) => (args.rootValue as { subscribe: typeof import('graphql').subscribe }).subscribe(args),
      onSubscribe: async (ctx, _id, params) => {
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params,
          caller: ctx.extra.caller,
        });
        // The same parse and validate as over HTTP, plugins included. graphql-armor's limits
        // throw their GraphQLError (token limit from parse; depth, cost and aliases from their
        // validation rules): answer it as the operation's error instead of letting graphql-ws
        // close the whole connection with 4500.
        let document: import('graphql').DocumentNode;
        try {
          document = parse(params.query);
          const errors = validate(schema, document);
          if (errors.length) return errors;
        } catch (err) {
          if (err instanceof GraphQLError) return [err];
          throw err;
        }
        return {
          schema,
          operationName: params.operationName,
          document,
          variableValues: params.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        };
      },
    },
    wsServer,
  );

  let eventBridge: Subscription | undefined;
  let workers: Workers | undefined;
  let stopping: Promise<void> | undefined;

  return {
    services,
    server,
    yoga,
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
    accepting = false;
    const serverClosed = new Promise<void>((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
    });
    server.closeIdleConnections();
    for (const client of wsServer.clients) client.close(1001, 'Server shutting down');
    const drained = inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => (onDrained = resolve));
    if (!(await bounded(drained, within(SHUTDOWN_GRACE_MS.requests)))) log.warn({ inFlight }, 'requests still running at shutdown; closing their connections');
    server.closeAllConnections();
    const wsClosed = new Promise<void>((resolve) => wsServer.close(() => resolve()));
    if (!(await bounded(wsClosed, within(SHUTDOWN_GRACE_MS.websockets)))) {
      for (const client of wsServer.clients) client.terminate();
      await bounded(wsClosed, within(SHUTDOWN_GRACE_MS.other));
    }
    await bounded(serverClosed, within(SHUTDOWN_GRACE_MS.other));
    for (const timer of expiryTimers.values()) clearTimeout(timer);
    expiryTimers.clear();
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
