import type { Config } from './config.ts';
import type { Db } from './db.ts';
import type { GatewayPubSub } from './events.ts';
import type { Metrics } from './http/metrics.ts';
import type { Logger } from './logger.ts';
import type { Queue } from './queue/index.ts';

/** The long-lived parts of one gateway process, shared by HTTP, websocket and workers. */
export interface Services {
  config: Config;
  db: Db;
  queue: Queue;
  pubsub: GatewayPubSub;
  logger: Logger;
  instanceId: string;
  /** Prometheus metrics of this process (absent in code that builds Services by hand, e.g. scripts and unit tests). */
  metrics?: Metrics;
}
