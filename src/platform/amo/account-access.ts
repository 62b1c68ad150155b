/**
 * What the amoCRM client needs of an account's state and tokens, behind a small interface so the
 * HTTP, retry and limit logic (transport.ts) runs without PostgreSQL in unit tests. The stored
 * implementation (PostgreSQL, tokens.ts) is in account-store.ts.
 */
import type { StoredAccessToken } from './tokens.ts';

/** The account a request is sent to, with the access token to send. */
export interface AccountState extends StoredAccessToken {
  /** the API origin (`https://{host}`) */
  origin: string;
  host: string;
  /** the amoCRM account id: the rate limiter's key; null only for a session whose account is unknown */
  amoId: number | null;
}

export interface AccountAccess {
  /** the gateway's `AmoAccount.id` ('' for a session): named in errors */
  readonly accountId: string;
  /**
   * The account and its current token. Throws `AmoNotConnectedError` (none, deleted, no tokens),
   * `AmoStaleError` or `AmoBlockedError`: nothing is sent for those.
   */
  load(): Promise<AccountState>;
  /**
   * A working token after the one of `knownVersion` expired or was refused (single-flight, see
   * tokens.ts); null when this access cannot refresh (a session): a 401 is then final.
   */
  refresh(knownVersion: number): Promise<StoredAccessToken | null>;
  /** amoCRM answered 403 HTML: the account is blocked (every connection of that amoCRM account). */
  markBlocked(state: AccountState): Promise<void>;
  /** amoCRM refused the tokens even after a refresh: the account must be connected again. */
  markStale(reason: string): Promise<void>;
}
