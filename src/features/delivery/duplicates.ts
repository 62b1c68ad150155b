/**
 * `Rule.mergeDuplicates`: leads/complex has no switch to merge a contact with an existing one
 * (amoCRM's duplicate control works only for Unsorted leads, and only when the account has it
 * on), so before a batch is sent the gateway looks the contact up itself: `GET contacts?query=`
 * by phone, then by email, keeping only contacts whose PHONE (same last 10 digits) or EMAIL (any
 * case) value really matches — amoCRM's query also matches substrings — and attaches the lead to
 * the oldest one (`_embedded.contacts: [{id}]`). The company likewise by exact name. The result's
 * contact values are not lost: they are in the note. Off: always a new contact, as built.
 *
 * The search is best effort: a failure (429, 5xx, timeout) sends the lead with a new contact and a
 * warning, and the rest of the batch is not searched either, so the lead waits for no retry. An
 * attached id amoCRM refuses (deleted since) is swapped back for the new contact (`unmergeRefused`).
 */
import type { AmoComplexLeadInput, AmoCustomFieldValue, AmoValidationIssue } from '../../platform/amo/index.ts';
import type { AccountRun, Item } from './batch.ts';
import { classify, describeError } from './reasons.ts';

interface Found {
  id: number;
  name?: string;
  custom_fields_values?: AmoCustomFieldValue[] | null;
}

const digits = (s: string) => s.replace(/\D+/g, '');
const phoneKey = (s: string) => digits(s).slice(-10);
const emailKey = (s: string) => s.trim().toLowerCase();
const nameKey = (s: string) => s.trim().toLowerCase();

/** The values of an entity's fields with `code` (by code, or by the catalogue's ids of that code). */
function valuesOf(e: Found, code: string, ids: Set<number>): string[] {
  return (e.custom_fields_values ?? [])
    .filter((f) => f.field_code === code || (f.field_id !== undefined && ids.has(Number(f.field_id))))
    .flatMap((f) => f.values.map((v) => (typeof v.value === 'string' || typeof v.value === 'number' ? String(v.value) : '')));
}

/**
 * Attaches each lead of `items` whose rule merges duplicates to its existing contact / company.
 * The lead as built is kept in `item.unmerged`; a warning names what it was attached to.
 */
export async function attachDuplicates(run: AccountRun, items: Item[]): Promise<void> {
  let broken: string | null = null;
  for (const item of items) {
    const ctx = await run.context(item.d.quizId);
    const lead = item.lead;
    if (!ctx?.rule.mergeDuplicates || !lead?._embedded) continue;
    const contact = lead._embedded.contacts?.[0];
    const company = lead._embedded.companies?.[0];
    const phone = item.result.contact?.phone?.trim();
    const email = item.result.contact?.email?.trim();
    const wantsContact = contact && contact.id === undefined && ((phone && digits(phone).length >= 10) || email);
    const wantsCompany = company && company.id === undefined && typeof company.name === 'string' && company.name.trim() !== '';
    if (!wantsContact && !wantsCompany) continue;
    const warnings = [...(item.warnings ?? [])];
    if (broken) {
      item.warnings = [...warnings, broken];
      continue;
    }
    // up to three searches a lead at 7 requests/s: keep the batch's lease from running out meanwhile
    if (run.lease.remainingMs() < run.rt.options.leaseMs / 2) await run.lease.renew();
    if (!run.lease.held.has(item.d.id)) continue;
    const attached = structuredClone(lead);
    const embedded = attached._embedded as NonNullable<AmoComplexLeadInput['_embedded']>;
    try {
      if (wantsContact) {
        const ids = (code: string) => new Set(ctx.fields.filter((f) => f.entity === 'CONTACT' && f.code === code).map((f) => f.amoId));
        let hit: { id: number; why: string } | null = null;
        if (phone && digits(phone).length >= 10) {
          const key = phoneKey(phone);
          const c = (await search(run, 'contacts', phone)).find((x) => valuesOf(x, 'PHONE', ids('PHONE')).some((v) => phoneKey(v) === key));
          if (c) hit = { id: c.id, why: 'same phone' };
        }
        if (!hit && email) {
          const key = emailKey(email);
          const c = (await search(run, 'contacts', email)).find((x) => valuesOf(x, 'EMAIL', ids('EMAIL')).some((v) => emailKey(v) === key));
          if (c) hit = { id: c.id, why: 'same email' };
        }
        if (hit) {
          embedded.contacts = [{ id: hit.id }];
          warnings.push(`attached to the existing contact #${hit.id} (${hit.why}); the result's contact details are in the note`);
        }
      }
      if (wantsCompany) {
        const key = nameKey(company.name as string);
        const c = (await search(run, 'companies', company.name as string)).find((x) => typeof x.name === 'string' && nameKey(x.name) === key);
        if (c) {
          embedded.companies = [{ id: c.id }];
          warnings.push(`attached to the existing company #${c.id} (same name)`);
        }
      }
    } catch (err) {
      // a stale or blocked account stops the send as well: it says why there
      if (classify(err, run.rt.signal) === 'paused') return;
      broken = `duplicates not looked for (${describeError(err)}): the lead got a new contact`;
      run.log.warn({ accountId: run.accountId, err: describeError(err) }, 'duplicate search failed: new contacts for the rest of the batch');
      item.warnings = [...(item.warnings ?? []), broken];
      continue;
    }
    if (JSON.stringify(attached) !== JSON.stringify(lead)) {
      item.unmerged = lead;
      item.lead = attached;
      item.warnings = warnings;
    }
  }
}

