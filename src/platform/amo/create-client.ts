/**
 * Building a client: the account's state and tokens (stored, or an OAuth session's), the shared
 * per-account rate limiter, the logger. `clients.ts` builds every client of the process with it.
 */
import type { Db } from '../db.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { AccountAccess } from './account-access.ts';
import { sessionAccess, storedAccountAccess, type AmoSession } from './account-store.ts';
import { AmoClient } from './client.ts';
import { createRateLimiter, type RateLimiter } from './rate-limit.ts';
import type { AmoAuthConfig, FetchLike, TokenContext } from './tokens.ts';
import type { AmoRetryOptions } from './transport.ts';

export type { AmoSession } from './account-store.ts';

export interface AmoClientConfig extends AmoAuthConfig {
  amo: AmoAuthConfig['amo'] & Pick<Config['amo'], 'rateLimitRps'>;
}

export interface AmoClientOptions extends AmoRetryOptions {
  db: Db;
  config: AmoClientConfig;
  /** the gateway's `AmoAccount.id` ('' for a session client) */
  accountId: string;
  /** explicit host + token + amoId instead of the stored account (see `AmoSession`) */
  session?: AmoSession;
  /** the account's state and tokens instead of the stored account or `session` */
  access?: AccountAccess;
  logger?: Logger;
  /** called once when the account turns stale (the caller publishes `token.stale`) */
  onStale?: (accountId: string) => void | Promise<void>;
  /** fetch for API and token requests (default: global fetch) */
  fetch?: FetchLike;
  /** token endpoint timeout, ms (default 15 000) */
  tokenTimeoutMs?: number;
  /** share one limiter between clients (default: one over `db` at `config.amo.rateLimitRps`) */
  rateLimiter?: RateLimiter;
}

/** The per-account limiter over `db`, a late wake-up logged at debug. */
export function loggedRateLimiter(db: Db, rps: number, logger: Logger | undefined): RateLimiter {
  return createRateLimiter(db, {
    rps,
    onLate: (amoId, lateMs) => logger?.debug({ amoId, lateMs: Math.round(lateMs) }, 'amoCRM request woke late; it takes a new slot'),
  });
}

/** A client over the stored account `options.accountId` (or `options.session` / `options.access`). */
export function createAmoClient(options: AmoClientOptions): AmoClient {
  const logger = options.logger?.child({ amoAccountId: options.accountId });
  const rateLimiter = options.rateLimiter ?? loggedRateLimiter(options.db, options.config.amo.rateLimitRps, logger);
  const tokens: TokenContext = { db: options.db, config: options.config, logger, onStale: options.onStale, fetch: options.fetch, timeoutMs: options.tokenTimeoutMs, rateLimiter };
  const access = options.access ?? (options.session ? sessionAccess(tokens, options.session) : storedAccountAccess(tokens, options.accountId));
  return new AmoClient({ ...options, access, rateLimiter, logger });
}
