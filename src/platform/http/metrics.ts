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
import kafkajs from 'kafkajs';
import type { Admin } from 'kafkajs';
import { getOperationAST, type DocumentNode, type OperationTypeNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Config } from '../config.ts';
import type { Db } from '../db.ts';
import type { Logger } from '../logger.ts';
import { TOPICS, type Queue } from '../queue/index.ts';
import { AMO_TASKS_GROUP, DELIVERY_GROUP } from '../queue/groups.ts';

/** Each worker topic and the consumer group every replica shares for it (src/features/catalogue/worker.ts, src/features/delivery/worker.ts). */
const LAGGED = [
  { topic: TOPICS.quizResults, group: DELIVERY_GROUP },
  { topic: TOPICS.amoTasks, group: AMO_TASKS_GROUP },
] as const;
/** Operation names are chosen by callers: past this many distinct names, the rest count as "other". */
const MAX_OPERATION_NAMES = 200;
const SCRAPE_TIMEOUT_MS = 3_000;

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

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export function createMetrics(deps: MetricsDeps): Metrics {
  const { config, db, queue } = deps;
  const log = deps.logger.child({ component: 'metrics' });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const httpDuration = new Histogram({
    name: 'gateway_http_request_duration_seconds',
    help: 'HTTP requests by route, method and status.',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });

  const graphqlDuration = new Histogram({
    name: 'gateway_graphql_operation_duration_seconds',
    help: 'GraphQL operations (HTTP and websocket) by operation name, type and whether the result had errors. Subscriptions: time to set up the stream.',
    labelNames: ['operation', 'type', 'error'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });

  const amoCalls = new Counter({
    name: 'gateway_amo_calls_total',
    help: 'Calls to amoCRM by HTTP status ("error" when no response came).',
    labelNames: ['status'] as const,
    registers: [registry],
  });

  new Gauge({
    name: 'gateway_deliveries',
    help: 'Deliveries by status (from the database, all replicas).',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const status of ['PENDING', 'DELIVERED', 'FAILED']) this.set({ status }, 0);
      try {
        const rows = await withTimeout(
          db.$queryRaw<{ status: string; count: bigint }[]>`SELECT status::text AS status, count(*) AS count FROM delivery GROUP BY status`,
          SCRAPE_TIMEOUT_MS,
          'delivery count',
        );
        for (const row of rows) this.set({ status: row.status }, Number(row.count));
      } catch (err) {
        log.warn({ err }, 'could not count deliveries for /metrics');
        this.reset();
      }
    },
  });

  new Gauge({
    name: 'gateway_delivery_oldest_waiting_seconds',
    help: 'Age of the oldest PENDING delivery, seconds (0 when none waits; all replicas): alert when it grows.',
    registers: [registry],
    async collect() {
      try {
        const rows = await withTimeout(
          db.$queryRaw<{ age: number | null }[]>`SELECT extract(epoch FROM now() - min(created_at))::float8 AS age FROM delivery WHERE status = 'PENDING'`,
          SCRAPE_TIMEOUT_MS,
          'oldest waiting delivery',
        );
        this.set(Math.max(0, Number(rows[0]?.age ?? 0)));
      } catch (err) {
        log.warn({ err }, 'could not read the oldest waiting delivery for /metrics');
        this.reset();
      }
    },
  });

  const syncDuration = new Histogram({
    name: 'gateway_sync_job_duration_seconds',
    help: 'Catalogue sync jobs (started → finished) by final status, as found in the database since this process started (all replicas).',
    labelNames: ['status'] as const,
    buckets: [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
    registers: [registry],
  });
  let syncWatermark = new Date();
  let syncCollecting: Promise<void> | undefined;
  async function collectSyncJobs() {
    const rows = await withTimeout(
      db.$queryRaw<{ status: string; seconds: number; finished_at: Date }[]>`
        SELECT status::text AS status,
               EXTRACT(EPOCH FROM (finished_at - COALESCE(started_at, queued_at)))::float8 AS seconds,
               finished_at
        FROM sync_job
        WHERE finished_at > ${syncWatermark}
        ORDER BY finished_at
        LIMIT 10000`,
      SCRAPE_TIMEOUT_MS,
      'sync job durations',
    );
    for (const row of rows) {
      syncDuration.observe({ status: row.status }, Math.max(0, row.seconds));
      if (row.finished_at > syncWatermark) syncWatermark = row.finished_at;
    }
  }

  let admin: Admin | undefined;
  const queueLag = new Gauge({
    name: 'gateway_queue_lag_messages',
    help: 'Messages not yet handled by the workers consumer group, per topic (Kafka: log end − committed offset; in-process queue: 0).',
    labelNames: ['topic'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      if (queue.kind !== 'kafka') {
        for (const { topic } of LAGGED) this.set({ topic }, 0);
        return;
      }
      try {
        const lags = await withTimeout(kafkaLag(), SCRAPE_TIMEOUT_MS, 'kafka lag');
        for (const [topic, lag] of lags) this.set({ topic }, lag);
      } catch (err) {
        log.warn({ err }, 'could not read kafka consumer lag for /metrics');
        // Leave the series out rather than report a made-up value.
        this.reset();
        const stale = admin;
        admin = undefined;
        await stale?.disconnect().catch(() => undefined);
      }
    },
  });
  void queueLag;

  async function kafkaLag(): Promise<Map<string, number>> {
    if (!admin) {
      const kafka = new kafkajs.Kafka({
        clientId: 'quiz-gateway-metrics',
        brokers: config.kafka.brokers,
        connectionTimeout: 1_000,
        requestTimeout: SCRAPE_TIMEOUT_MS,
        // A few quick retries: the group coordinator lookup fails at first for a group the broker has not seen.
        retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 500 },
        logLevel: kafkajs.logLevel.NOTHING,
      });
      admin = kafka.admin();
      await admin.connect();
    }
    const prefix = config.kafka.topicPrefix;
    const lags = new Map<string, number>();
    for (const lagged of LAGGED) {
      const topic = `${prefix}${lagged.topic}`;
      const committed = await admin.fetchOffsets({ groupId: `${prefix}${lagged.group}`, topics: [topic] });
      const ends = await admin.fetchTopicOffsets(topic);
      const group = committed.find((c) => c.topic === topic)?.partitions ?? [];
      let lag = 0;
      for (const end of ends) {
        const at = group.find((p) => p.partition === end.partition)?.offset ?? '-1';
        // Nothing committed yet: everything from the start of the log is waiting.
        const from = Number(at) >= 0 ? Number(at) : Number(end.low);
        lag += Math.max(0, Number(end.high) - from);
      }
      lags.set(lagged.topic, lag);
    }
    return lags;
  }

  const names = new Set<string>();
  function operationLabel(name: string | undefined | null): string {
    if (!name) return 'anonymous';
    if (names.has(name)) return name;
    if (names.size >= MAX_OPERATION_NAMES) return 'other';
    names.add(name);
    return name;
  }
  function describe(document: DocumentNode | undefined, operationName?: string | null): { operation: string; type: OperationTypeNode | 'unknown' } {
    const op = document ? getOperationAST(document, operationName) : null;
    return { operation: operationLabel(op?.name?.value ?? operationName), type: op?.operation ?? 'unknown' };
  }
  const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9;

  const plugin: Plugin = {
    onValidate({ params }) {
      const start = process.hrtime.bigint();
      return ({ valid }) => {
        if (valid) return;
        graphqlDuration.observe({ ...describe(params.documentAST), error: 'true' }, seconds(start));
      };
    },
    onExecute({ args }) {
      const start = process.hrtime.bigint();
      const labels = describe(args.document, args.operationName);
      return {
        onExecuteDone({ result }) {
          const errors = 'errors' in result && Array.isArray(result.errors) && result.errors.length > 0;
          graphqlDuration.observe({ ...labels, error: String(errors) }, seconds(start));
        },
      };
    },
    onSubscribe({ args }) {
      const start = process.hrtime.bigint();
      const labels = describe(args.document, args.operationName);
      return {
        onSubscribeResult({ result }) {
          const errors = 'errors' in result && Array.isArray(result.errors) && result.errors.length > 0;
          graphqlDuration.observe({ ...labels, error: String(errors) }, seconds(start));
        },
        onSubscribeError() {
          graphqlDuration.observe({ ...labels, error: 'true' }, seconds(start));
        },
      };
    },
  };

  return {
    registry,
    httpDuration,
    graphqlDuration,
    amoCalls,
    plugin,
    async scrape() {
      // Concurrent scrapes share one read of sync_job, so no row is observed twice.
      syncCollecting ??= collectSyncJobs()
        .catch((err) => log.warn({ err }, 'could not read sync job durations for /metrics'))
        .finally(() => (syncCollecting = undefined));
      await syncCollecting;
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
    async close() {
      const open = admin;
      admin = undefined;
      await open?.disconnect().catch(() => undefined);
    },
  };
}
