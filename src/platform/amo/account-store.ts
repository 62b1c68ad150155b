/**
 * The PostgreSQL `AccountAccess` of a stored account (`amo_account` + `amo_token`, refreshed by
 * tokens.ts), and the one of a session: an account the gateway has not stored yet (the OAuth
 * callback), with an explicit host and token that are never refreshed.
 */
import { amoId } from '../amo-ids.ts';
import type { Db } from '../db.ts';
import type { Logger } from '../logger.ts';
import type { AccountAccess, AccountState } from './account-access.ts';
import { AmoBlockedError, AmoNotConnectedError, AmoStaleError } from './errors.ts';
import { amoOrigin } from './host.ts';
import { decryptSecret, tokenAad } from './token-crypto.ts';
import { markAccountStale, refreshAccessToken, tokenKeysOf, type AmoAuthConfig, type TokenContext } from './tokens.ts';

/**
 * An amoCRM account the gateway has not stored yet (the OAuth callback reads `/api/v4/account`
 * before the account row exists): the API host, the access token, and the amoCRM account id its
 * requests are counted under (null when unknown: see `createAmoSessionClient`).
 */
export interface AmoSession {
  host: string;
  accessToken: string;
  amoId: number | null;
}

/** The stored account `accountId`: its state checked on every load, its tokens refreshed through `tokens`. */
export function storedAccountAccess(tokens: TokenContext, accountId: string): AccountAccess {
  const { db, config, logger: log } = tokens;
  return {
    accountId,
    async load(): Promise<AccountState> {
      const acc = await db.amoAccount.findUnique({
        where: { id: accountId },
        select: {
          host: true,
          amoId: true,
          stale: true,
          blockedAt: true,
          deletedAt: true,
          token: { select: { accessTokenEnc: true, accessExpiresAt: true, version: true } },
        },
      });
      if (!acc || acc.deletedAt) throw new AmoNotConnectedError('The amoCRM account is not connected', { accountId });
      if (acc.stale) throw new AmoStaleError('The amoCRM account is stale: its owner must connect it again', { accountId });
      if (acc.blockedAt) throw new AmoBlockedError('amoCRM has blocked this account (API limits); calls are stopped until it is reconnected', { accountId, status: 403 });
      if (!acc.token) throw new AmoNotConnectedError('The amoCRM account has no tokens', { accountId });
      return {
        origin: amoOrigin(acc.host, config.amo),
        host: acc.host,
        amoId: amoId(acc.amoId),
        accessToken: decryptSecret(acc.token.accessTokenEnc, tokenKeysOf(config), tokenAad(accountId, 'access')),
        accessExpiresAt: acc.token.accessExpiresAt,
        version: acc.token.version,
      };
    },
    refresh: (knownVersion) => refreshAccessToken(tokens, accountId, { knownVersion }),
    async markBlocked(state) {
      // the block is amoCRM's, per amoCRM account: every live connection of it stops
      await db.$executeRaw`
        UPDATE amo_account SET blocked_at = now(), updated_at = now()
        WHERE blocked_at IS NULL AND deleted_at IS NULL
          AND (id = ${accountId}::uuid OR (amo_id = ${state.amoId} AND host = ${state.host}))`;
      log?.error({ amoId: state.amoId }, 'amoCRM blocked the account (403 HTML): calls stopped until reconnect');
    },
    async markStale(reason) {
      await markAccountStale(tokens, accountId, reason);
    },
  };
}

/** A session (see `AmoSession`): never refreshed (a 401 is final); a block marks the stored connections of that amoCRM account, if any. */
export function sessionAccess(deps: { db: Db; config: AmoAuthConfig; logger?: Logger }, session: AmoSession): AccountAccess {
  const { db, logger: log } = deps;
  return {
    accountId: '',
    async load() {
      const { host, accessToken, amoId } = session;
      // an infinite expiry: no refresh is attempted before a request
      return { origin: amoOrigin(host, deps.config.amo), host, amoId, accessToken, accessExpiresAt: new Date(8.64e15), version: 0 };
    },
    refresh: async () => null,
    async markBlocked(state) {
      if (state.amoId !== null) {
        await db.$executeRaw`
          UPDATE amo_account SET blocked_at = now(), updated_at = now()
          WHERE blocked_at IS NULL AND deleted_at IS NULL AND amo_id = ${state.amoId} AND host = ${state.host}`;
      }
      log?.error({ amoId: state.amoId }, 'amoCRM blocked the account (403 HTML)');
    },
    async markStale() {
      // nothing stored to mark: a refused session token is the caller's error (AmoUnauthorizedError)
    },
  };
}