/**
 * One page of amoCRM's search, oldest first. Not retried on 5xx or timeouts (`idempotent: false`
 * for the client): a failed search falls back to a new contact at once.
 */
async function search(run: AccountRun, entity: 'contacts' | 'companies', query: string): Promise<Found[]> {
  const options = { limit: 50, idempotent: false, signal: run.rt.signal };
  const found: Found[] = entity === 'contacts' ? await run.client.searchContacts(query, options) : await run.client.searchCompanies(query, options);
  return [...found].sort((a, b) => a.id - b.id);
}

/**
 * amoCRM refused an attached contact or company id (e.g. deleted since the search): the lead with
 * the new one as built instead, the issues left to repair, and what changed. Null when no issue
 * names an attached id.
 */
export function unmergeRefused(item: Item, issues: AmoValidationIssue[]): { lead: AmoComplexLeadInput; issues: AmoValidationIssue[]; warnings: string[] } | null {
  const lead = item.lead;
  const fresh = item.unmerged?._embedded;
  if (!lead?._embedded || !fresh) return null;
  const lead2 = structuredClone(lead);
  const embedded = lead2._embedded as NonNullable<AmoComplexLeadInput['_embedded']>;
  const rest: AmoValidationIssue[] = [];
  const warnings: string[] = [];
  for (const issue of issues) {
    const m = /^_embedded\.(contacts|companies)\.0\.id$/.exec(issue.path.replace(/\[(\d+)\]/g, '.$1'));
    const kind = m?.[1] as 'contacts' | 'companies' | undefined;
    const attachedId = kind ? embedded[kind]?.[0]?.id : undefined;
    if (!kind || attachedId === undefined || !fresh[kind]?.[0]) {
      rest.push(issue);
      continue;
    }
    const word = kind === 'contacts' ? 'contact' : 'company';
    embedded[kind] = [structuredClone(fresh[kind][0])] as never;
    warnings.push(`the existing ${word} #${String(attachedId)} was refused by amoCRM (${issue.detail || issue.code}): the lead got a new ${word}`);
  }
  if (warnings.length === 0) return null;
  return { lead: lead2, issues: rest, warnings };
}

/** Warnings without the "attached to the existing …" lines the lead no longer bears out. */
export function attachedWarnings(warnings: string[], lead: AmoComplexLeadInput): string[] {
  const idsOf = (list: Record<string, unknown>[] | undefined) =>
    new Set(
      (list ?? [])
        .map((e) => e.id)
        .filter((x) => x !== undefined)
        .map(String),
    );
  const ids = { contact: idsOf(lead._embedded?.contacts), company: idsOf(lead._embedded?.companies) };
  return warnings.filter((w) => {
    const m = /^attached to the existing (contact|company) #(\d+)/.exec(w);
    return !m || ids[m[1] as 'contact' | 'company'].has(m[2] as string);
  });
}

/**
 * `repair` (repair.ts) of a refused lead, after swapping back any attached id amoCRM refused;
 * null when something is left that cannot be repaired.
 */
export function repairRefused(
  item: Item,
  issues: AmoValidationIssue[],
  repair: (lead: AmoComplexLeadInput, issues: AmoValidationIssue[]) => { lead: AmoComplexLeadInput; warnings: string[] } | null,
): { lead: AmoComplexLeadInput; warnings: string[] } | null {
  if (!item.lead) return null;
  const swapped = unmergeRefused(item, issues);
  if (!swapped) return repair(item.lead, issues);
  const rest = swapped.issues.length ? repair(swapped.lead, swapped.issues) : { lead: swapped.lead, warnings: [] };
  return rest ? { lead: rest.lead, warnings: [...swapped.warnings, ...rest.warnings] } : null;
}
