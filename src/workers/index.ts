// Everything a gateway process does besides answering requests. Every
// replica runs the same set; Kafka's consumer groups share the work.
import { refreshExpiring } from '../platform/amo/index.ts';
import { startDeliveryWorker } from '../features/delivery/index.ts';
import { checkRule } from '../features/rules/index.ts';
import type { Services } from '../platform/services.ts';
import { startCatalogueResync, startSyncWorker } from '../features/catalogue/index.ts';
import { startAlerts } from '../features/alerts/index.ts';
import { LEAD_CHECK_TASK_TYPE, leadCheckTaskHandler, startWebhookSweeper, WEBHOOK_TASK_TYPE, webhookEventTaskHandler } from '../features/webhooks/index.ts';

export interface Workers {
  stop(): Promise<void>;
}

/** Access tokens live 24 h; refreshing those that expire within 2 h keeps every pair (and its refresh token) alive. */
const REFRESH_EVERY_MS = 5 * 60_000;
const REFRESH_WITHIN_MS = 2 * 60 * 60_000;

function startTokenRefresher(services: Services): () => Promise<void> {
  let running: Promise<unknown> | undefined;
  const tick = () => {
    running ??= refreshExpiring(services.amo.tokens, { within: REFRESH_WITHIN_MS })
      .catch((err) => services.logger.error({ err }, 'token refresh pass failed'))
      .finally(() => (running = undefined));
  };
  const timer = setInterval(tick, REFRESH_EVERY_MS);
  timer.unref();
  tick();
  return async () => {
    clearInterval(timer);
    await running;
  };
}

/** Rows that only grow: spent OAuth states, and amoCRM events long processed. */
const HOUSEKEEPING_EVERY_MS = 60 * 60_000;

function startHousekeeping(services: Services): () => Promise<void> {
  const tick = async () => {
    try {
      await services.db.oAuthState.deleteMany({ where: { expiresAt: { lt: new Date(Date.now() - 24 * 60 * 60_000) } } });
      await services.db.webhookEvent.deleteMany({ where: { processedAt: { lt: new Date(Date.now() - 30 * 24 * 60 * 60_000) } } });
    } catch (err) {
      services.logger.warn({ err }, 'housekeeping pass failed');
    }
  };
  const timer = setInterval(() => void tick(), HOUSEKEEPING_EVERY_MS);
  timer.unref();
  return async () => clearInterval(timer);
}

export async function startWorkers(services: Services): Promise<Workers> {
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    // All at once (requests are already refused when this runs): each stop aborts its own work
    // first, so a delivery's send is cut short now, not after a token refresh pass has finished.
    const results = await Promise.allSettled(stops.map((stop) => stop()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  };
  try {
    await startEach(services, stops);
  } catch (err) {
    // Nothing half-started is left running (consumers, timers) when one part fails to start.
    await stopAll().catch(() => {});
    throw err;
  }
  return { stop: stopAll };
}

async function startEach(services: Services, stops: (() => Promise<void>)[]): Promise<void> {
  // One amo.tasks consumer per process: sync tasks, and rule checks through its handler map.
  const tasks = await startSyncWorker(services, {
    handlers: {
      'rule.changed': async (task, _message, signal) => {
        if (typeof task.ruleId === 'string') await checkRule(services, task.ruleId, { signal });
      },
      [WEBHOOK_TASK_TYPE]: webhookEventTaskHandler(services),
      [LEAD_CHECK_TASK_TYPE]: leadCheckTaskHandler(services),
    },
  });
  stops.push(() => tasks.stop());
  const deliveries = await startDeliveryWorker(services, { ...services.config.delivery });
  stops.push(() => deliveries.stop());
  stops.push(startTokenRefresher(services));
  stops.push(startWebhookSweeper(services));
  stops.push(startHousekeeping(services));
  stops.push(startAlerts(services));
  stops.push(startCatalogueResync(services));
}
