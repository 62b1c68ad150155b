// A lead deleted in amoCRM while its webhook was lost: the periodic re-sync (src/features/catalogue/resync.ts)
// queues a `leads.check` task per account, which asks amoCRM for the leads of the account's recent
// deliveries not known deleted, and records `leadDeletedAt` on those amoCRM no longer has.
import type { Services } from '../../platform/services.ts';

export const LEAD_CHECK_TASK_TYPE = 'leads.check';

export interface LeadCheckOptions {
  /** deliveries looked at per pass (their leads are one request each, inside the rate limiter); default 50 */
  limit?: number;
  /** only deliveries delivered within this many ms; default 30 days */
  withinMs?: number;
  signal?: AbortSignal;
}

/** How many deliveries were found to have lost their lead. */
export async function checkDeletedLeads(services: Services, accountId: string, options: LeadCheckOptions = {}): Promise<number> {
  const { db } = services;
  const account = await db.amoAccount.findUnique({ where: { id: accountId }, select: { deletedAt: true, stale: true, blockedAt: true } });
  if (!account || account.deletedAt || account.stale || account.blockedAt) return 0;
  const deliveries = await db.delivery.findMany({
    where: {
      accountId,
      status: 'DELIVERED',
      amoLeadId: { not: null },
      leadDeletedAt: null,
      deliveredAt: { gt: new Date(Date.now() - (options.withinMs ?? 30 * 24 * 60 * 60_000)) },
    },
    orderBy: { deliveredAt: 'desc' },
    take: options.limit ?? 50,
    select: { id: true, quizAccountId: true, quizId: true, status: true, amoLeadId: true },
  });
  const client = services.amo.client(accountId);
  let found = 0;
  for (const d of deliveries) {
    const lead = await client.getLead(Number(d.amoLeadId), undefined, { signal: options.signal });
    if (lead && !(lead as { is_deleted?: boolean }).is_deleted) continue;
    const n = await db.$executeRaw`UPDATE delivery SET lead_deleted_at = now(), updated_at = now() WHERE id = ${d.id}::uuid AND lead_deleted_at IS NULL`;
    if (n === 0) continue;
    found++;
    await services.events.deliveryUpdated(d);
  }
  return found;
}

/** The amo.tasks handler of `{ type: 'leads.check', quizAccountId, accountId }`. */
export function leadCheckTaskHandler(services: Services): (task: { type: string; [k: string]: unknown }, message: unknown, signal?: AbortSignal) => Promise<void> {
  return async (task, _message, signal) => {
    if (typeof task.accountId === 'string') await checkDeletedLeads(services, task.accountId, { signal });
  };
}
