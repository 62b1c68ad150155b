/**
 * What amoCRM's validation refusals of a leads/complex request do: nothing of the request was
 * stored, so the leads it names are repaired (repair.ts, duplicates.ts) or FAILED with amoCRM's
 * words, and the rest are sent again; a refusal naming no lead halves the batch until it does.
 */
import type { AmoValidationError, AmoValidationIssue } from '../../platform/amo/index.ts';
import type { AccountRun, Item } from './batch.ts';
import { attachedWarnings, repairRefused } from './duplicates.ts';
import { describeIssues } from './reasons.ts';
import { repairLead } from './repair.ts';

/** Rounds of repair per lead: amoCRM names every problem of a request at once, so two is plenty. */
const MAX_REPAIRS = 3;

export async function onRefused(run: AccountRun, chunk: Item[], err: AmoValidationError): Promise<Item[]> {
  // the result-id field itself was deleted in amoCRM: forget it, create it again next time
  const resultFieldId = run.setup.resultFieldId;
  if (resultFieldId !== null && err.errors.some((e) => e.path === 'custom_fields_values.0.field_id' && e.code === 'NotSupportedChoice')) {
    await run.rt.services.db.amoAccount.updateMany({ where: { id: run.accountId, resultFieldId }, data: { resultFieldId: null, reconcileMode: null } });
    run.log.warn({ accountId: run.accountId }, 'the result-id field is gone in amoCRM: it will be created again');
    await run.reschedule(chunk, err, 'retry', { stage: 'QUEUED', attemptsSpent: false, reason: 'QUEUED' });
    return [];
  }
  const ids = new Set(chunk.map((i) => i.d.id));
  const named = new Map<string, AmoValidationIssue[]>();
  for (const e of err.errors) {
    if (e.requestId !== null && ids.has(e.requestId)) named.set(e.requestId, [...(named.get(e.requestId) ?? []), e]);
  }
  if (named.size === 0 && chunk.length === 1) named.set(chunk[0]!.d.id, err.errors);
  if (named.size > 0) {
    const again: Item[] = [];
    for (const item of chunk) {
      const issues = named.get(item.d.id);
      if (!issues) {
        again.push(item);
        continue;
      }
      const stepAmoId = (await run.context(item.d.quizId))?.rule.stepAmoId;
      const repaired = (item.repairs ?? 0) >= MAX_REPAIRS ? null : repairRefused(item, issues, (lead, left) => repairLead(lead, left, { stepAmoId }));
      if (repaired) {
        run.log.warn({ deliveryId: item.d.id, changes: repaired.warnings }, 'amoCRM refused part of the lead: sending it without that part');
        const lines = repaired.warnings.map((w) => `- ${w}`).join('\n');
        const kept = attachedWarnings(item.warnings ?? [], repaired.lead);
        again.push({
          ...item,
          lead: repaired.lead,
          repairs: (item.repairs ?? 0) + 1,
          warnings: [...kept, ...repaired.warnings],
          note: item.note ? `${item.note}\n\nChanged to fit amoCRM:\n${lines}` : item.note,
        });
      } else {
        const why = issues.length ? describeIssues(issues) : (err.detail ?? err.message);
        await run.fail(item, `Not delivered: amoCRM refused the lead (${why}). Fix the quiz's rule or the account, then retry.`, 'AMO_REJECTED', 'QUEUED');
      }
    }
    // nothing of the request was stored: the others go again (their attempt is given back)
    await rollbackAttempt(run, again);
    return run.send(again);
  }
  await rollbackAttempt(run, chunk);
  const [first, rest] = await inHalves(chunk, (half) => run.send(half));
  return [...first, ...rest];
}

/**
 * `each` on the first half of `items`, then on the rest: amoCRM refuses a whole request for one
 * bad item without always saying which, so a refused request is split until that item is alone.
 */
export async function inHalves<T, R>(items: readonly T[], each: (half: T[]) => Promise<R>): Promise<[R, R]> {
  const cut = Math.ceil(items.length / 2);
  const first = await each(items.slice(0, cut));
  return [first, await each(items.slice(cut))];
}

async function rollbackAttempt(run: AccountRun, items: Item[]): Promise<void> {
  for (const i of items) await run.lease.update(i.d.id, { stage: 'QUEUED', attempts: i.d.attempts }, false);
}
