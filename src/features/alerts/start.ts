// The alert sender as one of the workers (src/workers/index.ts).
import type { Services } from '../../platform/services.ts';
import { startAlertSender, type PostAlert } from './sender.ts';
import { createAlertStore } from './store.ts';
import { assertPublicDestination } from './url.ts';

export function startAlerts(services: Services, options: { post?: PostAlert; pollMs?: number } = {}): () => Promise<void> {
  const { config } = services;
  const sender = startAlertSender({
    store: createAlertStore(services.db, config),
    post: options.post,
    checkDestination: (url) => assertPublicDestination(url, config.isProduction),
    maxAttempts: config.alerts.maxAttempts,
    backoffMs: config.alerts.backoffMs,
    pollMs: options.pollMs,
    logger: services.logger.child({ part: 'alerts' }),
  });
  return () => sender.stop();
}
