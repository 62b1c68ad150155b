// Calls to an amoCRM account before the gateway stores it (the OAuth callback).
import type { AmoClient } from './client.ts';
import { createAmoClient, type AmoClientOptions, type AmoSession } from './create-client.ts';

/** The `account_id` claim of an amoCRM access token (a JWT; read, not verified: it only picks the limiter key). */
export function amoIdOfToken(accessToken: string): number | null {
  try {
    const payload = JSON.parse(Buffer.from(accessToken.split('.')[1] ?? '', 'base64url').toString('utf8')) as { account_id?: unknown };
    const id = Number(payload?.account_id);
    return Number.isSafeInteger(id) && id > 0 ? id : null;
  } catch {
    return null;
  }
}

/**
 * A client for an account that is not stored yet (the OAuth callback's `/api/v4/account` read):
 * same retries, errors and limiter as any client, with the explicit host and token; a 401 is not
 * refreshed. `session.amoId` is the key of the shared per-account limiter, so these calls share
 * the slots of the sync and deliveries of the same amoCRM account (a reconnect). Only when it is
 * unknown (a token without `account_id` and no stored account on that host) does a call go out
 * without a slot: no other call of the gateway can then be addressed to that account.
 */
export function createAmoSessionClient(options: Omit<AmoClientOptions, 'accountId' | 'session'> & { session: AmoSession }): AmoClient {
  return createAmoClient({ ...options, accountId: '' });
}
