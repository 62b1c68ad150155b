// OpenTelemetry tracing, off unless OTEL_EXPORTER_OTLP_ENDPOINT is set: manual spans through
// @opentelemetry/api (a no-op while no provider is registered), W3C trace context in queue message
// headers and in a Delivery's trace_parent, so one result is one trace from its GraphQL request
// or quiz.results message through the delivery worker to the amoCRM calls.
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Link, type Span, type SpanOptions } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider, SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-node';

export { SpanKind, SpanStatusCode };

const tracer = () => trace.getTracer('quiz-amocrm-gateway');

export interface TracingSettings {
  /** OTLP/HTTP base URL (the collector's :4318); unset: tracing off. */
  endpoint?: string;
  serviceName: string;
}

export interface Tracing {
  /** Exports what is still buffered and unregisters the provider. */
  shutdown(): Promise<void>;
}

/**
 * Registers the global tracer provider when tracing is configured (or `exporter` is given, as
 * the tests do: spans then go to it one by one). Returns undefined when tracing stays off.
 */
export function startTracing(settings: TracingSettings, exporter?: SpanExporter): Tracing | undefined {
  if (!exporter && !settings.endpoint) return undefined;
  const processor = exporter ? new SimpleSpanProcessor(exporter) : new BatchSpanProcessor(new OTLPTraceExporter({ url: `${settings.endpoint!.replace(/\/$/, '')}/v1/traces` }));
  const provider = new NodeTracerProvider({ resource: resourceFromAttributes({ 'service.name': settings.serviceName }), spanProcessors: [processor] });
  // AsyncLocalStorage context and the W3C traceparent/baggage propagator
  provider.register();
  return {
    async shutdown() {
      try {
        await provider.shutdown();
      } catch {
        // a collector that cannot be reached loses the last spans; it must not fail the shutdown
      } finally {
        trace.disable();
        context.disable();
        propagation.disable();
      }
    },
  };
}

/**
 * Runs `fn` inside a new active span (a child of `parent`, else of the active context), ends it
 * when `fn` settles and marks it failed when `fn` throws.
 */
export async function withSpan<T>(name: string, options: SpanOptions & { parent?: Context }, fn: (span: Span) => Promise<T>): Promise<T> {
  const { parent, ...spanOptions } = options;
  return tracer().startActiveSpan(name, spanOptions, parent ?? context.active(), async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
      throw err;
    } finally {
      span.end();
    }
  });
}

/** The W3C headers (`traceparent`, `tracestate`) of the active context; empty when not tracing. */
export function traceHeaders(ctx: Context = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier;
}

/** The active context's `traceparent`, to keep with work picked up later (a Delivery row). */
export function currentTraceparent(ctx: Context = context.active()): string | undefined {
  return traceHeaders(ctx).traceparent;
}

/** The context a `traceparent` (and optional `tracestate`) continues; the empty root context without one. */
export function contextOf(headers: { traceparent?: string | null; tracestate?: string | null } | undefined): Context {
  if (!headers?.traceparent) return ROOT_CONTEXT;
  const carrier: Record<string, string> = { traceparent: headers.traceparent };
  if (headers.tracestate) carrier.tracestate = headers.tracestate;
  return propagation.extract(ROOT_CONTEXT, carrier);
}

/** Links to the spans the `traceparent`s name (the other results a batch works on). */
export function linksTo(traceparents: (string | null | undefined)[]): Link[] {
  return traceparents.flatMap((tp) => {
    const spanContext = trace.getSpanContext(contextOf({ traceparent: tp }));
    return spanContext ? [{ context: spanContext }] : [];
  });
}

/**
 * What a consumed message's later work continues: the active (consumer) span when it is in the
 * message's trace, else the `traceparent` the message brought (another message of its batch).
 */
export function continuedTraceparent(headers: { traceparent?: string } | undefined): string | undefined {
  const active = currentTraceparent();
  const own = headers?.traceparent;
  if (!own || !active) return active ?? own;
  return active.split('-')[1] === own.split('-')[1] ? active : own;
}

/** Adds attributes to the active span (nothing when not tracing). */
export function annotate(attributes: Record<string, string | number | boolean>): void {
  trace.getActiveSpan()?.setAttributes(attributes);
}
