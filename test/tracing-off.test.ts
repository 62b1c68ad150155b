// Issue 15: tracing is off unless OTEL_EXPORTER_OTLP_ENDPOINT is set: no provider, no trace
// headers on queue messages, no trace_parent kept with a Delivery.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trace } from '@opentelemetry/api';
import { loadConfig } from '../src/platform/config.ts';
import { createLogger } from '../src/platform/logger.ts';
import { createQueue, TOPICS, type QueueMessage } from '../src/platform/queue/index.ts';
import { currentTraceparent, startTracing, traceHeaders, withSpan } from '../src/platform/tracing.ts';
import { until } from './helpers/wait.ts';

test('without OTEL_EXPORTER_OTLP_ENDPOINT nothing is registered and no trace context travels', async () => {
  const config = loadConfig({ NODE_ENV: 'test' });
  assert.equal(config.tracing.endpoint, undefined);
  assert.equal(startTracing(config.tracing), undefined);
  await withSpan('unrecorded', {}, async (span) => {
    assert.equal(span.isRecording(), false, 'the API is a no-op');
    assert.deepEqual(traceHeaders(), {});
    assert.equal(currentTraceparent(), undefined);
  });

  const queue = await createQueue({ logger: createLogger({ level: 'silent' }) });
  const seen: QueueMessage[] = [];
  const sub = await queue.consume(TOPICS.quizResults, 'tracing-off', async (m) => void seen.push(m));
  await queue.publish(TOPICS.quizResults, 'k', { n: 1 });
  await until('the message', async () => seen.length === 1);
  assert.equal(seen[0]!.headers, undefined, 'no traceparent header');
  await sub.stop();
  await queue.close();
});

test('with OTEL_EXPORTER_OTLP_ENDPOINT set, the OTLP exporter is registered; an endpoint must be a URL', async () => {
  assert.throws(() => loadConfig({ NODE_ENV: 'test', OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }), /OTEL_EXPORTER_OTLP_ENDPOINT/);
  const config = loadConfig({ NODE_ENV: 'test', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9/', OTEL_SERVICE_NAME: 'gw' });
  assert.deepEqual(config.tracing, { endpoint: 'http://127.0.0.1:9/', serviceName: 'gw' });
  const tracing = startTracing(config.tracing);
  assert.ok(tracing);
  try {
    await withSpan('recorded', {}, async (span) => {
      assert.equal(span.isRecording(), true);
      assert.match(traceHeaders().traceparent ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    });
  } finally {
    // nothing listens on port 9: the export fails quietly and shutdown still returns
    await tracing.shutdown();
  }
  assert.equal(trace.getActiveSpan(), undefined);
});
