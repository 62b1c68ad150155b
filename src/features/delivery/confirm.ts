/** Confirming deliveries that may already be in amoCRM (reconcile.ts finds them) before any resend. */
import type { AmoComplexLeadInput } from '../../platform/amo/index.ts';
import type { AccountRun, Item } from './batch.ts';
import { findSentLeads } from './reconcile.ts';

/** Deliveries that may be in amoCRM: found ones are adopted (LEAD_CREATED), the rest are sent again. */
export async function confirmSent(run: AccountRun, items: Item[]): Promise<{ found: Item[]; resend: Item[] }> {
  if (items.length === 0) return { found: [], resend: [] };
  let leads;
  try {
    await run.lease.renew();
    const mine = items.filter((i) => run.lease.held.has(i.d.id));
    const db = run.rt.services.db;
    leads = await findSentLeads(
      run.client,
      run.setup,
      mine.map((i) => ({
        deliveryId: i.d.id,
        resultId: i.result.resultId,
        since: i.d.firstSentAt ?? i.d.createdAt,
        sentLead: (i.d.sentLead as AmoComplexLeadInput | null) ?? null,
      })),
      // owned by any Delivery in this amoCRM account: another tenant connected to it too, or this one's earlier row
      async (ids) =>
        new Set(
          ids.length
            ? (
                await db.$queryRaw<{ amo_lead_id: number | bigint }[]>`
                  SELECT d.amo_lead_id FROM delivery d JOIN amo_account a ON a.id = d.account_id
                  WHERE d.amo_lead_id = ANY(${ids}::bigint[]) AND NOT (d.id = ANY(${mine.map((i) => i.d.id)}::uuid[]))
                    AND a.amo_id = (SELECT amo_id FROM amo_account WHERE id = ${run.accountId}::uuid)`
              ).map((d) => Number(d.amo_lead_id))
            : [],
        ),
      { signal: run.rt.signal },
    );
  } catch (err) {
    await run.pauseAll(items, err);
    return { found: [], resend: [] };
  }
  const found: Item[] = [];
  const resend: Item[] = [];
  for (const item of items) {
    if (!run.lease.held.has(item.d.id)) continue;
    const lead = leads.get(item.d.id);
    if (!lead) {
      resend.push(item);
      continue;
    }
    const contactId = lead._embedded?.contacts?.[0]?.id ?? null;
    const companyId = lead._embedded?.companies?.[0]?.id ?? null;
    run.log.info({ deliveryId: item.d.id, leadId: lead.id, mode: run.setup.mode }, 'reconciled: the lead already exists in amoCRM');
    const ok = await run.lease.update(
      item.d.id,
      { stage: 'LEAD_CREATED', amoLeadId: lead.id, amoContactId: contactId, amoCompanyId: companyId, reason: 'ADDING_NOTE', lastError: null },
      false,
    );
    if (ok) found.push({ ...item, leadId: lead.id, contactId, companyId });
  }
  return { found, resend };
}
