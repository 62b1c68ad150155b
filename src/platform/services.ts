// The composition root of a gateway process: `createServices` builds the long-lived parts once
// (the app, the tests' helpers and the benchmarks all use it, with overrides).
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { createAmoClients, type AmoClientOverrides, type AmoClients } from './amo/clients.ts';
import type { FetchLike, RateLimiter } from './amo/index.ts';
import type { Config } from './config.ts';
import { createDb, type Db } from './db.ts';
import { createEventOutboxStore } from './event-outbox.ts';
import { relayEvents } from './event-relay.ts';
import { createEventPublisher, createGatewayPubSub, type EventPublisher, type GatewayPubSub } from './events.ts';
import { createMetrics, type Metrics } from './http/metrics.ts';
import { createLogger, type Logger } from './logger.ts';
import { createQueue, type Queue, type QueueOptions } from './queue/index.ts';

/** Wakes the delivery loops of this process (other replicas find the work on their next poll). */
export interface Waker {
  wake(): void;
  /** Registers a listener; returns the unregister function. */
  onWake(fn: () => void): () => void;
}

export function createWaker(): Waker {
  const listeners = new Set<() => void>();
  return {
    wake() {
      for (const fn of listeners) fn();
    },
    onWake(fn) {
      // a wrapper of its own, so the same function registered twice is two registrations
      const entry = () => fn();
      listeners.add(entry);
      return () => listeners.delete(entry);
    },
  };
}

/** The long-lived parts of one gateway process, shared by HTTP, websocket and workers. */
export interface Services {
  config: Config;
  db: Db;
  queue: Queue;
  pubsub: GatewayPubSub;
  logger: Logger;
  instanceId: string;
  /** Prometheus metrics of this process (absent when built with `metrics: false`: scripts and unit tests). */
  metrics?: Metrics;
  /** The amoCRM client factory: every client of the process comes from here. */
  amo: AmoClients;
  /** The publisher of every amo.events event (token.stale, sync.completed, delivery.updated). */
  events: EventPublisher;
  /** Wakes this process's delivery loops (a new result, a retry). */
  deliveryWaker: Waker;
}

export interface CreateServicesOptions {
  config: Config;
  /** Reuse a client (tests; the embedded database); otherwise one is made from config.databaseUrl and closed by `close()`. */
  db?: Db;
  /** Reuse a queue; otherwise one is made from config.kafka (in-process without brokers) and closed by `close()`. */
  queue?: Queue;
  /** Options of the queue made here (tests: shorter retries). */
  queueOptions?: Partial<QueueOptions>;
  logger?: Logger;
  instanceId?: string;
  /** `false`: no Prometheus metrics (the default builds them). */
  metrics?: false;
  /** fetch of every amoCRM client and of the token refresher (default: global fetch) */
  fetch?: FetchLike;
  /** options of every amoCRM client (tests: shorter backoffs) */
  amoClient?: AmoClientOverrides;
  /** the shared amoCRM rate limiter (default: one over the database at config.amo.rateLimitRps) */
  rateLimiter?: RateLimiter;
  /**
   * Sweep amo.events' outbox this often for rows no pass of this process was woken for (another
   * replica's, left by a crash); default 0: none (the app sweeps when it runs the workers).
   */
  eventSweepMs?: number;
}

/** What `createServices` made, with the way to close what it owns. */
export interface OwnedServices extends Services {
  /** The parts to close at shutdown, in order: metrics, the event relay, then the queue and the database when they were made here. */
  readonly closers: readonly { what: 'metrics' | 'event relay' | 'queue' | 'database'; close(): Promise<unknown> }[];
  /** Runs every closer in order (a failure does not stop the others; the first is rethrown). */
  close(): Promise<void>;
}

export function newInstanceId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

export async function createServices(options: CreateServicesOptions): Promise<OwnedServices> {
  const { config } = options;
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const instanceId = options.instanceId ?? newInstanceId();
  if (!options.db && !config.databaseUrl) throw new Error('DATABASE_URL is not set');
  const db = options.db ?? createDb(config.databaseUrl!);
  const queue =
    options.queue ??
    (await createQueue({
      brokers: config.kafka.brokers,
      topicPrefix: config.kafka.topicPrefix,
      instanceId,
      logger,
      ...options.queueOptions,
    }));
  const pubsub = createGatewayPubSub();
  const metrics = options.metrics === false ? undefined : createMetrics({ config, db, queue, logger });
  // every replica relays the events it writes at once, and retries them while the broker is down
  const relay = relayEvents({ store: createEventOutboxStore(db), queue, logger: logger.child({ component: 'event-relay' }), pollMs: options.eventSweepMs });
  const events = createEventPublisher({ db, queue, logger, relay });
  const amo = createAmoClients({
    db,
    config,
    logger,
    metrics,
    // the stale transition's trigger wrote token.stale: relay it now
    onStale: () => events.flush(),
    fetch: options.fetch,
    defaults: options.amoClient,
    rateLimiter: options.rateLimiter,
  });
  const closers: OwnedServices['closers'] = [
    ...(metrics ? [{ what: 'metrics' as const, close: () => metrics.close() }] : []),
    { what: 'event relay' as const, close: () => relay.stop() },
    ...(options.queue ? [] : [{ what: 'queue' as const, close: () => queue.close() }]),
    ...(options.db ? [] : [{ what: 'database' as const, close: () => db.$disconnect() }]),
  ];
  return {
    config,
    db,
    queue,
    pubsub,
    logger,
    instanceId,
    metrics,
    amo,
    events,
    deliveryWaker: createWaker(),
    closers,
    async close() {
      let first: unknown;
      for (const c of closers) await c.close().catch((err) => (first ??= err));
      if (first !== undefined) throw first;
    },
  };
}
