/**
 * The custom field values of a result, per entity: the result id, the rule's mappings, phone
 * and email, and the UTMs, each converted for its field (convert.ts). What cannot go in is a
 * Problem; the entities are put together from these values in payload.ts.
 */
import type { AmoCustomFieldValue } from '../../platform/amo/index.ts';
import { convertAnswer } from './convert.ts';
import type { QuizResult } from './input.ts';
import { MAX_FIELD_VALUES, RESULT_FIELD_CODE, resultMarker, type CatalogField, type Entity, type PayloadContext, type Problem } from './payload-types.ts';

export const ENTITY_WORD: Record<Entity, string> = { LEAD: 'lead', CONTACT: 'contact', COMPANY: 'company', CUSTOMER: 'customer' };
const MULTI_VALUED = new Set(['multiselect', 'multitext']);

export const describeField = (f: CatalogField) => `${ENTITY_WORD[f.entity]} field "${f.name}" (#${f.amoId})`;
/** Collects one entity's custom_fields_values, merging or refusing a second value for a field. */
export class Values {
  readonly entries: AmoCustomFieldValue[] = [];
  private readonly sources = new Map<number, string>();
  private readonly fields = new Map<number, CatalogField>();
  constructor(private readonly onProblem: (p: Problem) => void) {}

  add(field: CatalogField, entry: AmoCustomFieldValue, source: string, shown: string): void {
    const id = field.amoId;
    const existing = this.entries.find((e) => e.field_id === id);
    if (!existing) {
      this.entries.push(entry);
      this.sources.set(id, source);
      this.fields.set(id, field);
      return;
    }
    if (MULTI_VALUED.has(field.rawType)) {
      for (const v of entry.values) {
        if (!existing.values.some((x) => JSON.stringify(x) === JSON.stringify(v))) existing.values.push(v);
      }
      return;
    }
    this.onProblem({ where: `${describeField(field)} ← ${source}`, value: shown, reason: `the field is already filled from ${this.sources.get(id)}` });
  }

  has(fieldId: number): boolean {
    return this.entries.some((e) => e.field_id === fieldId);
  }

  /** The entries within amoCRM's limit; the rest reported. */
  take(): AmoCustomFieldValue[] {
    const kept = this.entries.slice(0, MAX_FIELD_VALUES);
    for (const e of this.entries.slice(MAX_FIELD_VALUES)) {
      const f = this.fields.get(Number(e.field_id));
      this.onProblem({
        where: `${f ? describeField(f) : `field #${e.field_id}`} ← ${this.sources.get(Number(e.field_id))}`,
        value: e.values.map((v) => String(v.value ?? v.enum_id ?? '')).join(', '),
        reason: `amoCRM takes at most ${MAX_FIELD_VALUES} field values per entity`,
      });
    }
    return kept;
  }
}

/** `where: reason`, with the value when the reason does not quote it. */
export function problemLine(p: Problem): string {
  return p.reason.includes(JSON.stringify(p.value)) ? `${p.where}: ${p.reason}` : `${p.where}: "${p.value}" — ${p.reason}`;
}

/** Contact properties of a result: name, phone, email and every key of contact.extra. */
export function contactProperties(result: QuizResult): Map<string, { key: string; value: string }> {
  const props = new Map<string, { key: string; value: string }>();
  const put = (key: string, value: string | undefined) => {
    if (value === undefined || value.trim() === '') return;
    const k = key.trim().toLowerCase();
    if (!props.has(k)) props.set(k, { key, value });
  };
  put('name', result.contact?.name);
  put('phone', result.contact?.phone);
  put('email', result.contact?.email);
  for (const kv of result.contact?.extra ?? []) put(kv.key, kv.value);
  return props;
}
export type QuizAnswer = QuizResult['answers'][number];

export interface FieldValues {
  values: Record<Entity, Values>;
  /** the result's answers by question id */
  answers: Map<string, QuizAnswer>;
  /** contactProperties(result) */
  props: Map<string, { key: string; value: string }>;
}

