/**
 * The amoCRM lead (for `POST /api/v4/leads/complex`) and the note text of one quiz result, built
 * from the quiz's rule, its UTM mappings and the account's field catalogue.
 *
 * `buildLead` is pure; `loadPayloadContext` reads what it needs from the database.
 *
 * Choices worth knowing:
 * - The result id always goes first into the account's result-id lead field
 *   (`AmoAccount.resultFieldId`): reconciliation finds the lead by it (see worker.ts).
 * - A mapping names a source (a question id, or a contact property: `name`, `phone`, `email` or a
 *   key of `contact.extra`) and a field of the LEAD, CONTACT, COMPANY or CUSTOMER. Without a
 *   CONTACT mapping of `phone` / `email`, they go to the contact's PHONE / EMAIL fields (enum
 *   WORK); `name` is always the contact's name.
 * - The company is sent when a COMPANY mapping produced a value or the result has a `company`
 *   property; its name is the `company` property, else the lead's name.
 * - Customers: leads/complex cannot create them, so `buildLead` also returns the customer
 *   (CUSTOMER mappings and tags) and the worker creates and links it once the lead exists, with
 *   its own exactly-once steps (customers.ts). The note says the customer's id, or lists the
 *   customer answers when it was not created (customers off: 402, or refused).
 * - Two sources filling the same single-value field: the first wins, the other is reported.
 * - At most 40 values per entity (amoCRM's limit): the rest are left out with a warning.
 * - `Rule.mergeDuplicates`: leads/complex has no per-request switch, so the worker looks the
 *   contact up by phone / email and the company by name before sending, and attaches the lead to
 *   the oldest one found (duplicates.ts); `buildLead` always builds a new contact and company.
 */
import type { AmoCompanyInput, AmoComplexLeadInput, AmoContactInput, AmoCustomFieldValue, AmoLeadMetadata } from '../../platform/amo/index.ts';
import { convertAnswer, type ConvertField } from './convert.ts';
import type { QuizResult } from './input.ts';

export type Entity = 'LEAD' | 'CONTACT' | 'COMPANY' | 'CUSTOMER';

/** amoCRM's limit of custom field values per entity. */
export const MAX_FIELD_VALUES = 40;
/** The code of the lead field that carries the quiz result id. */
export const RESULT_FIELD_CODE = 'QUIZ_RESULT_ID';
/** The line of the note that names the result (note reconciliation looks for it). */
export const noteMarker = (resultId: string) => `Quiz result ID: ${resultId}`;

export interface CatalogField extends ConvertField {
  entity: Entity;
  name: string;
  /** deleted in amoCRM (the catalogue keeps it for the rules that still point at it) */
  deleted?: boolean;
}

export interface RuleMapping {
  target: Entity;
  source: 'QUESTION' | 'PROPERTY';
  /** question id, or property name */
  key: string;
  field: CatalogField;
}

export interface RuleTagRef {
  entity: Entity;
  amoId: number;
  name: string;
  deleted?: boolean;
}

export interface DeliveryRule {
  quizId: string;
  pipelineAmoId: number;
  stepAmoId: number;
  performerAmoId: number | null;
  toUnsorted: boolean;
  mergeDuplicates: boolean;
  mappings: RuleMapping[];
  tags: RuleTagRef[];
}

export interface PayloadContext {
  rule: DeliveryRule;
  /** the quiz's UTM mappings */
  utms: { name: string; field: CatalogField }[];
  /** the account's live fields of every entity (PHONE / EMAIL of contacts, tracking fields of leads) */
  fields: CatalogField[];
  /** `AmoAccount.resultFieldId` */
  resultFieldId: number | null;
}

/** A value that was left out of amoCRM, and why. */
export interface Problem {
  /** e.g. `lead field "Площадь" (#123) ← question q2` */
  where: string;
  value: string;
  reason: string;
}

/** A customer for `POST /api/v4/customers` (amoCRM's customer fields). */
export interface CustomerInput {
  name: string;
  responsible_user_id?: number;
  custom_fields_values?: AmoCustomFieldValue[];
  _embedded?: { tags?: { id: number }[] };
  request_id?: string;
}

export interface BuiltLead {
  lead: AmoComplexLeadInput;
  /** the note without its customer part (customers.ts adds it once the customer's fate is known) */
  note: string;
  /** the customer to create once the lead exists; null when the rule gives it no value nor tag */
  customer: CustomerInput | null;
  /** `field: answer` lines of the customer mappings, for the note when it is not created */
  customerAnswers: string[];
  /** one line per value left out (also in the note) and per other deviation from the rule */
  warnings: string[];
  problems: Problem[];
}

const ENTITY_WORD: Record<Entity, string> = { LEAD: 'lead', CONTACT: 'contact', COMPANY: 'company', CUSTOMER: 'customer' };
const MULTI_VALUED = new Set(['multiselect', 'multitext']);

const describeField = (f: CatalogField) => `${ENTITY_WORD[f.entity]} field "${f.name}" (#${f.amoId})`;

