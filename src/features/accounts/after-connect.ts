import type { AmoAccount } from '../../generated/prisma/client.ts';
import type { Services } from '../../platform/services.ts';
import { requestSync } from '../catalogue/index.ts';
import { subscribeAccountWebhook } from '../webhooks/index.ts';

/**
 * What follows a (re)connection: the whole catalogue is loaded again, and amoCRM is asked to tell
 * us about lead changes. `signal` is the OAuth callback's: it aborts only when the owner's popup
 * went away before its answer, and then the subscription is made on the next connect.
 */
export async function afterConnect(services: Services, account: AmoAccount, options: { signal?: AbortSignal } = {}): Promise<void> {
  await requestSync(services, account.id);
  // Not awaited: the owner's popup should not wait on amoCRM; a failure is logged and retried on reconnect.
  void subscribeAccountWebhook(services, account.id, { signal: options.signal });
}
