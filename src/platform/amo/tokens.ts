/**
 * The OAuth token store of an amoCRM account: encrypted pairs in `amo_token` (the single-flight
 * refresh across every process: token-refresh.ts; the token endpoint itself: token-endpoint.ts;
 * the periodic refresh: token-refresher.ts).
 */
import type { Db } from '../db.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { AmoNotConnectedError } from './errors.ts';
import type { RateLimiter } from './rate-limit.ts';
import { decryptSecret, encryptSecret, tokenAad, type TokenKeyring, type TokenKeys } from './token-crypto.ts';

/** What the token functions need from the settings. `Config` fits. */
export interface AmoAuthConfig {
  amo: Pick<Config['amo'], 'clientId' | 'clientSecret' | 'redirectUri' | 'allowHttp'> & Partial<Pick<Config['amo'], 'rateLimitRps' | 'allowedHosts'>>;
  tokenEncryptionKey: Buffer;
  /** every configured key by id, the current one for writes (`Config` has it); without: `tokenEncryptionKey` as key id k1 */
  tokenKeys?: TokenKeyring;
}

/** The keys to encrypt and decrypt stored tokens with. */
export const tokenKeysOf = (config: Pick<AmoAuthConfig, 'tokenEncryptionKey' | 'tokenKeys'>): TokenKeys => config.tokenKeys ?? config.tokenEncryptionKey;

export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export interface TokenContext {
  db: Db;
  config: AmoAuthConfig;
  logger?: Logger;
  /** Called once when an account turns stale (publishing `token.stale` is the caller's job). */
  onStale?: (accountId: string) => void | Promise<void>;
  /** fetch used for the token endpoint (default: global fetch) */
  fetch?: FetchLike;
  /** token endpoint timeout, ms (default 15 000) */
  timeoutMs?: number;
  /**
   * The per-amoCRM-account limiter token requests take a slot of (default: one over `db` at
   * `config.amo.rateLimitRps`, else 7). amoCRM counts requests per account host, and the token
   * endpoint is on that host, so a refresh is counted like an API call.
   */
  rateLimiter?: RateLimiter;
}

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  /** seconds, as amoCRM answered (86400) */
  expiresIn: number;
  accessExpiresAt: Date;
}

/** The current access token of an account. */
export interface StoredAccessToken {
  accessToken: string;
  accessExpiresAt: Date;
  /** `amo_token.version`: bumped on every save/refresh */
  version: number;
}

/** A token that expires within this margin is treated as expired (clock skew, request time). */
export const ACCESS_TOKEN_SKEW_MS = 60_000;

// ---- storage -------------------------------------------------------------------------------

export interface SaveTokensOptions {
  /**
   * The owner connected the account again: clear `stale`, `staleAt` and `blockedAt` in the same
   * transaction (the OAuth callback does this).
   */
  reconnect?: boolean;
}

/** Stores a pair (encrypted), bumping `version`; returns the new version. */
export async function saveTokens(db: Db, key: TokenKeys, accountId: string, pair: TokenPair, options: SaveTokensOptions = {}): Promise<number> {
  const accessTokenEnc = encryptSecret(pair.accessToken, key, tokenAad(accountId, 'access'));
  const refreshTokenEnc = encryptSecret(pair.refreshToken, key, tokenAad(accountId, 'refresh'));
  return db.$transaction(async (tx) => {
    const row = await tx.amoToken.upsert({
      where: { accountId },
      create: { accountId, accessTokenEnc, refreshTokenEnc, accessExpiresAt: pair.accessExpiresAt, version: 1, refreshedAt: new Date() },
      update: {
        accessTokenEnc,
        refreshTokenEnc,
        accessExpiresAt: pair.accessExpiresAt,
        version: { increment: 1 },
        refreshedAt: new Date(),
        lastRefreshError: null,
      },
      select: { version: true },
    });
    if (options.reconnect) {
      await tx.amoAccount.update({ where: { id: accountId }, data: { stale: false, staleAt: null, blockedAt: null } });
    }
    return row.version;
  });
}

/** The stored access token; `AmoNotConnectedError` when the account has none. */
export async function readAccessToken(db: Db, key: TokenKeys, accountId: string): Promise<StoredAccessToken> {
  const row = await db.amoToken.findUnique({
    where: { accountId },
    select: { accessTokenEnc: true, accessExpiresAt: true, version: true },
  });
  if (!row) throw new AmoNotConnectedError('The amoCRM account has no tokens', { accountId });
  return { accessToken: decryptSecret(row.accessTokenEnc, key, tokenAad(accountId, 'access')), accessExpiresAt: row.accessExpiresAt, version: row.version };
}

/**
 * Marks the account stale (`stale`, `staleAt`). Returns true (and calls `onStale`) only for the
 * call that made the transition, so the hook runs once however many callers notice.
 */
export async function markAccountStale(ctx: Pick<TokenContext, 'db' | 'onStale' | 'logger'>, accountId: string, reason: string): Promise<boolean> {
  const n = await ctx.db.$executeRaw`
    UPDATE amo_account SET stale = true, stale_at = now(), updated_at = now()
    WHERE id = ${accountId}::uuid AND stale = false`;
  if (n > 0) {
    ctx.logger?.warn({ accountId, reason }, 'amoCRM account is stale: it must be connected again');
    await callOnStale(ctx, accountId);
  }
  return n > 0;
}

export async function callOnStale(ctx: Pick<TokenContext, 'onStale' | 'logger'>, accountId: string): Promise<void> {
  if (!ctx.onStale) return;
  try {
    await ctx.onStale(accountId);
  } catch (err) {
    ctx.logger?.error({ accountId, err: (err as Error)?.message }, 'onStale hook failed');
  }
}

// the refresh lives in token-refresh.ts; its importers keep reaching it here
export { refreshAccessToken, type RefreshOptions, type RefreshResult } from './token-refresh.ts';
