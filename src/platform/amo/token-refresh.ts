/**
 * Single-flight refresh of an account's pair, across every process, without holding a database
 * connection while amoCRM answers (the storage and its types: tokens.ts).
 *
 * amoCRM refresh tokens are one-shot: each refresh returns a new pair and kills the old refresh
 * token at once. So whoever refreshes first claims the row briefly — a lease (`refresh_lease_id`,
 * `refresh_lease_until`) taken by one short UPDATE, only while no lease is live and the version
 * is the one it read — then calls amoCRM with no transaction open, then stores the new pair (and
 * drops the lease) by another short UPDATE. Others poll the row in short reads until the holder
 * stored its pair (a bumped `version`, or a fresh access token) and use that pair. The lease
 * outlives the token request (its timeout plus a margin), so it cannot expire while amoCRM may
 * still answer. A pair amoCRM has issued is stored with retries: the old refresh token is dead
 * by then, so losing the new pair would lose the account.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { amoIdOrNull } from '../amo-ids.ts';
import { AmoNotConnectedError, AmoStaleError, AmoTokenRefreshError } from './errors.ts';
import { classifyGrantError, refreshGrant, takeSlot, TOKEN_TIMEOUT_MS, type GrantFailure } from './token-endpoint.ts';
import { decryptSecret, encryptSecret, tokenAad } from './token-crypto.ts';
import { ACCESS_TOKEN_SKEW_MS, callOnStale, tokenKeysOf, type StoredAccessToken, type TokenContext, type TokenPair } from './tokens.ts';

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

export interface RefreshResult extends StoredAccessToken {
  /** true when this call talked to the token endpoint; false when it used a pair someone else stored */
  refreshed: boolean;
}

/** How often a caller that found the refresh claimed looks at the row again. */
const LEASE_POLL_MS = 200;
/** Attempts at storing a pair amoCRM issued (backoff 250 ms, doubling). */
const STORE_ATTEMPTS = 6;

type Outcome =
  | { kind: 'current'; token: StoredAccessToken }
  | { kind: 'refreshed'; token: StoredAccessToken }
  | { kind: 'not_connected' }
  | { kind: 'stale' }
  | { kind: 'failed'; failure: GrantFailure; transitioned: boolean };

/** In-process joining of identical refreshes (per Db instance); the lease does the rest. */
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
  const outcome = await refreshOutcome(ctx, accountId, options);
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

async function refreshOutcome(ctx: TokenContext, accountId: string, options: RefreshOptions): Promise<Outcome> {
  const acc = await ctx.db.amoAccount.findUnique({ where: { id: accountId }, select: { amoId: true } });
  const ticket = await takeSlot(ctx, { db: ctx.db, rateLimiter: ctx.rateLimiter, amoId: amoIdOrNull(acc?.amoId) });
  try {
    const outcome = await claimAndRefresh(ctx, accountId, options);
    // answered or never sent: the limiter counts the slot's window from now (see rate-limit.ts)
    ticket?.arrived();
    return outcome;
  } catch (err) {
    // failed, perhaps without an answer: it may still reach amoCRM
    ticket?.unanswered();
    throw err;
  }
}

