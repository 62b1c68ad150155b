// The one way the gateway builds amoCRM clients (`services.amo`): one per-account rate limiter
// over the database shared by every client of the process, the process logger, every call
// counted in the metrics, and `token.stale` published when an account turns stale.
import {
  createAmoClient,
  createAmoSessionClient,
  loggedRateLimiter,
  type AmoClient,
  type AmoClientOptions,
  type AmoSession,
  type FetchLike,
  type RateLimiter,
  type TokenContext,
} from './index.ts';
import { countAmoCalls, type Metrics } from '../http/metrics.ts';
import type { Config } from '../config.ts';
import type { Db } from '../db.ts';
import type { Logger } from '../logger.ts';

/** Client options a caller may set on top of the factory's (tests shorten the backoff; a sync benchmark brings its own limiter). */
export type AmoClientOverrides = Partial<Omit<AmoClientOptions, 'db' | 'config' | 'accountId' | 'session' | 'onStale'>>;

export interface AmoClients {
  /**
   * The client of a gateway account (`AmoAccount.id`): the shared limiter (its state is in
   * PostgreSQL, so shared by every replica too), `onStale` → `token.stale` on amo.events.
   */
  client(accountId: string, overrides?: AmoClientOverrides): AmoClient;
  /** A client for an amoCRM account not stored yet (the OAuth callback): the same limiter (keyed by `session.amoId`), logger and metrics. */
  session(session: AmoSession, overrides?: AmoClientOverrides): AmoClient;
  /** What the token refresher needs: the same database, settings, logger, limiter and `onStale`. */
  readonly tokens: TokenContext;
  /** The per-account limiter every client of this factory takes its slots from. */
  readonly rateLimiter: RateLimiter;
}

export interface AmoClientsDeps {
  db: Db;
  config: Config;
  logger: Logger;
  metrics?: Pick<Metrics, 'amoCalls'>;
  /** called once when an account turns stale (the events publisher's `tokenStale`) */
  onStale: (accountId: string) => void | Promise<void>;
  /** fetch of every client (default: global fetch); a client's `overrides.fetch` wins */
  fetch?: FetchLike;
  /** options of every client (tests: shorter backoffs) */
  defaults?: AmoClientOverrides;
  /** the shared limiter (default: one over `db` at `config.amo.rateLimitRps`) */
  rateLimiter?: RateLimiter;
}

export function createAmoClients(deps: AmoClientsDeps): AmoClients {
  const { db, config, logger, metrics, onStale } = deps;
  const defaults = deps.defaults ?? {};
  let shared = deps.rateLimiter ?? defaults.rateLimiter;
  // Made on first use: settings without amoCRM (some tests) never build a client.
  const limiter = () => (shared ??= loggedRateLimiter(db, config.amo.rateLimitRps, logger));
  const options = (overrides: AmoClientOverrides) => {
    const merged = { ...defaults, ...overrides };
    return {
      db,
      config,
      logger,
      ...merged,
      fetch: countAmoCalls(metrics, merged.fetch ?? deps.fetch),
      rateLimiter: merged.rateLimiter ?? limiter(),
    };
  };
  return {
    client: (accountId, overrides = {}) => createAmoClient({ ...options(overrides), accountId, onStale }),
    session: (session, overrides = {}) => createAmoSessionClient({ ...options(overrides), session }),
    get tokens(): TokenContext {
      // The refresher's token calls are not counted in amoCalls (as before: only clients' calls are).
      return { db, config, logger, onStale, fetch: deps.fetch, rateLimiter: limiter() };
    },
    get rateLimiter() {
      return limiter();
    },
  };
}
