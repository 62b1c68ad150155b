/**
 * One `leads/complex` call for a chunk of built leads, exactly once: SENDING (+1 attempt, the lead
 * as sent) is committed before the call, LEAD_CREATED with amoCRM's ids right after its answer,
 * each one fenced statement for the chunk. What amoCRM refuses goes to refusals.ts; what may have
 * reached it stays SENDING and is reconciled on the next pass (confirm.ts).
 */
import { AmoError, type AmoComplexLeadInput, type AmoComplexLeadResult, type AmoValidationError } from '../../platform/amo/index.ts';
import type { AccountRun, Item } from './batch.ts';
import { classify, errMessage } from './reasons.ts';
import { onRefused } from './refusals.ts';

/** One leads/complex call for `chunk`; returns the items whose lead now exists. (refusals.ts sends again through it.) */
export async function sendLeads(run: AccountRun, chunk: Item[]): Promise<Item[]> {
  if (chunk.length === 0) return [];
  await run.lease.renew();
  const mine = chunk.filter((i) => run.lease.held.has(i.d.id));
  if (mine.length === 0) return [];
  // commit SENDING (+1 attempt) with what is sent, for the whole chunk at once: one statement
  const db = run.rt.services.db;
  const lease = run.lease.until.toISOString();
  const toMark = mine.map((i) => ({ id: i.d.id, warnings: i.warnings ?? [], lead: i.lead }));
  const marked = await db.$queryRaw<{ id: string }[]>`
    UPDATE delivery d SET stage = 'SENDING', attempts = d.attempts + 1, warnings = r.warnings,
      first_sent_at = coalesce(d.first_sent_at, now()), sent_lead = r.lead, updated_at = now()
    FROM jsonb_to_recordset(${JSON.stringify(toMark)}::jsonb) AS r(id uuid, warnings text[], lead jsonb)
    WHERE d.id = r.id AND d.locked_until = ${lease}::timestamptz AND d.status = 'PENDING' AND d.stage IN ('QUEUED', 'SENDING')
    RETURNING d.id`;
  const markedIds = new Set(marked.map((r) => r.id));
  const sending = run.lease.keepWritten(
    mine,
    mine.map((i) => (markedIds.has(i.d.id) ? 1 : 0)),
    (i) => i.d.id,
  );
  if (sending.length === 0) return [];
  if (run.rt.options.hooks.beforeSend) await run.rt.options.hooks.beforeSend(sending.map((i) => i.d.id));

  const timeout = Math.max(1, Math.min(run.rt.options.sendTimeoutMs, run.lease.remainingMs() - run.rt.options.leaseMs * 0.2));
  const signal = AbortSignal.any([AbortSignal.timeout(timeout), ...(run.rt.signal ? [run.rt.signal] : [])]);
  let answer: AmoComplexLeadResult[];
  try {
    answer = await run.client.createLeadsComplex(
      sending.map((i) => i.lead as AmoComplexLeadInput),
      { signal },
    );
  } catch (err) {
    const outcome = classify(err, signal);
    if (outcome === 'validation') return onRefused(run, sending, err as AmoValidationError);
    run.log.warn({ accountId: run.accountId, n: sending.length, err: errMessage(err), outcome }, 'leads/complex failed');
    // not processed → back to QUEUED; maybe processed → stays SENDING (reconciled next time)
    if (outcome === 'paused') await run.reschedule(sending, err, 'paused', { stage: 'QUEUED', attemptsSpent: false });
    else if (outcome === 'maybe') await run.reschedule(sending, err, 'maybe', { stage: 'SENDING', attemptsSpent: true });
    else await run.reschedule(sending, err, 'retry', { stage: 'QUEUED', attemptsSpent: true });
    return [];
  }
  if (run.rt.options.hooks.afterSend) await run.rt.options.hooks.afterSend(sending.map((i) => i.d.id));

  const list = Array.isArray(answer) ? answer : [];
  const byRequest = new Map<string, AmoComplexLeadResult>();
  for (const r of list) {
    const rid = Array.isArray(r.request_id) ? r.request_id[0] : r.request_id;
    if (rid !== undefined && rid !== null) byRequest.set(String(rid), r);
  }
  const created: Item[] = [];
  const missing: Item[] = [];
  sending.forEach((item, k) => {
    const r = byRequest.get(item.d.id) ?? (list.length === sending.length ? list[k] : undefined);
    if (!r || !Number.isFinite(Number(r.id))) missing.push(item);
    else created.push({ ...item, leadId: Number(r.id), contactId: r.contact_id ?? null, companyId: r.company_id ?? null });
  });
  // commit LEAD_CREATED + ids, one statement for the chunk
  const toCreate = created.map((i) => ({ id: i.d.id, lead_id: i.leadId, contact_id: i.contactId, company_id: i.companyId, warnings: i.warnings ?? [] }));
  const stored =
    created.length === 0
      ? []
      : await db.$queryRaw<{ id: string }[]>`
    UPDATE delivery d SET stage = 'LEAD_CREATED', amo_lead_id = r.lead_id, amo_contact_id = r.contact_id, amo_company_id = r.company_id,
      reason = 'ADDING_NOTE', last_error = NULL, warnings = r.warnings, updated_at = now()
    FROM jsonb_to_recordset(${JSON.stringify(toCreate)}::jsonb) AS r(id uuid, lead_id bigint, contact_id bigint, company_id bigint, warnings text[])
    WHERE d.id = r.id AND d.locked_until = ${lease}::timestamptz AND d.status = 'PENDING'
    RETURNING d.id`;
  const storedIds = new Set(stored.map((r) => r.id));
  if (missing.length) {
    // amoCRM answered without these: they may exist; reconcile later
    await run.reschedule(missing, new AmoError("amoCRM's answer did not list this lead"), 'maybe', { stage: 'SENDING', attemptsSpent: true });
  }
  return created.filter((i) => {
    if (storedIds.has(i.d.id)) return true;
    run.lease.held.delete(i.d.id);
    return false;
  });
}
