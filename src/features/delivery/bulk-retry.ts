// Retrying every FAILED delivery of a tenant at once (optionally one quiz's, or those received in a
// time range): each goes back to PENDING exactly as `retryDelivery` puts one back. Idempotent: a
// second call finds none FAILED (until some fail again) and retries nothing.
import type { Services } from '../../platform/services.ts';
import { Prisma } from '../../platform/db.ts';
import type { DeliveryStatus } from '../../generated/prisma/enums.ts';

export interface FailedDeliveriesFilter {
  quizId?: string | null;
  /** received at or after */
  from?: Date | null;
  /** received before */
  to?: Date | null;
}

/** How many FAILED deliveries of `quizAccountId` were put back to PENDING. */
export async function retryFailedDeliveries(
  services: Pick<Services, 'db' | 'events' | 'deliveryWaker'>,
  quizAccountId: string,
  filter: FailedDeliveriesFilter = {},
): Promise<number> {
  const conditions = [Prisma.sql`quiz_account_id = ${quizAccountId}`, Prisma.sql`status = 'FAILED'`];
  if (filter.quizId != null) conditions.push(Prisma.sql`quiz_id = ${filter.quizId}`);
  if (filter.from) conditions.push(Prisma.sql`created_at >= ${filter.from}::timestamptz`);
  if (filter.to) conditions.push(Prisma.sql`created_at < ${filter.to}::timestamptz`);
  const rows = await services.db.$queryRaw<{ id: string; quizAccountId: string; quizId: string; status: DeliveryStatus }[]>`
    UPDATE delivery SET status = 'PENDING', reason = 'QUEUED', last_error = NULL, attempts = 0, next_attempt_at = now(), locked_until = NULL, updated_at = now()
    WHERE ${Prisma.join(conditions, ' AND ')}
    RETURNING id::text AS id, quiz_account_id AS "quizAccountId", quiz_id AS "quizId", status::text AS status`;
  if (rows.length > 0) {
    await services.events.deliveriesUpdated(rows);
    services.deliveryWaker.wake();
  }
  return rows.length;
}
