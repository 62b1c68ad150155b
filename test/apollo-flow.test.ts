// Issue 6, "clients as they are used": the quiz admin SPA's whole flow with Apollo
// Client 4 (HttpLink for queries and mutations, GraphQLWsLink over graphql-ws for
// subscriptions), against a gateway with its workers and the amoCRM simulator.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ApolloClient, HttpLink, InMemoryCache, gql, split, type TypedDocumentNode } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition } from '@apollo/client/utilities';
import { createClient, type Client as WsClient } from 'graphql-ws';
import WebSocket from 'ws';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { tokenFor } from './helpers/app.ts';
import { TEST_AMO_CLIENT_ID } from './helpers/amo.ts';
import { startStack, untilListening, type Stack } from './helpers/stack.ts';
import { at, defined } from './helpers/narrow.ts';

let testDb: TestDatabase;
let stack: Stack;
let ws: WsClient;
let client: ApolloClient;

before(async () => {
  testDb = await createTestDatabase();
  stack = await startStack(testDb, { workers: true });
  const token = await tokenFor('spa-owner');
  // As the SPA wires it: operations over HTTP, subscriptions over the websocket.
  ws = createClient({
    url: `${stack.gw.url.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 0,
  });
  const http = new HttpLink({ uri: `${stack.gw.url}/graphql`, headers: { authorization: `Bearer ${token}` } });
  const link = split(
    ({ query }) => {
      const definition = getMainDefinition(query);
      return definition.kind === 'OperationDefinition' && definition.operation === 'subscription';
    },
    new GraphQLWsLink(ws),
    http,
  );
  client = new ApolloClient({ link, cache: new InMemoryCache() });
});
after(async () => {
  client?.stop();
  await ws?.dispose();
  await stack?.stop();
  await testDb?.drop();
});

/** The first value of a subscription that satisfies `until`; registered before it resolves `ready`. */
function waitFor<T>(query: TypedDocumentNode<T>, variables: Record<string, unknown>, until: (data: T) => boolean, listening: () => boolean) {
  let seen: T[] = [];
  const value = new Promise<T>((resolve, reject) => {
    const subscription = client.subscribe({ query, variables }).subscribe({
      next: (result) => {
        if (result.error) return reject(result.error);
        const data = result.data as T;
        seen = [...seen, data];
        if (until(data)) {
          subscription.unsubscribe();
          resolve(data);
        }
      },
      error: reject,
    });
  });
  return { value, ready: untilListening(listening), seen: () => seen };
}

const SYNC_COMPLETED: TypedDocumentNode<{
  syncCompleted: { id: string; status: string; counts: { users: number; pipelines: number; steps: number; fields: number; tags: number } };
}> = gql`
  subscription SyncCompleted {
    syncCompleted {
      id
      status
      counts {
        users
        pipelines
        steps
        fields
        tags
      }
    }
  }
`;
const DELIVERY_UPDATED: TypedDocumentNode<{ deliveryUpdated: { id: string; status: string; amoLeadId: number | null; resultId: string } }> = gql`
  subscription DeliveryUpdated($quizId: ID) {
    deliveryUpdated(quizId: $quizId) {
      id
      status
      amoLeadId
      resultId
    }
  }
`;
const CONNECT = gql`
  mutation ConnectAccount {
    connectAccount {
      link
    }
  }
`;
const PIPELINES = gql`
  query PipelinesWithSteps($first: Int, $after: String) {
    pipelines(first: $first, after: $after) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      edges {
        node {
          id
          name
          isMain
          steps(first: 20) {
            totalCount
            edges {
              node {
                id
                name
                amoId
              }
            }
          }
        }
      }
    }
  }
`;
const FIELDS = gql`
  query FieldsPage($entity: EntityType, $first: Int, $after: String) {
    fields(entity: $entity, first: $first, after: $after) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      edges {
        node {
          id
          amoId
          name
          entity
          type
        }
      }
    }
  }
`;
const TAGS = gql`
  query TagsPage($entity: EntityType, $first: Int, $after: String) {
    tags(entity: $entity, first: $first, after: $after) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      edges {
        node {
          id
          name
          entity
        }
      }
    }
  }
`;
const CREATE_RULE = gql`
  mutation CreateQuizRule($quizId: ID!, $input: RuleInput!) {
    createQuizRule(quizId: $quizId, input: $input) {
      id
      quizId
      pipeline {
        id
      }
      step {
        id
      }
      tagsToAdd {
        lead {
          id
        }
      }
    }
  }
`;
const SUBMIT = gql`
  mutation SubmitQuizResult($input: QuizResultInput!) {
    submitQuizResult(input: $input) {
      id
      status
      resultId
    }
  }
`;

interface Page<N> {
  totalCount: number;
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  edges: { node: N }[];
}

/** Every node of a connection, page by page, as a list view with "load more" does. */
async function readAll<N>(
  query: TypedDocumentNode<any>,
  key: string,
  variables: Record<string, unknown>,
  pageSize: number,
): Promise<{ nodes: N[]; pages: number; totalCount: number }> {
  const nodes: N[] = [];
  let after: string | null = null;
  let pages = 0;
  let totalCount: number;
  for (;;) {
    const result: { data?: unknown } = await client.query({ query, variables: { ...variables, first: pageSize, after }, fetchPolicy: 'network-only' });
    const page: Page<N> = defined((result.data as Record<string, Page<N> | undefined>)[key], `the ${key} connection`);
    pages++;
    totalCount = page.totalCount;
    nodes.push(...page.edges.map((e) => e.node));
    if (!page.pageInfo.hasNextPage) break;
    after = page.pageInfo.endCursor;
  }
  return { nodes, pages, totalCount };
}

test('connect → syncCompleted → catalogue → rule → result → deliveryUpdated DELIVERED → the lead at amoCRM', async () => {
  const amo = stack.sim.seedAccount({ pipelines: 3, statusesPerPipeline: 3, tagsPerEntity: 3 });

  // 1. Connect: the SPA opens the link in a popup; the owner grants access; amoCRM calls back.
  const synced = waitFor(
    SYNC_COMPLETED,
    {},
    () => true,
    () => stack.gw.app.services.pubsub.listening('sync.completed', 'spa-owner') > 0,
  );
  await synced.ready;
  const connect = await client.mutate({ mutation: CONNECT });
  const link = new URL((connect.data as { connectAccount: { link: string } }).connectAccount.link);
  const redirect = stack.sim.authorize({ accountId: amo.id, state: link.searchParams.get('state')!, consent: 'allow', clientId: TEST_AMO_CLIENT_ID });
  const callback = await fetch(redirect);
  assert.equal(callback.status, 200, await callback.text());

  // 2. The queued sync finishes; the SPA hears it over the websocket.
  const { syncCompleted } = await synced.value;
  assert.equal(syncCompleted.status, 'SUCCEEDED');
  assert.equal(syncCompleted.counts.pipelines, 3);
  assert.ok(syncCompleted.counts.fields > 0 && syncCompleted.counts.tags > 0);

  // 3. The catalogue, page by page.
  type PipelineNode = { id: string; name: string; isMain: boolean; steps: { totalCount: number; edges: { node: { id: string; name: string; amoId: number } }[] } };
  const pipelines = await readAll<PipelineNode>(PIPELINES, 'pipelines', {}, 2);
  assert.equal(pipelines.totalCount, 3);
  assert.equal(pipelines.nodes.length, 3);
  assert.equal(pipelines.pages, 2);
  const pipeline = pipelines.nodes.find((p) => p.isMain) ?? at(pipelines.nodes, 0, 'pipeline');
  assert.ok(pipeline.steps.totalCount > 0);
  // A regular step (not unsorted, won or lost).
  const step =
    pipeline.steps.edges.map((e) => e.node).find((s) => ![142, 143].includes(s.amoId) && !/неразобран|unsorted/i.test(s.name)) ?? at(pipeline.steps.edges, 0, 'step').node;

  type FieldNode = { id: string; amoId: number; name: string; entity: string; type: string };
  const leadFields = await readAll<FieldNode>(FIELDS, 'fields', { entity: 'LEAD' }, 5);
  assert.equal(leadFields.nodes.length, leadFields.totalCount);
  assert.ok(leadFields.nodes.every((f) => f.entity === 'LEAD'));
  const textField = leadFields.nodes.find((f) => f.type === 'TEXT');
  assert.ok(textField, 'a text lead field');

  type TagNode = { id: string; name: string; entity: string };
  const leadTags = await readAll<TagNode>(TAGS, 'tags', { entity: 'LEAD' }, 2);
  assert.equal(leadTags.nodes.length, leadTags.totalCount);
  assert.equal(leadTags.nodes.length, 3);
  const leadTag = leadTags.nodes[0]!;

  // 4. The quiz's rule.
  const quizId = 'spa-quiz-1';
  const rule = await client.mutate({
    mutation: CREATE_RULE,
    variables: {
      quizId,
      input: {
        pipelineId: pipeline.id,
        stepId: step.id,
        fieldsRule: { lead: [{ questionId: 'q-comment', fieldId: textField.id }] },
        tagsToAdd: { lead: [leadTag.id] },
      },
    },
  });
  const created = (rule.data as { createQuizRule: { quizId: string; pipeline: { id: string }; step: { id: string }; tagsToAdd: { lead: { id: string }[] } } }).createQuizRule;
  assert.equal(created.quizId, quizId);
  assert.equal(created.step.id, step.id);
  // Apollo adds __typename to every object, as the SPA sees it.
  assert.deepEqual(
    created.tagsToAdd.lead.map((t) => t.id),
    [leadTag.id],
  );

  // 5. A result, and its delivery followed over the websocket until amoCRM has the lead.
  const delivered = waitFor(
    DELIVERY_UPDATED,
    { quizId },
    (d) => d.deliveryUpdated.status === 'DELIVERED',
    () => stack.gw.app.services.pubsub.listening('delivery.updated', 'spa-owner') > 0,
  );
  await delivered.ready;
  const submitted = await client.mutate({
    mutation: SUBMIT,
    variables: {
      input: {
        quizId,
        resultId: 'spa-result-1',
        leadName: 'Квиз: заявка из SPA',
        contact: { name: 'Анна Смирнова', phone: '+79990001122', email: 'anna@example.com' },
        answers: [{ questionId: 'q-comment', title: 'Комментарий', values: ['Перезвоните после 18:00'] }],
      },
    },
  });
  const delivery = (submitted.data as { submitQuizResult: { id: string; status: string; resultId: string } }).submitQuizResult;
  assert.equal(delivery.resultId, 'spa-result-1');
  const { deliveryUpdated } = await delivered.value;
  assert.equal(deliveryUpdated.id, delivery.id);
  assert.equal(deliveryUpdated.status, 'DELIVERED');
  assert.ok(deliveryUpdated.amoLeadId);

  // 6. Exactly one lead at amoCRM, in the chosen step, with the contact and the tag.
  const leads = stack.sim.leads(amo.id);
  assert.equal(leads.length, 1);
  const lead = leads[0]!;
  assert.equal(lead.id, deliveryUpdated.amoLeadId);
  assert.equal(lead.name, 'Квиз: заявка из SPA');
  assert.equal(lead.contact?.name, 'Анна Смирнова');
  assert.ok(JSON.stringify(lead).includes('Перезвоните после 18:00'), 'the mapped answer reached amoCRM');
  assert.ok(JSON.stringify(lead).includes(leadTag.name), 'the tag reached amoCRM');
});
