// The alert sender as one of the workers (src/workers/index.ts).
import type { Services } from '../../platform/services.ts';
import { createAlertPost } from './post.ts';
import { startAlertSender, type PostAlert } from './sender.ts';
import { createAlertStore } from './store.ts';
import { assertPublicDestination } from './url.ts';

export function startAlerts(services: Services, options: { post?: PostAlert; pollMs?: number } = {}): () => Promise<void> {
  const { config } = services;
  const sender = startAlertSender({
    store: createAlertStore(services.db, config),
    post: options.post ?? createAlertPost(config.isProduction),
    checkDestination: (url) => assertPublicDestination(url, config.isProduction),
    maxAttempts: config.alerts.maxAttempts,
    backoffMs: config.alerts.backoffMs,
    pollMs: options.pollMs,
    logger: services.logger.child({ part: 'alerts' }),
  });
  // alerts done with (delivered or given up) are kept 30 days for alertWebhook.recentAlerts
  const prune = () =>
    services.db.alertOutbox
      .deleteMany({ where: { status: { in: ['DELIVERED', 'FAILED'] }, createdAt: { lt: new Date(Date.now() - 30 * 24 * 60 * 60_000) } } })
      .catch((err) => services.logger.warn({ err }, 'alert outbox pruning failed'));
  const pruning = setInterval(() => void prune(), 60 * 60_000);
  pruning.unref();
  return async () => {
    clearInterval(pruning);
    await sender.stop();
  };
}
