/**
 * An account's state and access token read once per claimed batch, not once per amoCRM call
 * (each call's `load()` was a model query plus a token decryption). The read is reused for at
 * most `maxAgeMs`, so a long batch still sees the account turn stale or blocked within seconds;
 * a token refresh, a block or a stale mark drops it at once (the next call reads the new state).
 */
import type { AccountAccess, AccountState } from '../../platform/amo/index.ts';

export const ACCOUNT_READ_MAX_AGE_MS = 5_000;

export function cachedAccountAccess(inner: AccountAccess, maxAgeMs = ACCOUNT_READ_MAX_AGE_MS, now = Date.now): AccountAccess {
  let cached: { state: Promise<AccountState>; at: number } | null = null;
  return {
    accountId: inner.accountId,
    load() {
      if (cached && now() - cached.at < maxAgeMs) return cached.state;
      const state = inner.load();
      const entry = { state, at: now() };
      cached = entry;
      // a refusal (stale, blocked, not connected) is not kept: the next call asks again
      state.catch(() => {
        if (cached === entry) cached = null;
      });
      return state;
    },
    async refresh(knownVersion) {
      cached = null;
      try {
        return await inner.refresh(knownVersion);
      } finally {
        cached = null; // a load while refreshing may have kept the old token
      }
    },
    async markBlocked(state) {
      cached = null;
      await inner.markBlocked(state);
    },
    async markStale(reason) {
      cached = null;
      await inner.markStale(reason);
    },
  };
}
