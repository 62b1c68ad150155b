// GraphQL over graphql-ws on `ws /graphql`: the caller is authenticated once, when the
// connection opens, and the connection ends when its token expires.
import type { Server } from 'node:http';
import { getOperationAST, GraphQLError, type DocumentNode, type execute, type subscribe } from 'graphql';
import { WebSocketServer, type WebSocket } from 'ws';
import { useServer } from 'graphql-ws/use/ws';
import type { Authenticator, Caller } from '../platform/auth.ts';
import { MAX_BODY_BYTES } from './http.ts';
import { createSharedSubscriptions } from './shared-subscriptions.ts';
import type { GatewayYoga } from './yoga.ts';

/** Node's timers top out at about 24.8 days. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface WsLimits {
  maxSubscriptionsPerConnection: number;
  maxConnectionsPerTenant: number;
  maxMessagesPerSecond: number;
}

export const DEFAULT_WS_LIMITS: WsLimits = { maxSubscriptionsPerConnection: 20, maxConnectionsPerTenant: 50, maxMessagesPerSecond: 20 };

/** Close codes of abuse, beside graphql-ws's own 44xx (README's routes, contract/README.md). */
export const WS_CLOSE = {
  tooManyOperations: [4430, 'Too many operations on this connection'],
  tooManyConnections: [4431, 'Too many connections for this tenant'],
  tooManyMessages: [4432, 'Too many messages'],
} as const;

export interface GraphqlWs {
  /** Asks every client to go (1001, "going away"). */
  goAway(): void;
  /** Closes the websocket server; resolves once every client is gone. */
  close(): Promise<void>;
  /** Drops the clients that did not go when asked. */
  terminate(): void;
  /** Ends the token-expiry timers still armed. */
  clearTimers(): void;
  /** Subscription executions running, and the subscribers they serve (shared-subscriptions.ts). */
  subscriptionStats(): { executions: number; subscribers: number };
}

/** What onSubscribe hands graphql-ws as the root: the enveloped execute/subscribe and, for a subscription, its sharing key. */
interface OperationRoot {
  execute: typeof execute;
  subscribe: typeof subscribe;
  shared?: { key: string; socket: WebSocket; id: string };
}

export function serveGraphqlWs(server: Server, yoga: GatewayYoga, authenticate: Authenticator, accepting: () => boolean, limits: WsLimits = DEFAULT_WS_LIMITS): GraphqlWs {
  const wsServer = new WebSocketServer({ server, path: '/graphql', maxPayload: MAX_BODY_BYTES });
  const expiryTimers = new Map<WebSocket, NodeJS.Timeout>();
  const tenantSockets = new Map<string, Set<WebSocket>>();
  const shared = createSharedSubscriptions();

  // Counted before graphql-ws reads a message: a flood is cut off whatever it carries.
  wsServer.on('connection', (socket) => {
    let windowStart = Date.now();
    let inWindow = 0;
    socket.on('message', () => {
      const now = Date.now();
      if (now - windowStart >= 1000) {
        windowStart = now;
        inWindow = 0;
      }
      if (++inWindow > limits.maxMessagesPerSecond && socket.readyState === socket.OPEN) socket.close(...WS_CLOSE.tooManyMessages);
    });
  });

  /** Holds a place for the tenant's connection; false when it has as many open as it may. */
  function admit(socket: WebSocket, tenant: string): boolean {
    const sockets = tenantSockets.get(tenant) ?? new Set<WebSocket>();
    if (sockets.size >= limits.maxConnectionsPerTenant) return false;
    sockets.add(socket);
    tenantSockets.set(tenant, sockets);
    socket.once('close', () => {
      sockets.delete(socket);
      if (!sockets.size && tenantSockets.get(tenant) === sockets) tenantSockets.delete(tenant);
    });
    return true;
  }

  /** A token that expires while connected ends the connection; a longer wait than a timer takes is re-armed in steps. */
  function closeAtExpiry(socket: WebSocket, caller: Caller): void {
    const ms = caller.expiresAt * 1000 - Date.now();
    if (ms <= 0) {
      expiryTimers.delete(socket);
      socket.close(4401, 'Token expired');
      return;
    }
    const timer = setTimeout(() => closeAtExpiry(socket, caller), Math.min(ms, MAX_TIMER_MS));
    timer.unref();
    expiryTimers.set(socket, timer);
  }

  useServer<Record<string, unknown>, { caller?: Caller }>(
    {
      onConnect: async (ctx) => {
        const socket = ctx.extra.socket;
        if (!accepting()) {
          socket.close(1001, 'Server shutting down');
          return false;
        }
        const authorization = (ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization) as string | undefined;
        try {
          const caller = await authenticate(authorization);
          ctx.extra.caller = caller;
          // The client may have gone while the token was being checked.
          if (socket.readyState !== socket.OPEN) return false;
          if (!admit(socket, caller.quizAccountId)) {
            socket.close(...WS_CLOSE.tooManyConnections);
            return false;
          }
          closeAtExpiry(socket, caller);
          return true;
        } catch {
          socket.close(4401, 'Unauthorized');
          return false;
        }
      },
      onClose: (ctx) => {
        clearTimeout(expiryTimers.get(ctx.extra.socket));
        expiryTimers.delete(ctx.extra.socket);
      },
      execute: (args) => (args.rootValue as OperationRoot).execute(args),
      subscribe: (args) => {
        const root = args.rootValue as OperationRoot;
        if (!root.shared) return root.subscribe(args);
        // the first subscriber of the key starts the one execution, with its own context
        return shared.join(root.shared.key, root.shared.socket, root.shared.id, () => root.subscribe(args));
      },
      onSubscribe: async (ctx, id, params) => {
        // graphql-ws has registered this operation already: it counts itself
        if (Object.keys(ctx.subscriptions).length > limits.maxSubscriptionsPerConnection) {
          ctx.extra.socket.close(...WS_CLOSE.tooManyOperations);
          return [new GraphQLError(WS_CLOSE.tooManyOperations[1])];
        }
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
        let document: DocumentNode;
        try {
          document = parse(params.query);
          const errors = validate(schema, document);
          if (errors.length) return errors;
        } catch (err) {
          if (err instanceof GraphQLError) return [err];
          throw err;
        }
        const root: OperationRoot = { execute, subscribe };
        const caller = ctx.extra.caller;
        if (caller && getOperationAST(document, params.operationName)?.operation === 'subscription') {
          // one execution per tenant and operation: the tenant is part of the key, so is every variable
          const key = JSON.stringify([caller.quizAccountId, params.operationName ?? null, params.query, params.variables ?? {}]);
          root.shared = { key, socket: ctx.extra.socket, id };
        }
        return {
          schema,
          operationName: params.operationName,
          document,
          variableValues: params.variables,
          contextValue: await contextFactory(),
          rootValue: root,
        };
      },
    },
    wsServer,
  );

  return {
    goAway() {
      for (const client of wsServer.clients) client.close(1001, 'Server shutting down');
    },
    close: () => new Promise<void>((resolve) => wsServer.close(() => resolve())),
    terminate() {
      for (const client of wsServer.clients) client.terminate();
    },
    clearTimers() {
      for (const timer of expiryTimers.values()) clearTimeout(timer);
      expiryTimers.clear();
    },
    subscriptionStats: () => shared.stats(),
  };
}
