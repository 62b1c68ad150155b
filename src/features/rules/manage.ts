// What an owner does to a saved rule: pause it, resume it, delete it. What that means for the
// quiz's results is decided on delivery (src/features/delivery/rule-state.ts): a paused rule's
// results wait (RULE_PAUSED) and go out on resume; a deleted rule's are refused (RULE_DELETED)
// until a rule is created for the quiz again. UTM mappings are the quiz's, not the rule's: kept.
import { notFound } from '../../platform/errors.ts';
import type { Prisma } from '../../platform/db.ts';
import type { AmoAccount, Rule } from '../../generated/prisma/client.ts';
import type { Services } from '../../platform/services.ts';
import { PAUSED_RECHECK_MS, RULE_PAUSED_TEXT } from '../delivery/index.ts';

type Tx = Prisma.TransactionClient;
type Changed = { id: string; quiz_account_id: string; quiz_id: string };

async function lockRule(tx: Tx, account: AmoAccount, quizId: string): Promise<Rule> {
  const [row] = await tx.$queryRaw<{ id: string }[]>`SELECT id FROM rule WHERE account_id = ${account.id}::uuid AND quiz_id = ${quizId} FOR UPDATE`;
  if (!row) throw notFound(`Rule of quiz ${quizId}`);
  return tx.rule.findUniqueOrThrow({ where: { id: row.id } });
}

async function announce(services: Pick<Services, 'events'>, rows: Changed[]) {
  for (const r of rows) await services.events.deliveryUpdated({ id: r.id, quizAccountId: r.quiz_account_id, quizId: r.quiz_id, status: 'PENDING' });
}

/**
 * Pauses the quiz's rule (NOT_FOUND without one; pausing a paused rule changes nothing). Its
 * results not yet sent and not being worked on now say so at once; the others on their next turn.
 */
export async function pauseRule(services: Pick<Services, 'db' | 'events'>, account: AmoAccount, quizId: string): Promise<Rule> {
  const [rule, rows] = await services.db.$transaction(async (tx) => {
    const saved = await lockRule(tx, account, quizId);
    if (saved.pausedAt) return [saved, []] as const;
    const rule = await tx.rule.update({ where: { id: saved.id }, data: { pausedAt: new Date(), updatedAt: saved.updatedAt } });
    const rows = await tx.$queryRaw<Changed[]>`
      UPDATE delivery SET reason = 'RULE_PAUSED', last_error = ${RULE_PAUSED_TEXT}, updated_at = now(),
        next_attempt_at = now() + (${PAUSED_RECHECK_MS}::int * interval '1 millisecond')
      WHERE status = 'PENDING' AND stage = 'QUEUED' AND quiz_account_id = ${account.quizAccountId} AND quiz_id = ${quizId}
        AND (locked_until IS NULL OR locked_until <= now())
        AND (reason IS NULL OR reason IN ('QUEUED', 'RATE_LIMITED', 'AMO_UNAVAILABLE'))
      RETURNING id, quiz_account_id, quiz_id`;
    return [rule, rows] as const;
  });
  await announce(services, [...rows]);
  return rule;
}

/** The results a paused (or deleted) rule held: due now, QUEUED. */
function releaseHeld(tx: Tx, account: AmoAccount, quizId: string) {
  return tx.$queryRaw<Changed[]>`
    UPDATE delivery SET reason = 'QUEUED', last_error = NULL, next_attempt_at = now(), updated_at = now()
    WHERE status = 'PENDING' AND reason = 'RULE_PAUSED' AND quiz_account_id = ${account.quizAccountId} AND quiz_id = ${quizId}
    RETURNING id, quiz_account_id, quiz_id`;
}

/**
 * Resumes the quiz's rule: the results it held are due at once. The rule row is locked before
 * they are released, so a worker putting one back to wait (rule-state.ts reads the rule FOR SHARE)
 * either wrote before (and its row is released here) or sees the rule resumed (and writes nothing).
 */
export async function resumeRule(services: Pick<Services, 'db' | 'events'>, account: AmoAccount, quizId: string): Promise<Rule> {
  const [rule, rows] = await services.db.$transaction(async (tx) => {
    const saved = await lockRule(tx, account, quizId);
    if (!saved.pausedAt) return [saved, []] as const;
    const rule = await tx.rule.update({ where: { id: saved.id }, data: { pausedAt: null, updatedAt: saved.updatedAt } });
    return [rule, await releaseHeld(tx, account, quizId)] as const;
  });
  await announce(services, [...rows]);
  return rule;
}

/**
 * Deletes the quiz's rule (its mappings and tags with it) and remembers that the owner did, so
 * the quiz's results are refused with that reason; those it held paused are due now, to be refused.
 */
export async function deleteRule(services: Pick<Services, 'db' | 'events'>, account: AmoAccount, quizId: string): Promise<Rule> {
  const [rule, rows] = await services.db.$transaction(async (tx) => {
    const saved = await lockRule(tx, account, quizId);
    await tx.rule.delete({ where: { id: saved.id } });
    const key = { quizAccountId: account.quizAccountId, quizId };
    await tx.ruleDeletion.upsert({ where: { quizAccountId_quizId: key }, create: key, update: { deletedAt: new Date() } });
    return [saved, await releaseHeld(tx, account, quizId)] as const;
  });
  await announce(services, [...rows]);
  return rule;
}

/** A rule created for the quiz again: its results are no longer refused (inside createRule's transaction). */
export function forgetDeletion(tx: Tx, account: AmoAccount, quizId: string) {
  return tx.ruleDeletion.deleteMany({ where: { quizAccountId: account.quizAccountId, quizId } });
}
