// One gateway process: GraphQL over HTTP and websocket, amoCRM's webhooks,
// health, and (optionally) the workers, on one port.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import { createYoga, type YogaServerInstance } from 'graphql-yoga';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { WebSocketServer } from 'ws';
import { useServer } from 'graphql-ws/use/ws';
import { createAuthenticator, AuthError, type Caller } from './auth.ts';
import type { Config } from './config.ts';
import { createContext, type Context } from './context.ts';
import { createDb, type Db } from './db.ts';
import { unauthenticated } from './errors.ts';
import { bridgeEvents, createGatewayPubSub } from './events.ts';
import { createMaskError } from './http/mask-error.ts';
import { handleRoute } from './http/routes.ts';
import { createLogger, type Logger } from './logger.ts';
import { createQueue, type Queue, type Subscription } from './queue/index.ts';
import { schema } from './schema/index.ts';
import type { Services } from './services.ts';
import { startWorkers, type Workers } from './workers/index.ts';

export interface AppOptions {
  config: Config;
  /** Reuse a client (tests); otherwise one is made from config.databaseUrl. */
  db?: Db;
  queue?: Queue;
  logger?: Logger;
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

export async function buildApp(options: AppOptions): Promise<App> {
  const { config } = options;
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const instanceId = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  if (!options.db && !config.databaseUrl) throw new Error('DATABASE_URL is not set');
  const db = options.db ?? createDb(config.databaseUrl!);
  const queue =
    options.queue ??
    (await createQueue({
      brokers: config.kafka.brokers,
      topicPrefix: config.kafka.topicPrefix,
      instanceId,
      logger,
    }));
  const pubsub = createGatewayPubSub();
  const services: Services = { config, db, queue, pubsub, logger, instanceId };
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
    graphiql: config.graphiql ? { title: 'quiz ↔ amoCRM gateway', subscriptionsProtocol: 'WS' } : false,
    landingPage: false,
    logging: false,
    maskedErrors: { maskError: createMaskError(logger) },
    plugins: [EnvelopArmorPlugin(ARMOR_LIMITS)],
    context: async (initial) => {
      const caller = (initial as { caller?: Caller }).caller ?? (await callerOf(initial.request.headers.get('authorization')));
      return createContext(services, caller);
    },
  });

  const server = createServer((req, res) => {
    void dispatch(req, res);
  });

  async function dispatch(req: IncomingMessage, res: ServerResponse) {
    try {
      const url = new URL(req.url ?? '/', 'http://gateway');
      if (url.pathname === '/graphql') return void (await yoga.requestListener(req, res));
      if (await handleRoute(services, req, res, url)) return;
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found');
    } catch (err) {
      logger.error({ err }, 'request failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('Internal server error');
    }
  }

  const wsServer = new WebSocketServer({ server, path: '/graphql', maxPayload: 1 << 20 });
  const expiryTimers = new Map<unknown, NodeJS.Timeout>();
  useServer<Record<string, unknown>, { caller?: Caller }>(
    {
      onConnect: async (ctx) => {
        const authorization = (ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization) as string | undefined;
        try {
          const caller = await authenticate(authorization);
          ctx.extra.caller = caller;
          // A token that expires while connected ends the connection.
          const ms = caller.expiresAt * 1000 - Date.now();
          const timer = setTimeout(() => ctx.extra.socket.close(4401, 'Token expired'), Math.max(0, ms));
          timer.unref();
          expiryTimers.set(ctx.extra.socket, timer);
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
        const args = {
          schema,
          operationName: params.operationName,
          document: parse(params.query),
          variableValues: params.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        };
        const errors = validate(args.schema, args.document);
        if (errors.length) return errors;
        return args;
      },
    },
    wsServer,
  );

  let eventBridge: Subscription | undefined;
  let workers: Workers | undefined;

  return {
    services,
    server,
    yoga,
    async start(port = config.port, host = config.host) {
      eventBridge = await bridgeEvents(queue, pubsub);
      if (options.workers !== false) workers = await startWorkers(services);
      await new Promise<void>((resolve) => server.listen(port, host, resolve));
      const address = server.address() as AddressInfo;
      const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
      return `http://${shownHost}:${address.port}`;
    },
    async stop() {
      // Stop taking requests, tell websocket clients we are going away, then let work finish.
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const client of wsServer.clients) client.close(1001, 'Server shutting down');
        server.closeAllConnections?.();
      });
      await new Promise<void>((resolve) => wsServer.close(() => resolve()));
      for (const timer of expiryTimers.values()) clearTimeout(timer);
      await workers?.stop();
      await eventBridge?.stop();
      if (!options.queue) await queue.close();
      if (!options.db) await db.$disconnect();
    },
  };
}
