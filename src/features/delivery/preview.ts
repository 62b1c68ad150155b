/**
 * What a sample quiz result would become under the quiz's rule (the saved one, or a draft of it):
 * the leads/complex lead (its contact and company embedded), the customer, the note and the
 * warnings, built by the delivery's own builder (payload.ts) from the same context
 * (payload-context.ts), with nothing sent to amoCRM and nothing stored. Tags given by name are
 * shown as the rule names them (they are created in amoCRM only when a lead is really sent).
 *
 * A draft is read by that same context loader inside a transaction where the rule is as saving the
 * draft would make it, rolled back afterwards (rules' withDraftRule): the preview cannot differ
 * from what the saved draft would send, and the draft is checked exactly as a save checks it.
 */
import type { AmoAccount } from '../../generated/prisma/client.ts';
import type { Db } from '../../platform/db.ts';
import { withDraftRule, type RuleInputData } from '../rules/index.ts';
import { parseQuizResult } from './accept.ts';
import { buildLead, loadPayloadContext, type BuiltLead } from './payload.ts';
import type { QuizResult } from './input.ts';

export interface LeadPreview {
  lead: BuiltLead['lead'];
  customer: BuiltLead['customer'];
  note: string;
  warnings: string[];
}

async function previewFrom(db: Db, accountId: string, quizId: string, result: QuizResult, now: Date): Promise<LeadPreview | null> {
  const ctx = await loadPayloadContext(db, accountId, quizId);
  if (!ctx) return null;
  const built = buildLead(result, ctx, { now });
  return { lead: built.lead, customer: built.customer, note: built.note, warnings: built.warnings };
}

/**
 * null when the quiz has no rule and no draft is given; BAD_USER_INPUT (as submitQuizResult) when
 * the sample is not a valid result, and (as createQuizRule / updateQuizRule) when the draft is not
 * a valid rule.
 */
export async function previewLead(db: Db, account: AmoAccount, quizId: string, sample: unknown, draft?: RuleInputData | null, now = new Date()): Promise<LeadPreview | null> {
  const result = parseQuizResult({ ...(sample as object), quizId });
  if (!draft) return previewFrom(db, account.id, quizId, result, now);
  // the transaction's client reads like the database's (it lacks only $transaction and $connect)
  return withDraftRule(db, account, quizId, draft, (tx) => previewFrom(tx as unknown as Db, account.id, quizId, result, now));
}
