/** The leads of a batch's results about to be sent: the rule's state let them go, a responsible user chosen, the lead built. */
import type { AccountRun, Item } from './batch.ts';
import { assignUsers } from './assign.ts';
import { buildLead } from './payload.ts';
import { ownerError } from './reasons.ts';
import { applyRuleState } from './rule-state.ts';

export const NO_RULE_ERROR = 'Not delivered: the quiz has no rule in the gateway. Create the rule, then retry.';

/**
 * The items ready to send, each with its lead, note, warnings and customer; a paused rule's are
 * held, a deleted rule's and those without a rule refused, a lead that cannot be built failed.
 */
export async function buildLeads(run: AccountRun, items: Item[]): Promise<Item[]> {
  const go = await applyRuleState(run, items); // a paused rule's wait, a deleted rule's are refused
  // build the leads, each with its responsible user (chosen once: assign.ts)
  const ready: Item[] = [];
  const assigned = await assignUsers(run, go);
  for (const item of go) {
    const who = assigned.get(item.d.id);
    if (!who) continue; // the lease was lost
    const base = await run.sendContext(item.d.quizId);
    const ctx = base && who.amoId !== undefined ? { ...base, rule: { ...base.rule, performerAmoId: who.amoId } } : base;
    if (!ctx) {
      await run.fail(item, NO_RULE_ERROR, 'NO_RULE', 'QUEUED');
      continue;
    }
    try {
      const built = buildLead(item.result, ctx, { requestId: item.d.id, now: item.result.submittedAt ? undefined : item.d.createdAt });
      const warnings = who.warning ? [...built.warnings, who.warning] : built.warnings;
      ready.push({ ...item, lead: built.lead, note: built.note, warnings, customer: built.customer, customerAnswers: built.customerAnswers });
    } catch (err) {
      await run.fail(item, `Not delivered: the lead could not be built (${ownerError(err, run.log)}).`, 'AMO_REJECTED', 'QUEUED');
    }
  }
  return ready;
}
