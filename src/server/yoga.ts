// The GraphQL server itself (graphql-yoga): schema, limits, error masking, and who the caller is.
import { GraphQLError, NoSchemaIntrospectionCustomRule } from 'graphql';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { AuthError, type Authenticator, type Caller } from '../platform/auth.ts';
import { createContext, type Context } from '../platform/context.ts';
import { corsOptions } from '../platform/http/cors.ts';
import { unauthenticated } from '../platform/errors.ts';
import { createMaskError } from '../platform/http/mask-error.ts';
import type { Metrics } from '../platform/http/metrics.ts';
import type { Services } from '../platform/services.ts';
import { schema } from '../schema/index.ts';
import { costLimit, type CostLimits } from './cost.ts';
import { createResponseCache } from '../features/catalogue/index.ts';

export type GatewayYoga = YogaServerInstance<Record<string, unknown>, Context>;

/** graphql-armor limits sized for Relay: connections nest edges → node → field. */
export const ARMOR_LIMITS = {
  maxDepth: { n: 12 },
  // the cost limit is COST_LIMITS (./cost.ts), which reads variables and the default page size
  costLimit: { enabled: false },
  maxAliases: { n: 15 },
  maxTokens: { n: 2000 },
  maxDirectives: { n: 20 },
};

/**
 * Cost counts connection sizes (first/last as literal or variable, else the default page of
 * 25): pipelines(first: 50) { steps(first: 30) } (1,500 nodes) costs about 27,000.
 */
export const COST_LIMITS: CostLimits = { maxCost: 50000, objectCost: 2, scalarCost: 1, depthCostFactor: 1.2, defaultPageSize: 25 };

/** Rejects __schema and __type (introspection); __typename stays allowed. */
export function disableIntrospection(): Plugin {
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(NoSchemaIntrospectionCustomRule);
    },
  };
}

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

/**
 * The yoga server of `/graphql`. A websocket operation brings its caller (checked when the
 * connection opened); an HTTP one is authenticated from its `authorization` header.
 */
export function createGatewayYoga(services: Services, metrics: Metrics, authenticate: Authenticator): GatewayYoga {
  const { config, logger } = services;

  async function callerOf(authorization: string | null | undefined): Promise<Caller> {
    try {
      return await authenticate(authorization);
    } catch (err) {
      if (err instanceof AuthError) throw unauthenticated(`Unauthenticated: ${err.message}`);
      throw err;
    }
  }

  // catalogue answers per tenant and catalogue version (src/features/catalogue/response-cache.ts)
  const responseCache = createResponseCache();
  return createYoga<Record<string, unknown>, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    graphiql: config.graphiql && !config.isProduction ? { title: 'quiz ↔ amoCRM gateway', subscriptionsProtocol: 'WS' } : false,
    landingPage: false,
    cors: corsOptions(config),
    logging: false,
    maskedErrors: { maskError: createMaskError(logger) },
    plugins: [
      EnvelopArmorPlugin(ARMOR_LIMITS),
      costLimit(COST_LIMITS),
      metrics.plugin,
      subscriptionsOverWebsocketOnly(),
      ...(config.isProduction ? [disableIntrospection()] : []),
      responseCache.plugin,
    ],
    context: async (initial) => {
      // over the websocket the caller comes from the connection and there is no fetch Request
      const { caller: known, request } = initial as { caller?: Caller; request?: Request };
      const caller = known ?? (await callerOf(request?.headers.get('authorization')));
      return createContext(services, caller, request?.signal);
    },
  });
}
