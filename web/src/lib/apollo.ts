// One Apollo Client per signed-in token: queries and mutations over HTTP, subscriptions over
// graphql-ws, Relay-style connections merged page by page in the cache.
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from '@apollo/client';
import { ErrorLink } from '@apollo/client/link/error';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition, relayStylePagination } from '@apollo/client/utilities';
import { createClient, type Client } from 'graphql-ws';
import { hasCode } from './errors.ts';

export type LiveState = 'connecting' | 'live' | 'offline';

export interface Gateway {
  client: ApolloClient;
  ws: Client;
  dispose(): void;
}

/** The websocket close code the gateway uses for a bad or expired token. */
const UNAUTHORIZED_CLOSE = 4401;

export function createCache() {
  return new InMemoryCache({
    typePolicies: {
      Query: {
        fields: {
          // every connection is keyed by its filters; pages of one key are merged
          pipelines: relayStylePagination(['includeArchived']),
          steps: relayStylePagination(['pipelineId']),
          users: relayStylePagination(),
          fields: relayStylePagination(['entity']),
          tags: relayStylePagination(['entity']),
          utms: relayStylePagination(['quizId']),
          deliveries: relayStylePagination(['quizId', 'status', 'reason', 'outcome', 'stepId']),
          rule: { keyArgs: ['quizId'] },
        },
      },
      Pipeline: { fields: { steps: relayStylePagination() } },
      // Value objects without ids: replaced as a whole.
      Account: { fields: { deliveryHealth: { merge: false }, lastSync: { merge: false } } },
      Rule: { fields: { fieldsRule: { merge: false }, tagsToAdd: { merge: false } } },
    },
  });
}

export function createGateway(token: string, events: { onUnauthenticated(): void; onLiveState(state: LiveState): void }): Gateway {
  const authorization = `Bearer ${token}`;
  const wsUrl = `${window.location.protocol === 'https:' ? 'wss' : 'ws'}://${window.location.host}/graphql`;
  let wasConnected = false;
  const ws = createClient({
    url: wsUrl,
    connectionParams: { authorization },
    lazy: false,
    retryAttempts: Infinity,
    // A refused token will not get better by retrying.
    shouldRetry: (event) => (event as CloseEvent | undefined)?.code !== UNAUTHORIZED_CLOSE,
    retryWait: async (retries) => new Promise((resolve) => setTimeout(resolve, Math.min(1000 * 2 ** retries, 15_000))),
    onNonLazyError: () => {},
    on: {
      connecting: () => events.onLiveState('connecting'),
      connected: () => {
        events.onLiveState('live');
        // events published while the socket was down are gone: read the screens' data again
        // (a reconnect: the client below exists by then, the first connect comes after this function returns)
        if (wasConnected) void client.refetchQueries({ include: 'active' });
        wasConnected = true;
      },
      closed: (event) => {
        events.onLiveState('offline');
        if ((event as CloseEvent | undefined)?.code === UNAUTHORIZED_CLOSE) events.onUnauthenticated();
      },
    },
  });
  const http = new HttpLink({ uri: '/graphql', headers: { authorization } });
  const errors = new ErrorLink(({ error }) => {
    if (hasCode(error, 'UNAUTHENTICATED')) events.onUnauthenticated();
  });
  const transport = ApolloLink.split(
    ({ query }) => {
      const definition = getMainDefinition(query);
      return definition.kind === 'OperationDefinition' && definition.operation === 'subscription';
    },
    new GraphQLWsLink(ws),
    http,
  );
  const client = new ApolloClient({ link: ApolloLink.from([errors, transport]), cache: createCache() });
  return {
    client,
    ws,
    dispose() {
      client.stop();
      // dispose() waits for a connection under way and rethrows its refusal (a 4401 close): nothing to do about it here
      void Promise.resolve(ws.dispose()).catch(() => {});
    },
  };
}
