/**
 * The health of a tenant's deliveries, for the admin page's warning and for /metrics: how many
 * wait, since when the oldest, why most of them wait, and how many ended FAILED.
 */
import type { Db } from '../../platform/db.ts';
import type { DeliveryReason } from '../../generated/prisma/enums.ts';

export interface DeliveryHealth {
  waiting: number;
  failed: number;
  oldestWaitingAt: Date | null;
  /** the reason most waiting deliveries share (null when none waits) */
  mainReason: DeliveryReason | null;
  reasons: { reason: DeliveryReason; count: number }[];
}

export async function deliveryHealth(db: Db, quizAccountId: string): Promise<DeliveryHealth> {
  const rows = await db.$queryRaw<{ status: string; reason: DeliveryReason | null; n: number; oldest: Date | null }[]>`
    SELECT status::text AS status, reason, count(*)::int AS n, min(created_at) AS oldest
    FROM delivery WHERE quiz_account_id = ${quizAccountId} AND status IN ('PENDING', 'FAILED')
    GROUP BY status, reason`;
  const waiting = rows.filter((r) => r.status === 'PENDING');
  const reasons = waiting
    .map((r) => ({ reason: r.reason ?? 'QUEUED', count: r.n }))
    .reduce<{ reason: DeliveryReason; count: number }[]>((acc, r) => {
      const same = acc.find((x) => x.reason === r.reason);
      if (same) same.count += r.count;
      else acc.push({ ...r });
      return acc;
    }, [])
    .sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
  const oldest =
    waiting
      .map((r) => r.oldest)
      .filter((d): d is Date => d !== null)
      .sort((a, b) => a.getTime() - b.getTime())[0] ?? null;
  return {
    waiting: waiting.reduce((n, r) => n + r.n, 0),
    failed: rows.filter((r) => r.status === 'FAILED').reduce((n, r) => n + r.n, 0),
    oldestWaitingAt: oldest,
    mainReason: reasons[0]?.reason ?? null,
    reasons,
  };
}