/** Every custom field value of a result, in the order they take precedence; problems reported as they are found. */
export function collectFieldValues(result: QuizResult, ctx: PayloadContext, onProblem: (p: Problem) => void): FieldValues {
  const { rule } = ctx;
  const values: Record<Entity, Values> = {
    LEAD: new Values(onProblem),
    CONTACT: new Values(onProblem),
    COMPANY: new Values(onProblem),
    CUSTOMER: new Values(onProblem),
  };

  // 1. the result id (first, so that the 40-value limit never drops it)
  if (ctx.resultFieldId !== null) {
    const marker = ctx.quizAccountId !== undefined ? resultMarker(ctx.quizAccountId, result.resultId) : result.resultId;
    values.LEAD.add(
      { amoId: ctx.resultFieldId, rawType: 'text', entity: 'LEAD', name: 'Quiz result ID', code: RESULT_FIELD_CODE },
      { field_id: ctx.resultFieldId, values: [{ value: marker }] },
      'the result id',
      marker,
    );
  }

  const answers = new Map(result.answers.map((a) => [a.questionId, a]));
  const props = contactProperties(result);

  const fill = (field: CatalogField, target: Entity, source: string, raw: string[]) => {
    const shown = raw.join(', ');
    const where = `${describeField(field)} ← ${source}`;
    if (field.deleted) {
      onProblem({ where, value: shown, reason: 'the field was deleted in amoCRM' });
      return;
    }
    const r = convertAnswer(field, raw);
    if (!r.ok) {
      if (raw.some((v) => v.trim() !== '')) onProblem({ where, value: shown, reason: r.reason });
      return;
    }
    for (const d of r.dropped ?? []) onProblem({ where, value: d.value, reason: d.reason });
    values[target].add(field, r.entry, source, shown);
  };

  // 2. the rule's mappings, in order
  for (const m of rule.mappings) {
    if (m.source === 'QUESTION') {
      const a = answers.get(m.key);
      // a file answer's URLs come after its values (a url field then takes the one file's URL)
      const raw = a ? [...a.values, ...(a.files ?? []).map((f) => f.url)] : [];
      if (!a || raw.length === 0) continue;
      fill(m.field, m.target, `question ${a.title ? `"${a.title}" (${a.questionId})` : a.questionId}`, raw);
    } else {
      const p = props.get(m.key.trim().toLowerCase());
      if (!p) continue;
      fill(m.field, m.target, `contact property "${p.key}"`, [p.value]);
    }
  }

  // 3. phone and email into the contact's PHONE / EMAIL fields unless a contact mapping takes them
  for (const [prop, code] of [
    ['phone', 'PHONE'],
    ['email', 'EMAIL'],
  ] as const) {
    const p = props.get(prop);
    if (!p) continue;
    if (rule.mappings.some((m) => m.target === 'CONTACT' && m.source === 'PROPERTY' && m.key.trim().toLowerCase() === prop)) continue;
    const field = ctx.fields.find((f) => f.entity === 'CONTACT' && f.code === code && !f.deleted);
    if (!field) {
      onProblem({ where: `contact ${prop}`, value: p.value, reason: `the account has no contact field with code ${code}` });
      continue;
    }
    values.CONTACT.add(field, { field_id: field.amoId, values: [{ value: p.value.trim(), enum_code: 'WORK' }] }, `contact property "${prop}"`, p.value);
  }

  // 4. UTMs: the quiz's mapping, else the lead tracking field whose code is the name upper-cased
  for (const u of result.utm ?? []) {
    if (u.value.trim() === '') continue;
    const mapped = ctx.utms.find((x) => x.name.trim().toLowerCase() === u.key.trim().toLowerCase());
    if (mapped && !mapped.field.deleted) {
      fill(mapped.field, 'LEAD', `UTM ${u.key}`, [u.value]);
      continue;
    }
    const code = u.key.trim().toUpperCase();
    const tracking = ctx.fields.find((f) => f.entity === 'LEAD' && f.code === code && !f.deleted);
    if (tracking) fill(tracking, 'LEAD', `UTM ${u.key}`, [u.value]);
    else if (mapped) onProblem({ where: `${describeField(mapped.field)} ← UTM ${u.key}`, value: u.value, reason: 'the field was deleted in amoCRM' });
  }

  return { values, answers, props };
}
