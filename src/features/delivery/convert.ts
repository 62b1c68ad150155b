/**
 * Quiz answers (strings) → amoCRM `custom_fields_values` entries, one field at a time.
 *
 * Pure functions, no I/O. The rules are the contract's ("Quiz answers → amoCRM values" in
 * contract/README.md) and the value shapes are amoCRM's (docs/notes/amocrm-api.md).
 * Nothing here throws on bad input: a value that does not convert comes back as a reason, and
 * the caller leaves it out of the entity and lists it in the lead's note.
 */
import type { AmoCustomFieldValue } from '../../platform/amo/index.ts';
import { readNumber } from './number-rule.ts';

/** One option (enum) of a select-like field, as the catalogue stores it (`CustomField.options`). */
export interface FieldOption {
  amoId: number;
  value: string;
  sort?: number | null;
}

/** What conversion needs to know about a custom field. */
export interface ConvertField {
  /** amoCRM field id */
  amoId: number;
  /** amoCRM type name as it came (text, select, smart_address, …) */
  rawType: string;
  code?: string | null;
  name?: string | null;
  options?: readonly FieldOption[] | null;
}

export type ConvertResult =
  | {
      ok: true;
      entry: AmoCustomFieldValue;
      /** values of a several-valued answer that were left out (multiselect options that do not exist) */
      dropped?: { value: string; reason: string }[];
    }
  | { ok: false; reason: string };

const TRUE_WORDS = new Set(['true', 'yes', 'да', '1', 'on']);
const FALSE_WORDS = new Set(['false', 'no', 'нет', '0', 'off']);

/** Field types this gateway can fill from a text answer. */
export const SUPPORTED_TYPES: ReadonlySet<string> = new Set([
  'text',
  'textarea',
  'streetaddress',
  'tracking_data',
  'numeric',
  'price',
  'monetary',
  'checkbox',
  'date',
  'date_time',
  'birthday',
  'select',
  'radiobutton',
  'category',
  'multiselect',
  'multitext',
  'url',
  'smart_address',
  'legal_entity',
]);

const quote = (s: string) => JSON.stringify(s.length > 200 ? `${s.slice(0, 200)}…` : s);

/** `true`, `yes`, `да`, `1`, `on` → true; `false`, `no`, `нет`, `0`, `off` → false (any case); else null. */
export function parseCheckbox(answer: string): boolean | null {
  const w = answer.trim().toLowerCase();
  if (TRUE_WORDS.has(w)) return true;
  if (FALSE_WORDS.has(w)) return false;
  return null;
}

/**
 * A number by the numeric rule (number-rule.ts: `"1 234,50"` → `"1234.50"`, `"15,000"` → `"15000"`,
 * `"-3.5"` → `"-3.5"`). Returns the canonical string amoCRM takes, or null.
 */
export function parseDecimal(answer: string): string | null {
  const n = readNumber(answer);
  if (!n) return null;
  const out = n.frac ? `${n.int}.${n.frac}` : n.int;
  return n.negative && /[1-9]/.test(out) ? `-${out}` : out;
}

function utcDay(y: number, mo: number, d: number): number | null {
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || y < 1 || y > 9999) return null;
  const t = Date.UTC(y, mo - 1, d);
  const back = new Date(t);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d) return null;
  return Math.floor(t / 1000);
}

/**
 * `YYYY-MM-DD`, `DD.MM.YYYY` (midnight UTC) or a full ISO-8601 date-time (with its offset; no
 * offset = UTC) → unix seconds; null when it is none of these or not a real calendar date.
 */
export function parseDate(answer: string): number | null {
  const s = answer.trim();
  let m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (m) return utcDay(Number(m[1]), Number(m[2]), Number(m[3]));
  m = /^(\d{1,2})\.(\d{1,2})\.(\d{4})$/.exec(s);
  if (m) return utcDay(Number(m[3]), Number(m[2]), Number(m[1]));
  m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?(Z|[+-]\d{2}(?::?\d{2})?)?$/i.exec(s);
  if (m) {
    if (utcDay(Number(m[1]), Number(m[2]), Number(m[3])) === null) return null;
    if (Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6] ?? 0) > 59) return null;
    const iso = `${s.replace(' ', 'T').replace(',', '.')}${m[7] ? '' : 'Z'}`;
    const t = Date.parse(iso);
    return Number.isNaN(t) ? null : Math.floor(t / 1000);
  }
  return null;
}

