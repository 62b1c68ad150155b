// One set-up for the delivery suites (test/delivery*.test.ts): a simulator over HTTP, a throwaway
// database and Services over them, started before the suite's tests and stopped after them, on
// either queue. On the real broker (KAFKA_BROKERS) every test gets a queue of its own topic prefix,
// so no test sees another's messages.
import { randomBytes } from 'node:crypto';
import { after, afterEach, before, beforeEach } from 'node:test';
import type { AmoSimulator, SimulatorOptions } from '@quiz-gateway/amo-sim';
import { createLogger } from '../../src/platform/logger.ts';
import { createQueue, type Queue } from '../../src/platform/queue/index.ts';
import type { Services } from '../../src/platform/services.ts';
import { createDeliveryRuntime, type DeliveryHooks, type DeliveryRuntime } from '../../src/features/delivery/worker.ts';
import type { TestDatabase } from './db.ts';
import { connectDeliveryAccount, deliveryServices, drainDeliveries, startDeliveryKit, testDeliveryRuntime, type DeliveryAccount, type DeliveryKit } from './delivery.ts';
import { brokers, runId, waitForTopicLeaders } from './queue.ts';

export type DeliveryQueueKind = 'memory' | 'kafka';

/** The queues a delivery suite runs on: `for (const q of DELIVERY_QUEUES) describe(q.name, { skip: q.skip }, …)`. */
export const DELIVERY_QUEUES: { name: DeliveryQueueKind; skip: string | false }[] = [
  { name: 'memory', skip: false },
  {
    name: 'kafka',
    skip: brokers.length === 0 ? 'KAFKA_BROKERS is not set: start a broker with `bash scripts/kafka.sh start` and export KAFKA_BROKERS=127.0.0.1:19092' : false,
  },
];

export interface DeliverySuite {
  readonly kit: DeliveryKit;
  readonly sim: AmoSimulator;
  readonly tdb: TestDatabase;
  /** the suite's services (on Kafka: the current test's) */
  readonly services: Services;
  runtime(hooks?: DeliveryHooks, extra?: Parameters<typeof createDeliveryRuntime>[1]): DeliveryRuntime;
  drain(rt: DeliveryRuntime, quizAccountId: string, timeoutMs?: number): Promise<void>;
  /** a fresh simulator account with `pipelines` pipelines (the suite's default), its catalogue copied */
  setup(): Promise<DeliveryAccount>;
}

let prefixes = 0;

/** A queue on the broker under a topic prefix of its own, its topics' leaders known. */
async function kafkaQueue(): Promise<Queue> {
  const prefix = `${runId}-dlv-${++prefixes}-${randomBytes(2).toString('hex')}.`;
  const queue = await createQueue({ brokers, topicPrefix: prefix, logger: createLogger({ level: 'silent' }), retryBackoffMs: 20, shutdownGraceMs: 1_000 });
  await waitForTopicLeaders(prefix);
  return queue;
}

/**
 * Registers the hooks of a delivery suite in the current scope (a file or a describe) and returns
 * what its tests use; read `sim`, `tdb`, `services` inside tests (they exist once the suite started).
 */
export function deliverySuite(options: { sim?: Partial<SimulatorOptions>; pipelines?: number; queue?: DeliveryQueueKind } = {}): DeliverySuite {
  let kit: DeliveryKit | undefined;
  let perTest: Services | undefined;
  const started = () => {
    if (!kit) throw new Error('the delivery suite has not started (use it inside a test)');
    return kit;
  };
  before(async () => {
    kit = await startDeliveryKit(options.sim);
  });
  after(() => kit?.stop());
  if (options.queue === 'kafka') {
    beforeEach(async () => {
      perTest = await deliveryServices(started().tdb.db, await kafkaQueue());
    });
    afterEach(async () => {
      await perTest?.queue.close();
      perTest = undefined;
    });
  }
  const suite: DeliverySuite = {
    get kit() {
      return started();
    },
    get sim() {
      return started().sim;
    },
    get tdb() {
      return started().tdb;
    },
    get services() {
      return perTest ?? started().services;
    },
    runtime: (hooks = {}, extra = {}) => testDeliveryRuntime(suite.services, hooks, extra),
    drain: (rt, quizAccountId, timeoutMs) => drainDeliveries(rt, suite.tdb.db, quizAccountId, timeoutMs),
    setup: () => connectDeliveryAccount(started(), options.pipelines ?? 2),
  };
  return suite;
}
