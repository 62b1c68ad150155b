/**
 * The periodic refresh of every live pair close to expiry (a worker runs it on every replica):
 * single-flight per account through `refreshAccessToken` (tokens.ts).
 */
import { AmoNotConnectedError, AmoStaleError, AmoTokenRefreshError } from './errors.ts';
import { refreshAccessToken, type TokenContext } from './tokens.ts';

export interface RefreshExpiringOptions {
  /** refresh pairs whose access token expires within this many ms */
  within: number;
  /** parallel refreshes (default 4) */
  concurrency?: number;
  /** at most this many accounts per run (default 500) */
  limit?: number;
}

export interface RefreshExpiringReport {
  refreshed: string[];
  /** another process refreshed in the meantime */
  skipped: string[];
  /** definitive failure: the account is now stale */
  stale: string[];
  /** not definitive: tokens kept, `lastRefreshError` recorded */
  failed: Array<{ accountId: string; error: string }>;
}

/**
 * Refreshes every live (not stale, not blocked, not deleted) pair whose access token expires
 * within `within` ms. Meant to run periodically on every replica: the refresh lease and the version
 * check make concurrent runs harmless. Also keeps refresh tokens alive (they die unused for 3 months).
 */
export async function refreshExpiring(ctx: TokenContext, options: RefreshExpiringOptions): Promise<RefreshExpiringReport> {
  const rows = await ctx.db.amoToken.findMany({
    where: {
      accessExpiresAt: { lt: new Date(Date.now() + options.within) },
      account: { stale: false, deletedAt: null, blockedAt: null },
    },
    select: { accountId: true, version: true },
    orderBy: { accessExpiresAt: 'asc' },
    take: options.limit ?? 500,
  });
  const report: RefreshExpiringReport = { refreshed: [], skipped: [], stale: [], failed: [] };
  let next = 0;
  const worker = async () => {
    for (let row = rows[next++]; row; row = rows[next++]) {
      try {
        const r = await refreshAccessToken(ctx, row.accountId, { knownVersion: row.version });
        (r.refreshed ? report.refreshed : report.skipped).push(row.accountId);
      } catch (err) {
        if (err instanceof AmoTokenRefreshError && err.definitive) report.stale.push(row.accountId);
        else if (err instanceof AmoStaleError || err instanceof AmoNotConnectedError) report.skipped.push(row.accountId);
        else report.failed.push({ accountId: row.accountId, error: (err as Error)?.message ?? String(err) });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency ?? 4, rows.length)) }, worker));
  return report;
}
