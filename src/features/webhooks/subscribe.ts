/**
 * The gateway's own webhook in each connected amoCRM account.
 *
 * Subscribing and unsubscribing never fail a connect or a disconnect: amoCRM may be slow, the
 * account may be blocked or its token revoked. A failure is logged (warn) and reported as
 * `false`; a later reconnect subscribes again (`POST /api/v4/webhooks` is an upsert by
 * destination, so subscribing twice is harmless).
 */
import type { Config } from '../../platform/config.ts';
import type { AmoAccount } from '../../generated/prisma/client.ts';
import type { Services } from '../../platform/services.ts';
import type { AmoClientOverrides } from '../../platform/amo/clients.ts';

/** The amoCRM webhook events the gateway subscribes to (amoCRM's `settings` names). */
export const WEBHOOK_EVENTS = ['add_lead', 'update_lead', 'status_lead', 'delete_lead', 'add_contact', 'update_contact', 'note_lead'] as const;

/** Where amoCRM posts an account's webhooks: the secret in the path identifies the account. */
export function webhookDestination(config: Pick<Config, 'publicUrl'>, account: Pick<AmoAccount, 'webhookSecret'>): string {
  return `${config.publicUrl.replace(/\/$/, '')}/webhook/amo/${encodeURIComponent(account.webhookSecret)}`;
}

export interface SubscribeOptions {
  /** amoCRM client options (tests) */
  client?: AmoClientOverrides;
  /** the owner's request closing cuts the amoCRM call short (reported as not done, like any failure) */
  signal?: AbortSignal;
}

/** Subscribes the account's webhook; false (logged) when it could not. Never throws. */
export async function subscribeAccountWebhook(services: Services, accountId: string, options: SubscribeOptions = {}): Promise<boolean> {
  try {
    const account = await services.db.amoAccount.findUnique({ where: { id: accountId }, select: { id: true, webhookSecret: true, deletedAt: true } });
    if (!account || account.deletedAt) {
      services.logger.warn({ accountId }, 'webhook not subscribed: no such live account');
      return false;
    }
    const destination = webhookDestination(services.config, account);
    await services.amo.client(accountId, options.client).subscribeWebhook(destination, [...WEBHOOK_EVENTS], { signal: options.signal });
    services.logger.info({ accountId, events: WEBHOOK_EVENTS }, 'amoCRM webhook subscribed');
    return true;
  } catch (err) {
    services.logger.warn({ accountId, err: (err as Error)?.message }, 'could not subscribe the amoCRM webhook');
    return false;
  }
}

/**
 * Removes the account's webhook; false (logged) when it could not. Never throws. Needs the
 * account's token, so call it BEFORE the tokens are deleted (before `disconnectAccount`).
 */
export async function unsubscribeAccountWebhook(services: Services, account: Pick<AmoAccount, 'id' | 'webhookSecret'>, options: SubscribeOptions = {}): Promise<boolean> {
  try {
    await services.amo.client(account.id, options.client).unsubscribeWebhook(webhookDestination(services.config, account), { signal: options.signal });
    services.logger.info({ accountId: account.id }, 'amoCRM webhook unsubscribed');
    return true;
  } catch (err) {
    services.logger.warn({ accountId: account.id, err: (err as Error)?.message }, 'could not unsubscribe the amoCRM webhook');
    return false;
  }
}
