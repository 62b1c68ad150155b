// The outbox over PostgreSQL. Rows are written by the triggers of migration 20261203141700_alerts,
// in the transaction of the event itself; here they are claimed (a lease, SKIP LOCKED: one
// replica per row at a time) and their outcome recorded.
import { decryptSecret, encryptSecret, tokenKeysOf } from '../../platform/amo/index.ts';
import type { Config } from '../../platform/config.ts';
import type { Db } from '../../platform/db.ts';
import type { AlertStore, AttemptInfo, ClaimedAlert } from './sender.ts';

export const secretAad = (quizAccountId: string) => `alert_webhook:${quizAccountId}`;

export const encryptAlertSecret = (config: Config, quizAccountId: string, secret: string) => encryptSecret(secret, tokenKeysOf(config), secretAad(quizAccountId));

export function createAlertStore(db: Db, config: Config): AlertStore {
  const record = async (id: string, sql: 'delivered' | 'retry' | 'failed', info: AttemptInfo, delayMs = 0) => {
    await db.$executeRaw`
      UPDATE alert_outbox SET
        status = (CASE ${sql} WHEN 'delivered' THEN 'DELIVERED' WHEN 'failed' THEN 'FAILED' ELSE 'PENDING' END)::"AlertStatus",
        delivered_at = CASE WHEN ${sql} = 'delivered' THEN now() ELSE NULL END,
        next_attempt_at = now() + make_interval(secs => ${delayMs / 1000}::float8),
        locked_until = NULL, last_status_code = ${info.statusCode}::int, last_error = ${info.error}
      WHERE id = ${id}::uuid AND status = 'PENDING'`;
  };
  return {
    async claim(limit, leaseMs) {
      const rows = await db.$queryRaw<{ id: string; quiz_account_id: string; kind: string; payload: Record<string, unknown>; attempts: number; created_at: Date }[]>`
        WITH due AS (
          SELECT id FROM alert_outbox
          WHERE status = 'PENDING' AND next_attempt_at <= now() AND (locked_until IS NULL OR locked_until < now())
          ORDER BY next_attempt_at, created_at LIMIT ${limit}
          FOR UPDATE SKIP LOCKED)
        UPDATE alert_outbox o SET locked_until = now() + make_interval(secs => ${leaseMs / 1000}::float8), attempts = o.attempts + 1, last_attempt_at = now()
        FROM due WHERE o.id = due.id
        RETURNING o.id::text AS id, o.quiz_account_id, o.kind, o.payload, o.attempts, o.created_at`;
      if (rows.length === 0) return [];
      // each row goes to its own tenant's webhook, read now (the owner may have changed it)
      const hooks = await db.alertWebhook.findMany({ where: { quizAccountId: { in: [...new Set(rows.map((r) => r.quiz_account_id))] } } });
      const byTenant = new Map(hooks.map((h) => [h.quizAccountId, h]));
      return rows.map((r): ClaimedAlert => {
        const hook = byTenant.get(r.quiz_account_id);
        const webhook = hook ? { url: hook.url, secret: decryptSecret(hook.secretEnc, tokenKeysOf(config), secretAad(r.quiz_account_id)) } : undefined;
        return { id: r.id, quizAccountId: r.quiz_account_id, kind: r.kind, payload: r.payload, attempts: r.attempts, createdAt: r.created_at, webhook };
      });
    },
    delivered: (id, info) => record(id, 'delivered', info),
    retryLater: (id, delayMs, info) => record(id, 'retry', info, delayMs),
    giveUp: (id, info) => record(id, 'failed', info),
  };
}