/** Collects one entity's custom_fields_values, merging or refusing a second value for a field. */
class Values {
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

const unixSeconds = (iso: string | undefined, now: Date) => Math.floor((iso ? Date.parse(iso) : now.getTime()) / 1000);

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

/** A readable lead name when the result has none: the quiz and who answered. */
export function defaultLeadName(result: QuizResult): string {
  const who = result.contact?.name ?? result.contact?.phone ?? result.contact?.email;
  return who ? `Quiz ${result.quizId}: ${who}` : `Quiz ${result.quizId}: result ${result.resultId}`;
}

/**
 * The leads/complex lead of a result. `requestId` is echoed by amoCRM (the worker sends the
 * Delivery id). `now` stands for the result's time when it has no `submittedAt`.
 */
export function buildLead(result: QuizResult, ctx: PayloadContext, options: { requestId?: string; now?: Date } = {}): BuiltLead {
  const now = options.now ?? new Date();
  const problems: Problem[] = [];
  const warnings: string[] = [];
  const onProblem = (p: Problem) => problems.push(p);
  const { rule } = ctx;

  const values: Record<Entity, Values> = {
    LEAD: new Values(onProblem),
    CONTACT: new Values(onProblem),
    COMPANY: new Values(onProblem),
    CUSTOMER: new Values(onProblem),
  };

  // 1. the result id (first, so that the 40-value limit never drops it)
  if (ctx.resultFieldId !== null) {
    values.LEAD.add(
      { amoId: ctx.resultFieldId, rawType: 'text', entity: 'LEAD', name: 'Quiz result ID', code: RESULT_FIELD_CODE },
      { field_id: ctx.resultFieldId, values: [{ value: result.resultId }] },
      'the result id',
      result.resultId,
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
      if (!a || a.values.length === 0) continue;
      fill(m.field, m.target, `question ${a.title ? `"${a.title}" (${a.questionId})` : a.questionId}`, a.values);
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

  // 5. entities
  const leadName = result.leadName ?? defaultLeadName(result);
  const responsible = rule.performerAmoId ?? undefined;
  const tagsOf = (entity: Entity) => {
    const out: { id: number }[] = [];
    for (const t of rule.tags.filter((x) => x.entity === entity)) {
      if (t.deleted) warnings.push(`${ENTITY_WORD[entity]} tag "${t.name}" (#${t.amoId}) was deleted in amoCRM: not added`);
      else out.push({ id: t.amoId });
    }
    return out;
  };

  const leadValues = values.LEAD.take();
  const lead: AmoComplexLeadInput = {
    name: leadName,
    ...(result.price !== undefined ? { price: result.price } : {}),
    pipeline_id: rule.pipelineAmoId,
    ...(rule.toUnsorted ? {} : { status_id: rule.stepAmoId }),
    ...(responsible !== undefined ? { responsible_user_id: responsible } : {}),
    ...(leadValues.length ? { custom_fields_values: leadValues } : {}),
    ...(options.requestId !== undefined ? { request_id: options.requestId } : {}),
  };
  const embedded: NonNullable<AmoComplexLeadInput['_embedded']> = {};
  const leadTags = tagsOf('LEAD');
  if (leadTags.length) embedded.tags = leadTags;

  const contactValues = values.CONTACT.take();
  const contactName = result.contact?.name;
  if (contactName !== undefined || contactValues.length) {
    const contact: AmoContactInput = {
      ...(contactName !== undefined ? { name: contactName } : {}),
      ...(responsible !== undefined ? { responsible_user_id: responsible } : {}),
      ...(contactValues.length ? { custom_fields_values: contactValues } : {}),
    };
    const t = tagsOf('CONTACT');
    if (t.length) contact._embedded = { tags: t };
    embedded.contacts = [contact];
  }

  const companyValues = values.COMPANY.take();
  const companyProp = props.get('company');
  if (companyValues.length || companyProp) {
    const company: AmoCompanyInput = {
      name: companyProp?.value.trim() ?? leadName,
      ...(responsible !== undefined ? { responsible_user_id: responsible } : {}),
      ...(companyValues.length ? { custom_fields_values: companyValues } : {}),
    };
    const t = tagsOf('COMPANY');
    if (t.length) company._embedded = { tags: t };
    embedded.companies = [company];
  }

  // the customer goes in its own call once the lead exists (customers.ts)
  const customerValues = values.CUSTOMER.take();
  const customerTags = tagsOf('CUSTOMER');
  const customerSources = rule.mappings.filter((m) => m.target === 'CUSTOMER');
  const customer: CustomerInput | null =
    customerValues.length || customerTags.length
      ? {
          name: contactName?.trim() || leadName,
          ...(responsible !== undefined ? { responsible_user_id: responsible } : {}),
          ...(customerValues.length ? { custom_fields_values: customerValues } : {}),
          ...(customerTags.length ? { _embedded: { tags: customerTags } } : {}),
          ...(options.requestId !== undefined ? { request_id: options.requestId } : {}),
        }
      : null;

  if (rule.toUnsorted) {
    const metadata: AmoLeadMetadata = {
      category: 'forms',
      form_id: result.quizId,
      form_name: result.formName ?? `Quiz ${result.quizId}`,
      form_sent_at: unixSeconds(result.submittedAt, now),
      ...(result.formPage ? { form_page: result.formPage } : {}),
      ...(result.ip ? { ip: result.ip } : {}),
      ...(result.referer ? { referer: result.referer } : {}),
    };
    embedded.metadata = metadata;
  }
  if (Object.keys(embedded).length) lead._embedded = embedded;

  // the values left out first (in order), then the other deviations
  const ordered = [...problems.map(problemLine), ...warnings];

  const customerAnswers = customerSources.flatMap((m) => {
    const src = m.source === 'QUESTION' ? answers.get(m.key)?.values : [props.get(m.key.trim().toLowerCase())?.value ?? ''];
    const v = (src ?? []).filter((x) => x.trim() !== '');
    return v.length ? [`${m.field.name}: ${v.join(', ')}`] : [];
  });
  const note = buildNote(result, { problems, now });
  return { lead, note, customer, customerAnswers, warnings: ordered, problems };
}

import { buildNote } from './note.ts';

export { buildNote };
export { loadPayloadContext, toCatalogField } from './payload-context.ts';
