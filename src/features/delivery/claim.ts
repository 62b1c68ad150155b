/** Claiming due Deliveries per account, under a lease. */
import type { Services } from '../../platform/services.ts';
import type { Delivery } from '../../generated/prisma/client.ts';
import { deliveryColumns, toDelivery } from './delivery-row.ts';

export interface ClaimedBatch {
  accountId: string;
  /** the lease (fencing token) shared by the claimed rows */
  lease: Date;
  /** local time (ms) the claim was sent: the lease runs from about then */
  claimedAt: number;
  deliveries: Delivery[];
}

export interface ClaimOptions {
  /** accounts claimed at most */
  accounts: number;
  /** Deliveries per account at most (its oldest due ones) */
  batchSize: number;
  /** Deliveries in all at most (default accounts × batchSize) */
  limit?: number;
  leaseMs: number;
  /**
   * how many of the oldest due, claimable Deliveries are looked at to pick the accounts and their
   * batches (default max(10 000, 4 × accounts × batchSize)): bounds the cost of a claim under a
   * large backlog. An account whose due rows fall beyond the window gets them in a later pass.
   */
  scan?: number;
}

/**
 * Claims due PENDING Deliveries per account: the `accounts` accounts with the oldest due
 * Delivery, each with up to `batchSize` of its oldest due Deliveries, so one pass fills whole
 * leads/complex batches even when the results of many accounts are mixed. Only accounts that are
 * live, not stale and not blocked are claimed (a QUEUED Delivery goes to the quiz account's
 * current live account, also when its `account_id` is null; one past QUEUED stays with the
 * account its lead may already be in). Rows are taken `FOR UPDATE SKIP LOCKED` and leased for
 * `leaseMs`; the lease value is the fencing token of every later write. Grouped per account,
 * accounts in the order of their oldest due Delivery, each batch oldest first.
 */
export async function claimDueDeliveries(services: Pick<Services, 'db'>, options: ClaimOptions): Promise<ClaimedBatch[]> {
  const accounts = Math.max(1, Math.floor(options.accounts));
  const batchSize = Math.max(1, Math.floor(options.batchSize));
  const limit = Math.max(1, Math.floor(options.limit ?? accounts * batchSize));
  const scan = Math.max(limit, Math.floor(options.scan ?? Math.max(10_000, 4 * accounts * batchSize)));
  const claimedAt = Date.now();
  // A window function cannot be used with FOR UPDATE in one SELECT: the batches are picked from
  // the statement's snapshot first, then locked with SKIP LOCKED, re-checking on the current row
  // that it is still due, unleased and bound to the same account (a row another process took
  // meanwhile is skipped; its account's batch is just smaller this pass).
  // RETURNING gives the whole rows as they are now (locked and leased): no second read of them
  const rows = await services.db.$queryRaw<(Record<string, unknown> & { claim_account_id: string; claim_lease: Date; account_rank: number; rn: number })[]>`
    WITH scan AS (
      SELECT d.id, acc.id AS account_id, d.next_attempt_at, d.created_at
      FROM delivery d
      JOIN LATERAL (
        SELECT a.id FROM amo_account a
        WHERE a.deleted_at IS NULL AND a.stale = false AND a.blocked_at IS NULL
          AND ((d.stage = 'QUEUED' AND a.quiz_account_id = d.quiz_account_id)
            OR (d.stage <> 'QUEUED' AND a.id = d.account_id))
        LIMIT 1
      ) acc ON true
      WHERE d.status = 'PENDING' AND d.next_attempt_at <= now()
        AND (d.locked_until IS NULL OR d.locked_until <= now())
      ORDER BY d.next_attempt_at, d.created_at, d.id
      LIMIT ${scan}
    ),
    ranked AS (
      SELECT s.*, row_number() OVER (PARTITION BY s.account_id ORDER BY s.next_attempt_at, s.created_at, s.id) AS rn
      FROM scan s
    ),
    accounts AS (
      SELECT r.account_id, row_number() OVER (ORDER BY r.next_attempt_at, r.created_at, r.id) AS account_rank
      FROM ranked r WHERE r.rn = 1
      ORDER BY r.next_attempt_at, r.created_at, r.id
      LIMIT ${accounts}
    ),
    picked AS (
      SELECT r.id, r.account_id, a.account_rank, r.rn
      FROM ranked r JOIN accounts a ON a.account_id = r.account_id
      WHERE r.rn <= ${batchSize}
      ORDER BY a.account_rank, r.rn
      LIMIT ${limit}
    ),
    claimed AS (
      SELECT d.id, p.account_id, p.account_rank, p.rn
      FROM delivery d JOIN picked p ON p.id = d.id
      WHERE d.status = 'PENDING' AND d.next_attempt_at <= now()
        AND (d.locked_until IS NULL OR d.locked_until <= now())
        AND (d.stage = 'QUEUED' OR d.account_id = p.account_id)
      FOR UPDATE OF d SKIP LOCKED
    )
    UPDATE delivery SET locked_until = now() + (${options.leaseMs}::int * interval '1 millisecond'), account_id = claimed.account_id
    FROM claimed WHERE delivery.id = claimed.id
    RETURNING ${deliveryColumns('delivery')}, delivery.account_id AS claim_account_id, delivery.locked_until AS claim_lease,
      claimed.account_rank::int AS account_rank, claimed.rn::int AS rn`;
  if (rows.length === 0) return [];
  rows.sort((a, b) => a.account_rank - b.account_rank || a.rn - b.rn);
  const byAccount = new Map<string, ClaimedBatch>();
  for (const { claim_account_id: accountId, claim_lease: lease, account_rank: _rank, rn: _rn, ...row } of rows) {
    let b = byAccount.get(accountId);
    if (!b) byAccount.set(accountId, (b = { accountId, lease, claimedAt, deliveries: [] }));
    b.deliveries.push(toDelivery(row));
  }
  return [...byAccount.values()];
}
