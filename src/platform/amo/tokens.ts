/**
 * The OAuth token store of an amoCRM account: encrypted pairs in `amo_token`, and refresh that is
 * single-flight across every process (the token endpoint itself: token-endpoint.ts; the periodic
 * refresh: token-refresher.ts).
 *
 * amoCRM refresh tokens are one-shot: each refresh returns a new pair and kills the old refresh
 * token at once. Two replicas refreshing the same account at the same moment would lose it. So a
 * refresh runs inside a transaction that holds the account's `amo_token` row (`FOR UPDATE`);
 * whoever gets the lock second re-reads the row, sees the bumped `version` (or a fresh access
 * token) and uses that pair instead of spending the dead refresh token. The new pair is stored
 * and committed before anybody can use it.
 */
import type { Db } from '../db.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { AmoNotConnectedError, AmoStaleError, AmoTokenRefreshError } from './errors.ts';
import type { RateLimiter } from './rate-limit.ts';
import { classifyGrantError, refreshGrant, takeSlot, TOKEN_TIMEOUT_MS, type GrantFailure } from './token-endpoint.ts';
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

export interface RefreshResult extends StoredAccessToken {
  /** true when this call talked to the token endpoint; false when it used a pair someone else stored */
  refreshed: boolean;
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

async function callOnStale(ctx: Pick<TokenContext, 'onStale' | 'logger'>, accountId: string): Promise<void> {
  if (!ctx.onStale) return;
  try {
    await ctx.onStale(accountId);
  } catch (err) {
    ctx.logger?.error({ accountId, err: (err as Error)?.message }, 'onStale hook failed');
  }
}

// ---- single-flight refresh -----------------------------------------------------------------

export interface RefreshOptions {
  /**
   * The version the caller used (e.g. the one amoCRM just answered 401 to). When the stored
   * version differs, someone else refreshed: their pair is returned without a token request.
   * Without it, a stored access token still valid for `minValidityMs` is returned as is.
   */
  knownVersion?: number;
  /** default `ACCESS_TOKEN_SKEW_MS` */
  minValidityMs?: number;
}

type Outcome =
  | { kind: 'current'; token: StoredAccessToken }
  | { kind: 'refreshed'; token: StoredAccessToken }
  | { kind: 'not_connected' }
  | { kind: 'stale' }
  | { kind: 'failed'; failure: GrantFailure; transitioned: boolean };

/** In-process joining of identical refreshes (per Db instance); the row lock does the rest. */
const inFlight = new WeakMap<object, Map<string, Promise<RefreshResult>>>();

/**
 * Returns a working access token for the account, refreshing it when needed, at most once across
 * every process (see the file comment). Throws `AmoStaleError` / `AmoNotConnectedError` when there
 * is nothing to refresh, `AmoTokenRefreshError` when the refresh fails: `definitive` (400/401; the
 * account is now stale and `onStale` was called) or not (network, 5xx; `lastRefreshError` recorded,
 * tokens kept).
 */
export function refreshAccessToken(ctx: TokenContext, accountId: string, options: RefreshOptions = {}): Promise<RefreshResult> {
  let perDb = inFlight.get(ctx.db);
  if (!perDb) inFlight.set(ctx.db, (perDb = new Map()));
  const key = `${accountId}:${options.knownVersion ?? 'fresh'}`;
  const running = perDb.get(key);
  if (running) return running;
  const p = doRefresh(ctx, accountId, options).finally(() => perDb.delete(key));
  perDb.set(key, p);
  return p;
}

async function doRefresh(ctx: TokenContext, accountId: string, options: RefreshOptions): Promise<RefreshResult> {
  const key = tokenKeysOf(ctx.config);
  const minValidityMs = options.minValidityMs ?? ACCESS_TOKEN_SKEW_MS;
  const timeoutMs = ctx.timeoutMs ?? TOKEN_TIMEOUT_MS;
  // The slot is taken before the transaction: a second pooled connection taken while the
  // transaction holds one can deadlock a small pool, and reserving on the transaction's own
  // connection would hold the account's limiter row until the token request ends. A refresher
  // that waits for the lock finds the pair refreshed by the holder and sends nothing; only after
  // a holder's failed refresh does a waiter send later than its slot.
  const acc = await ctx.db.amoAccount.findUnique({ where: { id: accountId }, select: { amoId: true } });
  await takeSlot(ctx, { db: ctx.db, rateLimiter: ctx.rateLimiter, amoId: acc?.amoId });
  const outcome = await ctx.db.$transaction(
    async (tx): Promise<Outcome> => {
      // bounded wait for a refresh running elsewhere (it holds the lock for one token request)
      await tx.$executeRawUnsafe(`SET LOCAL lock_timeout = '${Math.ceil(timeoutMs / 1000) + 15}s'`);
      const locked = await tx.$queryRaw<Array<{ version: number }>>`
        SELECT version FROM amo_token WHERE account_id = ${accountId}::uuid FOR UPDATE`;
      if (locked.length === 0) return { kind: 'not_connected' };
      // read after the lock: this statement sees whatever the previous holder committed
      const token = await tx.amoToken.findUnique({
        where: { accountId },
        select: { accessTokenEnc: true, refreshTokenEnc: true, accessExpiresAt: true, version: true, account: { select: { host: true, stale: true, deletedAt: true } } },
      });
      if (!token || token.account.deletedAt) return { kind: 'not_connected' };
      if (token.account.stale) return { kind: 'stale' };
      const someoneElse = options.knownVersion !== undefined && token.version !== options.knownVersion;
      const stillFresh = options.knownVersion === undefined && token.accessExpiresAt.getTime() > Date.now() + minValidityMs;
      if (someoneElse || stillFresh) {
        return {
          kind: 'current',
          token: { accessToken: decryptSecret(token.accessTokenEnc, key, tokenAad(accountId, 'access')), accessExpiresAt: token.accessExpiresAt, version: token.version },
        };
      }
      let pair: TokenPair;
      try {
        pair = await refreshGrant(ctx, token.account.host, decryptSecret(token.refreshTokenEnc, key, tokenAad(accountId, 'refresh')));
      } catch (err) {
        const failure = await classifyGrantError(err);
        await tx.amoToken.update({ where: { accountId }, data: { lastRefreshError: failure.message.slice(0, 500) } });
        let transitioned = false;
        if (failure.definitive) {
          transitioned = (await tx.$executeRaw`UPDATE amo_account SET stale = true, stale_at = now(), updated_at = now() WHERE id = ${accountId}::uuid AND stale = false`) > 0;
        }
        return { kind: 'failed', failure, transitioned };
      }
      const updated = await tx.amoToken.update({
        where: { accountId },
        data: {
          accessTokenEnc: encryptSecret(pair.accessToken, key, tokenAad(accountId, 'access')),
          refreshTokenEnc: encryptSecret(pair.refreshToken, key, tokenAad(accountId, 'refresh')),
          accessExpiresAt: pair.accessExpiresAt,
          version: { increment: 1 },
          refreshedAt: new Date(),
          lastRefreshError: null,
        },
        select: { version: true },
      });
      return { kind: 'refreshed', token: { accessToken: pair.accessToken, accessExpiresAt: pair.accessExpiresAt, version: updated.version } };
    },
    { maxWait: 10_000, timeout: timeoutMs + 30_000 },
  );

  switch (outcome.kind) {
    case 'current':
      return { ...outcome.token, refreshed: false };
    case 'refreshed':
      ctx.logger?.info({ accountId, version: outcome.token.version }, 'amoCRM tokens refreshed');
      return { ...outcome.token, refreshed: true };
    case 'not_connected':
      throw new AmoNotConnectedError('The amoCRM account has no tokens (not connected or disconnected)', { accountId });
    case 'stale':
      throw new AmoStaleError('The amoCRM account is stale: its owner must connect it again', { accountId });
    case 'failed': {
      const { failure } = outcome;
      if (failure.definitive) {
        ctx.logger?.warn({ accountId, status: failure.status, oauthError: failure.oauthError }, 'amoCRM refused the refresh token: account is stale');
        if (outcome.transitioned) await callOnStale(ctx, accountId);
        throw new AmoTokenRefreshError(`amoCRM refused the refresh token (${failure.message}); the account must be connected again`, true, {
          status: failure.status,
          accountId,
          oauthError: failure.oauthError,
        });
      }
      ctx.logger?.warn({ accountId, status: failure.status, reason: failure.message }, 'amoCRM token refresh failed; will retry');
      throw new AmoTokenRefreshError(`amoCRM token refresh failed, tokens kept (${failure.message})`, false, { status: failure.status, accountId });
    }
  }
}
