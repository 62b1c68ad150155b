/**
 * What a sample quiz result would become under the quiz's saved rule: the leads/complex lead (its
 * contact and company embedded), the customer, the note and the warnings, built by the delivery's
 * own builder (payload.ts) from the same context (payload-context.ts), with nothing sent to amoCRM
 * and nothing stored. Tags given by name are shown as the rule names them (they are created in
 * amoCRM only when a lead is really sent).
 */
import type { Db } from '../../platform/db.ts';
import { parseQuizResult } from './accept.ts';
import { buildLead, loadPayloadContext, type BuiltLead } from './payload.ts';

export interface LeadPreview {
  lead: BuiltLead['lead'];
  customer: BuiltLead['customer'];
  note: string;
  warnings: string[];
}

/** null when the quiz has no rule; BAD_USER_INPUT (as submitQuizResult) when the sample is not a valid result. */
export async function previewLead(db: Db, accountId: string, quizId: string, sample: unknown, now = new Date()): Promise<LeadPreview | null> {
  const result = parseQuizResult({ ...(sample as object), quizId });
  const ctx = await loadPayloadContext(db, accountId, quizId);
  if (!ctx) return null;
  const built = buildLead(result, ctx, { now });
  return { lead: built.lead, customer: built.customer, note: built.note, warnings: built.warnings };
}
