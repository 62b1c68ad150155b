// The workers as a running gateway runs them: the sync after connecting and its
// syncCompleted on another replica, the rule check against amoCRM, and the
// shared rate limit while syncing and delivering for one account at once.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { tokenFor } from './helpers/app.ts';
import { TEST_AMO_CLIENT_ID } from './helpers/amo.ts';
import { kafkaSettings, nextEvent, startStack, wsClient, type Stack } from './helpers/stack.ts';
import { until } from './helpers/wait.ts';

let testDb: TestDatabase;
let stack: Stack;

before(async () => {
  testDb = await createTestDatabase();
  stack = await startStack(testDb, { workers: true, simOptions: { rateLimitCountsRejected: true } });
});
after(async () => {
  await stack?.stop();
  await testDb?.drop();
});

/** Connects a fresh simulator account for `tenant` through `gateway` and waits for the first sync. */
async function connect(gateway: Stack, tenant: string, seed: Record<string, unknown> = {}) {
  const amo = stack.sim.seedAccount({ pipelines: 2, ...seed });
  const token = await tokenFor(tenant);
  const link = new URL((await gateway.gw.gql('mutation { connectAccount { link } }', {}, token)).data.connectAccount.link);
  const redirect = new URL(stack.sim.authorize({ accountId: amo.id, state: link.searchParams.get('state')!, consent: 'allow', clientId: TEST_AMO_CLIENT_ID }));
  assert.equal((await fetch(`${gateway.gw.url}${redirect.pathname}${redirect.search}`)).status, 200);
  return { amo, token };
}

const lastSync = async (gateway: Stack, token: string) =>
  (await gateway.gw.gql('{ account { lastSync { status error counts { users pipelines steps fields tags } } } }', {}, token)).data.account.lastSync;

