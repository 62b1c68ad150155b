/** Finding a contact again by phone (last 10 digits) or email, as amoCRM's duplicate control and search do. */
import type { Account, CustomField, CustomFieldValue, StoredContact } from './types.ts';

export function normPhone(s: string): string {
  const d = s.replace(/\D+/g, '');
  return d.length >= 10 ? d.slice(-10) : d;
}

export function contactKeys(fields: CustomField[], cfv: CustomFieldValue[] | null): { phones: Set<string>; emails: Set<string> } {
  const phones = new Set<string>();
  const emails = new Set<string>();
  for (const entry of cfv ?? []) {
    const f = fields.find((x) => (entry.field_id !== undefined ? x.id === entry.field_id : x.code === entry.field_code));
    if (!f) continue;
    for (const v of entry.values ?? []) {
      if (typeof v.value !== 'string' || !v.value) continue;
      if (f.code === 'PHONE') phones.add(normPhone(v.value));
      if (f.code === 'EMAIL') emails.add(v.value.trim().toLowerCase());
    }
  }
  return { phones, emails };
}

export function findDuplicate(acc: Account, cfv: CustomFieldValue[] | null): StoredContact | undefined {
  const fields = acc.fields.contacts;
  const mine = contactKeys(fields, cfv);
  if (!mine.phones.size && !mine.emails.size) return undefined;
  return acc.contacts.find((c) => {
    const theirs = contactKeys(fields, c.custom_fields_values);
    return [...mine.phones].some((p) => p && theirs.phones.has(p)) || [...mine.emails].some((e) => theirs.emails.has(e));
  });
}

export function mergeValues(existing: CustomFieldValue[] | null, incoming: CustomFieldValue[] | null): CustomFieldValue[] | null {
  if (!incoming?.length) return existing;
  const out = structuredClone(existing ?? []);
  for (const entry of incoming) {
    const same = out.find((e) => (entry.field_id !== undefined ? e.field_id === entry.field_id : e.field_code === entry.field_code));
    if (!same) out.push(structuredClone(entry));
    else for (const v of entry.values ?? []) if (!same.values.some((x) => x.value === v.value)) same.values.push(structuredClone(v));
  }
  return out;
}
