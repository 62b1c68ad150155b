// Issue 15: OpenTelemetry tracing. A result is one trace: from its GraphQL request (or the
// quiz.results message the quiz platform produced, its traceparent in the Kafka headers) through
// the queue, the delivery worker and the amoCRM calls. Spans go to an in-memory exporter.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import kafkajs from 'kafkajs';
import { context, SpanKind, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { TOPICS } from '../src/platform/queue/index.ts';
import { contextOf, currentTraceparent, startTracing, traceHeaders, withSpan, type Tracing } from '../src/platform/tracing.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { tokenFor } from './helpers/app.ts';
import { TEST_AMO_CLIENT_ID } from './helpers/amo.ts';
import { simpleResult } from './helpers/delivery.ts';
import { kafkaSettings, startStack, type Stack } from './helpers/stack.ts';
import { waitForTopicLeaders } from './helpers/queue.ts';
import { until } from './helpers/wait.ts';

const TENANT = 'trace-tenant';
const QUIZ = 'quiz-trace';
const exporter = new InMemorySpanExporter();
let tracing: Tracing | undefined;
let testDb: TestDatabase;
let stack: Stack;
let token: string;
let settings: Record<string, string>;

/** A caller's W3C traceparent: a trace id and span id of its own. */
const remoteParent = () => ({ traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex') });
const traceparentOf = (p: { traceId: string; spanId: string }) => `00-${p.traceId}-${p.spanId}-01`;

before(async () => {
  tracing = startTracing({ serviceName: 'gateway-test' }, exporter);
  testDb = await createTestDatabase();
  settings = kafkaSettings();
  stack = await startStack(testDb, { workers: true, config: settings });
  // a connected account with a synced catalogue and a live rule for QUIZ
  const amo = stack.sim.seedAccount({ pipelines: 1 });
  token = await tokenFor(TENANT);
  const link = new URL((await stack.gw.gql('mutation { connectAccount { link } }', {}, token)).data.connectAccount.link);
  const redirect = new URL(stack.sim.authorize({ accountId: amo.id, state: link.searchParams.get('state')!, consent: 'allow', clientId: TEST_AMO_CLIENT_ID }));
  assert.equal((await fetch(`${stack.gw.url}${redirect.pathname}${redirect.search}`)).status, 200);
  await until('the first sync', async () => (await stack.gw.gql('{ account { lastSync { status } } }', {}, token)).data.account.lastSync?.status === 'SUCCEEDED');
  const ids = (await stack.gw.gql('{ pipelines(first: 1) { edges { node { id steps(first: 2) { edges { node { id } } } } } } }', {}, token)).data;
  const pipeline = ids.pipelines.edges[0].node;
  const rule = await stack.gw.gql(
    `mutation($input: RuleInput!) { createQuizRule(quizId: "${QUIZ}", input: $input) { id } }`,
    { input: { pipelineId: pipeline.id, stepId: pipeline.steps.edges[1].node.id } },
    token,
  );
  assert.equal(rule.errors, undefined, JSON.stringify(rule.errors));
});
after(async () => {
  await stack?.stop();
  await testDb?.drop();
  await tracing?.shutdown();
});

const spansOf = (traceId: string) => exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;
function only(spans: ReadableSpan[], name: string, kind?: SpanKind): ReadableSpan {
  const found = spans.filter((s) => s.name === name && (kind === undefined || s.kind === kind));
  assert.equal(found.length, 1, `one ${name} span (of ${spans.map((s) => s.name).join(', ')})`);
  return found[0]!;
}

/** Waits for the result's Delivery to be DELIVERED and the worker's span to have ended. */
async function deliveredTrace(resultId: string, traceId: string): Promise<ReadableSpan[]> {
  await until(`${resultId} delivered`, async () => (await testDb.db.delivery.findFirst({ where: { quizAccountId: TENANT, resultId } }))?.status === 'DELIVERED', 60_000);
  return until(`${resultId}'s spans`, async () => {
    const spans = spansOf(traceId);
    return spans.some((s) => s.name === 'delivery send') ? spans : null;
  });
}

/** The worker's span and its amoCRM calls: children of `parentSpanId`, in one trace. */
function assertWorkerContinues(spans: ReadableSpan[], parentSpanId: string) {
  const send = only(spans, 'delivery send');
  assert.equal(parentOf(send), parentSpanId, 'the worker continues the span the result came in with');
  const amoCalls = spans.filter((s) => s.kind === SpanKind.CLIENT && s.name.startsWith('amoCRM '));
  assert.ok(amoCalls.length >= 1, 'the amoCRM calls are in the trace');
  for (const call of amoCalls) {
    assert.equal(parentOf(call), send.spanContext().spanId, `${call.name} ${String(call.attributes['url.path'])} is a child of the worker's span`);
    assert.equal(call.attributes['http.response.status_code'], 200);
  }
  assert.ok(
    amoCalls.some((s) => s.name === 'amoCRM POST' && s.attributes['url.path'] === '/api/v4/leads/complex'),
    `the lead is created in the trace: ${amoCalls.map((s) => `${s.name} ${String(s.attributes['url.path'])}`).join(', ')}`,
  );
}

describe('one trace per result', () => {
  test('a submitQuizResult request: its span, the queue publish it makes, the worker and amoCRM share one trace id', async () => {
    const caller = remoteParent();
    const res = await fetch(`${stack.gw.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, traceparent: traceparentOf(caller) },
      body: JSON.stringify({ query: 'mutation($input: QuizResultInput!) { submitQuizResult(input: $input) { id } }', variables: { input: simpleResult('trace-gql', QUIZ) } }),
    });
    assert.equal(res.status, 200);
    assert.equal((await res.json()).errors, undefined);

    const spans = await deliveredTrace('trace-gql', caller.traceId);
    const request = only(spans, 'POST /graphql', SpanKind.SERVER);
    assert.equal(parentOf(request), caller.spanId, "the request's span continues the caller's traceparent");
    // the Delivery's delivery.updated event: published inside the request, consumed by the event bridge
    const publish = spans.find((s) => s.name === `${TOPICS.amoEvents} publish` && parentOf(s) === request.spanContext().spanId);
    assert.ok(publish, 'the queue publish is a child of the request');
    assert.equal(publish.kind, SpanKind.PRODUCER);
    const consumed = spans.find((s) => s.name === `${TOPICS.amoEvents} process` && parentOf(s) === publish.spanContext().spanId);
    assert.ok(consumed, 'its consumer continues the producer span (the trace context travels in the message headers)');
    assert.equal(consumed.kind, SpanKind.CONSUMER);
    assertWorkerContinues(spans, request.spanContext().spanId);
  });

  test('a quiz.results message with a traceparent header continues that trace through the consumer, the worker and amoCRM', async () => {
    const producer = remoteParent();
    const value = { quizAccountId: TENANT, ...simpleResult('trace-kafka', QUIZ) };
    if (settings.KAFKA_BROKERS) {
      // as the quiz platform produces it: its own client, the W3C header on the record
      const kafka = new kafkajs.Kafka({ clientId: 'quiz-platform', brokers: settings.KAFKA_BROKERS.split(','), logLevel: kafkajs.logLevel.NOTHING });
      const client = kafka.producer();
      await waitForTopicLeaders(settings.KAFKA_TOPIC_PREFIX!); // the gateway just created its topics
      await client.connect();
      await client.send({
        topic: `${settings.KAFKA_TOPIC_PREFIX}${TOPICS.quizResults}`,
        messages: [{ key: TENANT, value: JSON.stringify(value), headers: { traceparent: traceparentOf(producer) } }],
      });
      await client.disconnect();
    } else {
      // the in-process queue: published inside the remote producer's context
      await context.with(contextOf({ traceparent: traceparentOf(producer) }), () => stack.gw.app.services.queue.publish(TOPICS.quizResults, TENANT, value));
    }

    const spans = await deliveredTrace('trace-kafka', producer.traceId);
    const consume = only(spans, `${TOPICS.quizResults} process`, SpanKind.CONSUMER);
    if (settings.KAFKA_BROKERS) assert.equal(parentOf(consume), producer.spanId, "the consumer's span is a child of the producer's (the record's traceparent)");
    else assert.equal(parentOf(consume), only(spans, `${TOPICS.quizResults} publish`, SpanKind.PRODUCER).spanContext().spanId);
    assert.equal(consume.attributes['messaging.destination.name'], TOPICS.quizResults);
    assert.deepEqual(
      consume.links.map((l) => l.context.traceId),
      [producer.traceId],
      "the batch's span links to its message's trace",
    );
    assertWorkerContinues(spans, consume.spanContext().spanId);
  });
});

test('the W3C helpers: headers carry the active span, a traceparent becomes its parent', async () => {
  const caller = remoteParent();
  await withSpan('outer', { parent: contextOf({ traceparent: traceparentOf(caller) }) }, async (span) => {
    assert.equal(span.spanContext().traceId, caller.traceId);
    assert.equal(traceHeaders().traceparent, `00-${caller.traceId}-${span.spanContext().spanId}-01`);
    assert.equal(currentTraceparent(), traceHeaders().traceparent);
  });
  assert.equal(trace.getSpanContext(contextOf(undefined)), undefined, 'no traceparent: a new trace');
});