describe('running workers', () => {
  test('connecting queues a full sync that a worker runs; the cache matches amoCRM', async () => {
    const { amo, token } = await connect(stack, 'w-1');
    const sync = await until('the first sync', async () => {
      const s = await lastSync(stack, token);
      return s.status === 'SUCCEEDED' || s.status === 'FAILED' ? s : null;
    });
    assert.equal(sync.status, 'SUCCEEDED', sync.error);
    const simAccount = stack.sim.account(amo.id);
    assert.equal(sync.counts.pipelines, simAccount.pipelines.length);
    const { pipelines } = (await stack.gw.gql('{ pipelines(includeArchived: true) { totalCount } }', {}, token)).data;
    assert.equal(pipelines.totalCount, simAccount.pipelines.length);
  });

  test('a rule whose field was deleted in amoCRM gets that reported after the check', async () => {
    const { amo, token } = await connect(stack, 'w-2');
    await until('the first sync', async () => (await lastSync(stack, token)).status === 'SUCCEEDED');
    const ids = (
      await stack.gw.gql(
        '{ pipelines(first: 1) { edges { node { id steps(first: 2) { edges { node { id } } } } } } fields(entity: LEAD, first: 100) { edges { node { id amoId rawType } } } }',
        {},
        token,
      )
    ).data;
    const field = ids.fields.edges.map((e: any) => e.node).find((f: any) => f.rawType === 'text');
    const input = {
      pipelineId: ids.pipelines.edges[0].node.id,
      stepId: ids.pipelines.edges[0].node.steps.edges[1].node.id,
      fieldsRule: { lead: [{ questionId: 'q1', fieldId: field.id }] },
    };
    const created = await stack.gw.gql('mutation($input: RuleInput!) { createQuizRule(quizId: "quiz-check", input: $input) { id } }', { input }, token);
    assert.equal(created.errors, undefined, JSON.stringify(created.errors));
    const checked = await until('the first check', async () => {
      const r = (await stack.gw.gql('{ rule(quizId: "quiz-check") { problems checkedAt } }', {}, token)).data.rule;
      return r.checkedAt ? r : null;
    });
    assert.deepEqual(checked.problems, []);

    stack.sim.removeField(amo.id, 'leads', field.amoId);
    await stack.gw.gql('mutation($input: RuleInput!) { updateQuizRule(quizId: "quiz-check", input: $input) { id } }', { input }, token);
    const problems = await until('the field to be reported', async () => {
      const r = (await stack.gw.gql('{ rule(quizId: "quiz-check") { problems } }', {}, token)).data.rule;
      return r.problems.length ? r.problems : null;
    });
    assert.equal(problems.length, 1);
    assert.match(problems[0], new RegExp(`lead field .*\\(${field.amoId}\\).*no longer exists`));
  });

  test('syncing and delivering for one account at once stays within 7 requests per second', async () => {
    const { amo, token } = await connect(stack, 'w-3', { tagsPerEntity: 300, fieldsPerEntity: 60 });
    await until('the first sync', async () => (await lastSync(stack, token)).status === 'SUCCEEDED');
    const ids = (await stack.gw.gql('{ pipelines(first: 1) { edges { node { id steps(first: 2) { edges { node { id } } } } } } }', {}, token)).data;
    const rule = await stack.gw.gql(
      'mutation($input: RuleInput!) { createQuizRule(quizId: "quiz-rate", input: $input) { id } }',
      {
        input: { pipelineId: ids.pipelines.edges[0].node.id, stepId: ids.pipelines.edges[0].node.steps.edges[1].node.id },
      },
      token,
    );
    assert.equal(rule.errors, undefined, JSON.stringify(rule.errors));
    // A second full sync and 20 results, all at once.
    const sync = await stack.gw.gql('mutation { syncAccount { id status } }', {}, token);
    assert.equal(sync.errors, undefined, JSON.stringify(sync.errors));
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        stack.gw.gql(
          'mutation($input: QuizResultInput!) { submitQuizResult(input: $input) { id } }',
          {
            input: { resultId: `rate-${i}`, quizId: 'quiz-rate', contact: { name: `Клиент ${i}`, phone: `+7900000${String(i).padStart(4, '0')}` }, answers: [] },
          },
          token,
        ),
      ),
    );
    await until('all deliveries', async () => (await testDb.db.delivery.count({ where: { quizAccountId: 'w-3', status: 'DELIVERED' } })) === 20, 120_000);
    await until('the second sync', async () => (await lastSync(stack, token)).status === 'SUCCEEDED');
    assert.equal(stack.sim.leads(amo.id).length, 20);
    assert.ok(stack.sim.maxRequestsInAnySecond(amo.id) <= 7, `${stack.sim.maxRequestsInAnySecond(amo.id)} requests in one second`);
  });

  test('syncCompleted reaches a subscriber on another replica', { skip: !process.env.KAFKA_BROKERS && 'needs a Kafka broker (KAFKA_BROKERS)' }, async () => {
    const kafka = { ...kafkaSettings(), AMO_REDIRECT_URI: stack.gw.config.amo.redirectUri };
    const replicaA = await startStack(testDb, { sim: stack.sim, config: kafka, workers: true });
    const replicaB = await startStack(testDb, { sim: stack.sim, config: kafka, workers: true });
    try {
      const { token } = await connect(replicaA, 'w-4');
      await until('the first sync', async () => (await lastSync(replicaA, token)).status === 'SUCCEEDED');
      const client = wsClient(replicaB.gw.url, token);
      const event = nextEvent(
        client,
        'subscription { syncCompleted { id status scopes counts { users } } }',
        {},
        () => replicaB.gw.app.services.pubsub.listening('sync.completed', 'w-4') > 0,
      );
      await event.ready;
      const job = (await replicaA.gw.gql('mutation { syncAccount(scopes: [USERS]) { id } }', {}, token)).data.syncAccount;
      const { syncCompleted } = await event.value;
      assert.equal(syncCompleted.id, job.id);
      assert.equal(syncCompleted.status, 'SUCCEEDED');
      assert.deepEqual(syncCompleted.scopes, ['USERS']);
      await client.dispose();
    } finally {
      await replicaA.stop();
      await replicaB.stop();
    }
  });
});
