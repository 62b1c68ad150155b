// amo.events' outbox over PostgreSQL (migration 20261204021000_event_outbox): `enqueueEvents`
// writes the rows in the caller's transaction (the trigger event_account_stale writes token.stale's);
// the relay (event-relay.ts) claims them under a lease (SKIP LOCKED: one pass per row at a time,
// whichever replica runs it) and deletes them once published.
import type { Db, Prisma } from './db.ts';
import type { AmoEvent } from './events.ts';
import type { EventOutboxStore, OutboxEvent } from './event-relay.ts';

/** The database, or a transaction of it. */
export type OutboxWriter = Pick<Prisma.TransactionClient, '$executeRaw'>;

/** Writes the events as pending rows (their ids the rows' own); in a transaction, they exist only if it commits. */
export async function enqueueEvents(db: OutboxWriter, events: readonly AmoEvent[]): Promise<void> {
  for (const event of events) {
    await db.$executeRaw`INSERT INTO event_outbox (quiz_account_id, payload) VALUES (${event.quizAccountId}, ${JSON.stringify(event)}::jsonb)`;
  }
}

/** Writes token.stale of a gateway account (its tenant looked up); nothing when the account is gone. */
export async function enqueueTokenStale(db: OutboxWriter, accountId: string): Promise<void> {
  await db.$executeRaw`
    INSERT INTO event_outbox (quiz_account_id, payload)
    SELECT quiz_account_id, jsonb_build_object('type', 'token.stale', 'quizAccountId', quiz_account_id, 'accountId', id)
    FROM amo_account WHERE id = ${accountId}::uuid`;
}

export function createEventOutboxStore(db: Pick<Db, '$queryRaw' | '$executeRaw'>): EventOutboxStore {
  return {
    async claim(limit, leaseMs) {
      const rows = await db.$queryRaw<{ id: string; quiz_account_id: string; payload: Record<string, unknown>; attempts: number; created_at: Date }[]>`
        WITH due AS (
          SELECT id FROM event_outbox
          WHERE next_attempt_at <= now() AND (locked_until IS NULL OR locked_until < now())
          ORDER BY created_at LIMIT ${limit}
          FOR UPDATE SKIP LOCKED)
        UPDATE event_outbox o SET locked_until = now() + make_interval(secs => ${leaseMs / 1000}::float8), attempts = o.attempts + 1
        FROM due WHERE o.id = due.id
        RETURNING o.id::text AS id, o.quiz_account_id, o.payload, o.attempts, o.created_at`;
      return rows.map((r): OutboxEvent => ({ id: r.id, quizAccountId: r.quiz_account_id, payload: r.payload, attempts: r.attempts, createdAt: r.created_at }));
    },
    async published(ids) {
      if (ids.length === 0) return;
      await db.$executeRaw`DELETE FROM event_outbox WHERE id = ANY(${[...ids]}::uuid[])`;
    },
    async retryLater(rows, error) {
      if (rows.length === 0) return;
      await db.$executeRaw`
        UPDATE event_outbox o SET locked_until = NULL, last_error = ${error.slice(0, 500)},
          next_attempt_at = now() + make_interval(secs => r.delay_ms / 1000.0)
        FROM unnest(${rows.map((r) => r.id)}::uuid[], ${rows.map((r) => r.delayMs)}::float8[]) AS r(id, delay_ms)
        WHERE o.id = r.id`;
    },
  };
}
