// Prometheus metrics of one gateway process (`GET /metrics`). Each app has its
// own registry, so several apps in one process (tests) do not collide.
//
// What is counted here and what is read from elsewhere on scrape:
// - HTTP requests and GraphQL operations: observed as they happen (this process).
// - amoCRM calls: a counter the amoCRM client increments (this process).
// - deliveries by status: read from the database on scrape (the whole cluster).
// - sync job durations: read on scrape from sync_job rows that finished since the
//   previous scrape (the whole cluster; the sync worker is not instrumented, and rows
//   carry started_at/finished_at, so jobs finished by any replica are seen).
//   With several replicas every replica reports the same jobs: aggregate these
//   with max(), not sum(), or scrape one replica for them.
// - queue lag: Kafka consumer-group lag from the broker on scrape (the whole group).
import type { Plugin } from 'graphql-yoga';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Config } from '../config.ts';
import type { Db } from '../db.ts';
import type { Logger } from '../logger.ts';
import type { Queue } from '../queue/index.ts';
import { registerDeliveryGauges, syncJobDurations } from './metrics-database.ts';
import { graphqlTimingPlugin } from './metrics-graphql.ts';
import { registerQueueLag } from './metrics-kafka.ts';

type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/**
 * A fetch that counts every call in `amoCalls` (by HTTP status, "error" when no response
 * came). Give it to the amoCRM client as its `fetch` option (it is used for API and token
 * requests, retries included): `fetch: countAmoCalls(services.metrics, options.fetch)`.
 */
export function countAmoCalls(metrics: Pick<Metrics, 'amoCalls'> | undefined, inner?: Fetch): Fetch | undefined {
  if (!metrics) return inner;
  const next: Fetch = inner ?? ((input, init) => fetch(input, init));
  return async (input, init) => {
    try {
      const res = await next(input, init);
      metrics.amoCalls.inc({ status: String(res.status) });
      return res;
    } catch (err) {
      metrics.amoCalls.inc({ status: 'error' });
      throw err;
    }
  };
}

export interface Metrics {
  registry: Registry;
  httpDuration: Histogram<'route' | 'method' | 'status'>;
  graphqlDuration: Histogram<'operation' | 'type' | 'error'>;
  /** The amoCRM client increments it once per HTTP call: status is the HTTP status, or "error" when no response came. */
  amoCalls: Counter<'status'>;
  /** The yoga/envelop plugin that times GraphQL operations (HTTP and websocket). */
  plugin: Plugin;
  /** The text exposition and its content type. */
  scrape(): Promise<{ contentType: string; body: string }>;
  close(): Promise<void>;
}

export interface MetricsDeps {
  config: Config;
  db: Db;
  queue: Queue;
  logger: Logger;
}

/** Seconds buckets of HTTP requests and GraphQL operations. */
const REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createMetrics(deps: MetricsDeps): Metrics {
  const { config, db, queue } = deps;
  const log = deps.logger.child({ component: 'metrics' });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const httpDuration = new Histogram({
    name: 'gateway_http_request_duration_seconds',
    help: 'HTTP requests by route, method and status.',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: REQUEST_BUCKETS,
    registers: [registry],
  });

  const graphqlDuration = new Histogram({
    name: 'gateway_graphql_operation_duration_seconds',
    help: 'GraphQL operations (HTTP and websocket) by operation name, type and whether the result had errors. Subscriptions: time to set up the stream.',
    labelNames: ['operation', 'type', 'error'] as const,
    buckets: REQUEST_BUCKETS,
    registers: [registry],
  });

  const amoCalls = new Counter({
    name: 'gateway_amo_calls_total',
    help: 'Calls to amoCRM by HTTP status ("error" when no response came).',
    labelNames: ['status'] as const,
    registers: [registry],
  });

  registerDeliveryGauges(registry, db, log);
  const syncJobs = syncJobDurations(registry, db, log);
  const queueLag = registerQueueLag(registry, config, queue, log);

  return {
    registry,
    httpDuration,
    graphqlDuration,
    amoCalls,
    plugin: graphqlTimingPlugin(graphqlDuration),
    async scrape() {
      await syncJobs.collect();
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
    close: () => queueLag.close(),
  };
}
