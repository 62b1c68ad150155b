/**
 * What the owner did to a quiz's rule decides whether its results go out (src/features/rules/manage.ts):
 * - paused: a result not yet sent waits, PENDING with reason RULE_PAUSED, and is sent on resume
 *   (resume makes it due at once; until then it is looked at again every PAUSED_RECHECK_MS). It
 *   waits like any other wait, so past DELIVERY_MAX_WAIT_HOURS it ends EXPIRED.
 * - deleted: a result not yet sent is refused, FAILED with reason RULE_DELETED (a quiz that never
 *   had a rule stays NO_RULE). A lead already in amoCRM (past QUEUED) is finished either way.
 */
import type { AccountRun, Item } from './batch.ts';

/** How long a paused rule's result waits before the worker looks again (resume does not wait for it). */
export const PAUSED_RECHECK_MS = 60 * 60_000;

export const RULE_PAUSED_TEXT = "Waiting: the quiz's rule is paused. The result is sent when you resume the rule.";
export const ruleDeletedText = (at: Date) => `Not delivered: the quiz's rule was deleted (${at.toISOString().replace(/\.\d+Z$/, 'Z')}). Create a rule for the quiz, then retry.`;

type RuleState = { kind: 'active' } | { kind: 'paused'; ruleId: string } | { kind: 'deleted'; at: Date } | { kind: 'none' };

/** From the run's one read of the rule (rule-row.ts); only a quiz without a rule looks for its deletion. */
async function stateOf(run: AccountRun, quizAccountId: string, quizId: string): Promise<RuleState> {
  const rule = await run.rule(quizId);
  if (rule) return rule.pausedAt ? { kind: 'paused', ruleId: rule.id } : { kind: 'active' };
  const deleted = await run.rt.services.db.ruleDeletion.findUnique({ where: { quizAccountId_quizId: { quizAccountId, quizId } } });
  return deleted ? { kind: 'deleted', at: deleted.deletedAt } : { kind: 'none' };
}

/**
 * The items (about to be built and sent) whose rule lets them go; the others are held (paused) or
 * refused (deleted) here. A quiz with no rule at all goes on, to the NO_RULE refusal.
 */
export async function applyRuleState(run: AccountRun, items: Item[]): Promise<Item[]> {
  const states = new Map<string, Promise<RuleState>>();
  const go: Item[] = [];
  for (const item of items) {
    const key = `${item.d.quizAccountId}\u0000${item.d.quizId}`;
    let state = states.get(key);
    if (!state) states.set(key, (state = stateOf(run, item.d.quizAccountId, item.d.quizId)));
    const s = await state;
    if (s.kind === 'deleted') await run.fail(item, ruleDeletedText(s.at), 'RULE_DELETED', 'QUEUED');
    else if (s.kind === 'paused') await hold(run, item, s.ruleId);
    else go.push(item);
  }
  return go;
}

/**
 * Puts a result of a paused rule back to wait, fenced by the lease and written only while the rule
 * is still paused: the rule row is read FOR SHARE, so a resume committing meanwhile either comes
 * first (nothing is written; the row is given back and goes at once) or finds the row held.
 */
async function hold(run: AccountRun, item: Item, ruleId: string): Promise<void> {
  if (!run.lease.held.has(item.d.id)) return;
  const db = run.rt.services.db;
  const written = await db.$executeRaw`
    UPDATE delivery SET reason = 'RULE_PAUSED', last_error = ${RULE_PAUSED_TEXT}, stage = 'QUEUED', locked_until = NULL, updated_at = now(),
      next_attempt_at = now() + (${PAUSED_RECHECK_MS}::int * interval '1 millisecond')
    WHERE id = ${item.d.id}::uuid AND locked_until = ${run.lease.until.toISOString()}::timestamptz AND status = 'PENDING'
      AND EXISTS (SELECT 1 FROM rule WHERE id = ${ruleId}::uuid AND paused_at IS NOT NULL FOR SHARE)`;
  if (written) {
    run.lease.held.delete(item.d.id);
    if (item.d.reason !== 'RULE_PAUSED') await run.publish(item.d, 'PENDING');
  } else {
    // resumed meanwhile (or the lease was lost): given back, it is claimed again with the rule as it is now
    await run.lease.update(item.d.id, {}, true);
  }
}
