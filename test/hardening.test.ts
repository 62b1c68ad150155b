// Findings of a review, each pinned by a test: secrets out of metric labels, subscriptions only
// where token expiry is enforced, long-lived tokens, bounded rule inputs, ids of the wrong type.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { routeLabel } from '../src/app.ts';
import { seedDemoAccount } from '../src/dev/seed-data.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApp, tokenFor, type TestApp } from './helpers/app.ts';
import { untilListening, wsClient } from './helpers/stack.ts';
import { until } from './helpers/wait.ts';

let testDb: TestDatabase;
let gw: TestApp;
let token: string;
const gid = (type: string, id: string) => Buffer.from(`${type}:${id}`).toString('base64');

before(async () => {
  testDb = await createTestDatabase();
  await seedDemoAccount(testDb.db, { quizAccountId: 'hard-a', pipelines: 1, archivedPipelines: 0 });
  gw = await startTestApp(testDb);
  token = await tokenFor('hard-a');
});
after(async () => {
  await gw?.stop();
  await testDb?.drop();
});

describe('review findings', () => {
  test('a webhook secret never becomes a metric label; unknown paths are one series', async () => {
    assert.equal(routeLabel('/webhook/amo/0123456789abcdef', 200), '/webhook/amo/:secret');
    assert.equal(routeLabel('/graphql', 200), '/graphql');
    assert.equal(routeLabel('/no/such/path', 405), 'unmatched');
    const secret = 'ab'.repeat(24);
    await fetch(`${gw.url}/webhook/amo/${secret}`, { method: 'POST', body: 'x=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    await fetch(`${gw.url}/webhook/amo/${secret}`);
    await fetch(`${gw.url}/random-${Date.now()}`, { method: 'DELETE' });
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    assert.ok(!metrics.includes(secret), 'the secret is in /metrics');
    assert.ok(!/random-\d+/.test(metrics), 'a stranger chose a label');
    assert.match(metrics, /route="\/webhook\/amo\/:secret"/);
  });

  test('subscriptions are refused over HTTP (no token expiry there), served over graphql-ws', async () => {
    const res = await fetch(`${gw.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: 'subscription { syncCompleted { id } }' }),
    });
    const text = await res.text();
    assert.match(text, /graphql-ws/);
    assert.doesNotMatch(text, /"syncCompleted":\{/);
  });

  test('a token valid for 30 days keeps its websocket open (no timer overflow)', async () => {
    const long = await tokenFor('hard-a', { expiresIn: '30d' });
    let closedWith: number | undefined;
    const connecting = Date.now();
    const client = wsClient(gw.url, long, { onClose: (code) => (closedWith = code) });
    client.subscribe({ query: 'subscription { syncCompleted { id } }' }, { next: () => {}, error: () => {}, complete: () => {} });
    await untilListening(() => gw.app.services.pubsub.listening('sync.completed', 'hard-a') > 0);
    // An overflowed expiry timer fires 1 ms after it was armed (at connect) and closes the socket:
    // a query sent on the same connection after that is answered only if no such timer fired.
    const answer = await until('a later query answered on the same connection', async () => {
      if (Date.now() - connecting < 2) return null; // such a timer is due by now
      return new Promise<unknown>((resolve, reject) => client.subscribe({ query: '{ __typename }' }, { next: (r) => resolve(r), error: reject, complete: () => {} }));
    });
    assert.deepEqual(answer, { data: { __typename: 'Query' } });
    assert.equal(closedWith, undefined);
    assert.equal(gw.app.services.pubsub.listening('sync.completed', 'hard-a'), 1);
    await client.dispose();
  });

  test('rule inputs are bounded; nothing is written past the bound', async () => {
    const { pipelines } = (await gw.gql('{ pipelines(first: 1) { edges { node { id steps(first: 2) { edges { node { id } } } } } } }', {}, token)).data;
    const field = await testDb.db.customField.findFirstOrThrow({ where: { entity: 'LEAD', rawType: 'text', account: { quizAccountId: 'hard-a' } } });
    const lead = Array.from({ length: 101 }, (_, i) => ({ questionId: `q${i}`, fieldId: gid('Field', field.id) }));
    const res = await gw.gql(
      'mutation($input: RuleInput!) { createQuizRule(quizId: "big", input: $input) { id } }',
      {
        input: { pipelineId: pipelines.edges[0].node.id, stepId: pipelines.edges[0].node.steps.edges[1].node.id, fieldsRule: { lead } },
      },
      token,
    );
    assert.equal(res.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
    assert.equal(res.errors?.[0]?.extensions?.field, 'input.fieldsRule.lead');
    assert.equal(await testDb.db.rule.count({ where: { quizId: 'big' } }), 0);
    const utms = Array.from({ length: 101 }, (_, i) => ({ name: `utm_x${i}`, fieldId: gid('Field', field.id) }));
    const many = await gw.gql('mutation($utms: [UtmInput!]!) { addUtms(quizId: "big", utms: $utms) { id } }', { utms }, token);
    assert.equal(many.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
    assert.equal(await testDb.db.utm.count({ where: { quizId: 'big' } }), 0);
  });

  test('an id of the wrong type or malformed is simply not found', async () => {
    const { pipelines } = (await gw.gql('{ pipelines(first: 1) { edges { node { id } } } }', {}, token)).data;
    const retry = await gw.gql('mutation($id: ID!) { retryDelivery(id: $id) { id } }', { id: pipelines.edges[0].node.id }, token);
    assert.equal(retry.errors?.[0]?.extensions?.code, 'NOT_FOUND');
    const garbage = await gw.gql('mutation { retryDelivery(id: "%%%") { id } }', {}, token);
    assert.equal(garbage.errors?.[0]?.extensions?.code, 'NOT_FOUND');
    const steps = await gw.gql('{ steps(pipelineId: "bm9wZQ==") { totalCount } }', {}, token);
    assert.equal(steps.errors?.[0]?.extensions?.code, 'NOT_FOUND');
    const filtered = await gw.gql('{ deliveries(stepId: "bm9wZQ==") { totalCount } }', {}, token);
    assert.equal(filtered.data.deliveries.totalCount, 0);
  });
});