/** An absolute http(s) URL, trimmed; null otherwise. */
export function parseUrl(answer: string): string | null {
  const s = answer.trim();
  if (!/^https?:\/\//i.test(s)) return null;
  try {
    const u = new URL(s);
    if ((u.protocol !== 'http:' && u.protocol !== 'https:') || !u.hostname) return null;
    return s;
  } catch {
    return null;
  }
}

const norm = (s: string) => s.trim().toLowerCase();

/** The option whose value equals the answer (trimmed, case-insensitive). */
export function findOption(options: readonly FieldOption[] | null | undefined, answer: string): FieldOption | undefined {
  const a = norm(answer);
  return (options ?? []).find((o) => norm(String(o.value)) === a);
}

function describeOptions(options: readonly FieldOption[] | null | undefined): string {
  const list = (options ?? []).map((o) => o.value);
  if (list.length === 0) return 'the field has no options';
  const shown = list.slice(0, 10).map(quote).join(', ');
  return `options are ${shown}${list.length > 10 ? `, … (${list.length})` : ''}`;
}

/**
 * Converts one answer (its values, usually one) for one field. Empty values are ignored; an
 * answer with no non-empty value does not convert.
 */
export function convertAnswer(field: ConvertField, values: readonly string[]): ConvertResult {
  const type = String(field.rawType ?? '').toLowerCase();
  const vals = values.map((v) => String(v ?? '')).filter((v) => v.trim() !== '');
  const field_id = field.amoId;
  if (!SUPPORTED_TYPES.has(type)) return { ok: false, reason: `fields of type "${type || 'unknown'}" cannot be filled from a quiz answer` };
  if (vals.length === 0) return { ok: false, reason: 'the answer is empty' };

  type Value = AmoCustomFieldValue['values'][number];
  /** A field that takes one value: the answer's one value parsed, or why it does not convert. */
  const one = <T>(
    parse: (v: string) => T | null | undefined,
    notValid: (quoted: string) => string,
    valueOf: (parsed: T) => Value = (parsed) => ({ value: parsed }),
  ): ConvertResult => {
    const v = vals.length === 1 ? vals[0] : undefined;
    if (v === undefined) return { ok: false, reason: `${vals.length} values given, the field takes one` };
    const parsed = parse(v);
    if (parsed === null || parsed === undefined) return { ok: false, reason: notValid(quote(v)) };
    return { ok: true, entry: { field_id, values: [valueOf(parsed)] } };
  };

  switch (type) {
    case 'text':
    case 'textarea':
    case 'streetaddress':
    case 'tracking_data':
      return { ok: true, entry: { field_id, values: [{ value: vals.map((v) => v.trim()).join(', ') }] } };

    case 'numeric':
    case 'price':
    case 'monetary':
      return one(parseDecimal, (q) => `${q} is not a number`);

    case 'checkbox':
      return one(parseCheckbox, (q) => `${q} is not yes/no (true, yes, да, 1, on / false, no, нет, 0, off)`);

    case 'date':
    case 'date_time':
    case 'birthday':
      return one(parseDate, (q) => `${q} is not a date (YYYY-MM-DD, DD.MM.YYYY or ISO-8601)`);

    case 'select':
    case 'radiobutton':
    case 'category':
      return one(
        (v) => findOption(field.options, v),
        (q) => `${q} is not an option of the field (${describeOptions(field.options)})`,
        (o) => ({ enum_id: o.amoId }),
      );

    case 'multiselect': {
      const picked: number[] = [];
      const dropped: { value: string; reason: string }[] = [];
      for (const v of vals) {
        const o = findOption(field.options, v);
        if (!o) dropped.push({ value: v, reason: `${quote(v)} is not an option of the field (${describeOptions(field.options)})` });
        else if (!picked.includes(o.amoId)) picked.push(o.amoId);
      }
      if (picked.length === 0) return { ok: false, reason: dropped.map((d) => d.reason).join('; ') };
      return { ok: true, entry: { field_id, values: picked.map((enum_id) => ({ enum_id })) }, ...(dropped.length ? { dropped } : {}) };
    }

    case 'multitext':
      return { ok: true, entry: { field_id, values: vals.map((v) => ({ value: v.trim(), enum_code: 'WORK' })) } };

    case 'url':
      return one(parseUrl, (q) => `${q} is not an absolute http(s) URL`);

    case 'smart_address':
      // a free-text answer is the first address line
      return { ok: true, entry: { field_id, values: [{ value: vals.map((v) => v.trim()).join(', '), enum_code: 'address_line_1' }] } };

    case 'legal_entity':
      return { ok: true, entry: { field_id, values: [{ value: { name: vals.map((v) => v.trim()).join(', ') } }] } };
  }
  return { ok: false, reason: `fields of type "${type}" cannot be filled from a quiz answer` };
}