async function claimAndRefresh(ctx: TokenContext, accountId: string, options: RefreshOptions): Promise<Outcome> {
  const key = tokenKeysOf(ctx.config);
  const minValidityMs = options.minValidityMs ?? ACCESS_TOKEN_SKEW_MS;
  const leaseMs = (ctx.timeoutMs ?? TOKEN_TIMEOUT_MS) + 30_000;
  // a holder stores or gives up within its lease; waiting longer means it died mid-refresh and its lease lapses
  const waitUntil = Date.now() + leaseMs + 5_000;
  const claimId = randomUUID();
  for (;;) {
    const token = await ctx.db.amoToken.findUnique({
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
    const claimed = await ctx.db.$executeRaw`
      UPDATE amo_token SET refresh_lease_id = ${claimId}, refresh_lease_until = now() + ${leaseMs} * interval '1 millisecond'
      WHERE account_id = ${accountId}::uuid AND version = ${token.version}
        AND (refresh_lease_until IS NULL OR refresh_lease_until < now())`;
    if (claimed === 1) return refreshClaimed(ctx, accountId, claimId, token.version, token.account.host, decryptSecret(token.refreshTokenEnc, key, tokenAad(accountId, 'refresh')));
    if (Date.now() > waitUntil) {
      return { kind: 'failed', failure: { definitive: false, message: 'another refresh of this account is still running' }, transitioned: false };
    }
    await sleep(LEASE_POLL_MS);
  }
}

/** The lease is ours: amoCRM's token endpoint with no transaction open, then the outcome stored. */
async function refreshClaimed(ctx: TokenContext, accountId: string, claimId: string, version: number, host: string, refreshToken: string): Promise<Outcome> {
  let pair: TokenPair;
  try {
    pair = await refreshGrant(ctx, host, refreshToken);
  } catch (err) {
    const failure = await classifyGrantError(err);
    await ctx.db.$executeRaw`
      UPDATE amo_token SET last_refresh_error = ${failure.message.slice(0, 500)}, refresh_lease_id = NULL, refresh_lease_until = NULL, updated_at = now()
      WHERE account_id = ${accountId}::uuid AND refresh_lease_id = ${claimId}`;
    const transitioned =
      failure.definitive &&
      (await ctx.db.$executeRaw`UPDATE amo_account SET stale = true, stale_at = now(), updated_at = now() WHERE id = ${accountId}::uuid AND stale = false`) > 0;
    return { kind: 'failed', failure, transitioned };
  }
  const stored = await storeRefreshed(ctx, accountId, version, pair);
  if (stored === null) {
    // the owner connected again (or disconnected) while amoCRM answered: their pair stands
    ctx.logger?.warn({ accountId }, 'amoCRM tokens were replaced during a refresh; the refreshed pair is dropped');
    const again = await ctx.db.amoToken.findUnique({ where: { accountId }, select: { accessTokenEnc: true, accessExpiresAt: true, version: true } });
    if (!again) return { kind: 'not_connected' };
    return {
      kind: 'current',
      token: {
        accessToken: decryptSecret(again.accessTokenEnc, tokenKeysOf(ctx.config), tokenAad(accountId, 'access')),
        accessExpiresAt: again.accessExpiresAt,
        version: again.version,
      },
    };
  }
  return { kind: 'refreshed', token: { accessToken: pair.accessToken, accessExpiresAt: pair.accessExpiresAt, version: stored } };
}

/**
 * Stores the refreshed pair over the version it was refreshed from, dropping the lease; the new
 * version, or null when that version is gone (replaced by a reconnect, or disconnected). A
 * database error is retried: amoCRM has already killed the old refresh token.
 */
async function storeRefreshed(ctx: TokenContext, accountId: string, version: number, pair: TokenPair): Promise<number | null> {
  const key = tokenKeysOf(ctx.config);
  const accessTokenEnc = encryptSecret(pair.accessToken, key, tokenAad(accountId, 'access'));
  const refreshTokenEnc = encryptSecret(pair.refreshToken, key, tokenAad(accountId, 'refresh'));
  for (let attempt = 1; ; attempt++) {
    try {
      const rows = await ctx.db.$queryRaw<{ version: number }[]>`
        UPDATE amo_token SET access_token_enc = ${accessTokenEnc}, refresh_token_enc = ${refreshTokenEnc}, access_expires_at = ${pair.accessExpiresAt},
          version = version + 1, refreshed_at = now(), last_refresh_error = NULL, refresh_lease_id = NULL, refresh_lease_until = NULL, updated_at = now()
        WHERE account_id = ${accountId}::uuid AND version = ${version}
        RETURNING version`;
      return rows[0]?.version ?? null;
    } catch (err) {
      if (attempt >= STORE_ATTEMPTS) {
        ctx.logger?.error({ accountId, err: (err as Error)?.message }, 'could not store the refreshed amoCRM tokens');
        throw new AmoTokenRefreshError('amoCRM refreshed the tokens but they could not be stored', false, { accountId });
      }
      ctx.logger?.warn({ accountId, attempt, err: (err as Error)?.message }, 'storing the refreshed amoCRM tokens failed; retrying');
      await sleep(250 * 2 ** (attempt - 1));
    }
  }
}
