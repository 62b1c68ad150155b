/** POST /api/v4/leads/complex: validation (whole request rejected on any error), duplicate control, storage. */
import type { SimState } from './state.ts';
import type { Account, CustomFieldValue, EntityType, LeadMetadata, StoredContact, StoredLead, Tag } from './types.ts';
import { findDuplicate, mergeValues } from './duplicates.ts';
import { makeTag } from './generator.ts';
import { HttpError, isRecord, problem, problemError } from './http.ts';
import { type ValidationError, validateCustomFieldsValues } from './validate.ts';

export const MAX_COMPLEX_LEADS = 50;
const METADATA_CATEGORIES = ['forms', 'sip', 'mail', 'chats'];

export interface ComplexResult {
  id: number;
  contact_id: number | null;
  company_id: number | null;
  request_id: string[];
  merged: boolean;
}

export function validationFailed(groups: Array<{ request_id: string; errors: ValidationError[] }>): HttpError {
  return new HttpError(400, problem(400, 'Request validation failed', { 'validation-errors': groups }));
}

export function validateTags(acc: Account, entity: EntityType, tags: unknown, prefix: string, errors: ValidationError[]): void {
  if (tags === undefined || tags === null) return;
  if (!Array.isArray(tags)) {
    errors.push({ code: 'InvalidType', path: prefix, detail: 'This value should be of type array.' });
    return;
  }
  tags.forEach((t, i) => {
    if (!isRecord(t)) errors.push({ code: 'InvalidType', path: `${prefix}.${i}`, detail: 'This value should be of type object.' });
    else if (t.id !== undefined) {
      if (!acc.tags[entity].some((x) => x.id === t.id))
        errors.push({ code: 'NotSupportedChoice', path: `${prefix}.${i}.id`, detail: 'The value you selected is not a valid choice.' });
    } else if (typeof t.name !== 'string' || !t.name.trim()) errors.push({ code: 'FieldMissing', path: `${prefix}.${i}.name`, detail: 'This field is missing.' });
  });
}

/** The entity's `custom_fields_values` as received (a copy), or null. */
export function receivedValues(x: Record<string, unknown>): CustomFieldValue[] | null {
  return Array.isArray(x.custom_fields_values) ? (structuredClone(x.custom_fields_values) as CustomFieldValue[]) : null;
}

export function resolveTags(state: SimState, acc: Account, entity: EntityType, tags: unknown): Tag[] {
  if (!Array.isArray(tags)) return [];
  return tags.map((t: Record<string, unknown>) => {
    if (t.id !== undefined) return acc.tags[entity].find((x) => x.id === t.id) as Tag;
    const name = String(t.name).trim();
    let tag = acc.tags[entity].find((x) => x.name.toLowerCase() === name.toLowerCase());
    if (!tag) acc.tags[entity].push((tag = makeTag(state, name, null)));
    return tag;
  });
}

export function checkInt(v: unknown, path: string, errors: ValidationError[]): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    errors.push({ code: 'InvalidType', path, detail: 'This value should be of type int.' });
    return false;
  }
  return true;
}

/** responsible_user_id: a user of the account, and an active one unless the account allows otherwise. */
export function checkResponsible(acc: Account, v: unknown, path: string, errors: ValidationError[]): void {
  if (!checkInt(v, path, errors)) return;
  const user = acc.users.find((u) => u.id === v);
  if (!user) errors.push({ code: 'NotSupportedChoice', path, detail: 'The value you selected is not a valid choice.' });
  else if (!user.rights.is_active && acc.rejectInactiveResponsible) errors.push({ code: 'NotSupportedChoice', path, detail: 'User is inactive' });
}

/** Fields required in the lead's step (`required_statuses`) must come with a value. */
function checkRequiredFields(acc: Account, target: Target, cfv: unknown, errors: ValidationError[]): void {
  const status = acc.pipelines.find((p) => p.id === target.pipelineId)?.statuses.find((s) => s.id === target.statusId);
  for (const f of acc.fields.leads) {
    if (!f.required_statuses.some((r) => r.pipeline_id === target.pipelineId && r.status_id === target.statusId)) continue;
    const given =
      Array.isArray(cfv) && cfv.some((e) => isRecord(e) && (e.field_id === f.id || (f.code !== null && e.field_code === f.code)) && Array.isArray(e.values) && e.values.length > 0);
    if (!given)
      errors.push({ code: 'FieldMissing', path: 'custom_fields_values', detail: `Field "${f.name}" (#${f.id}) is required in status "${status?.name ?? target.statusId}"` });
  }
}

function checkEmbeddedEntity(acc: Account, kind: 'contacts' | 'companies', list: unknown, errors: ValidationError[]): void {
  const prefix = `_embedded.${kind}`;
  if (list === undefined || list === null) return;
  if (!Array.isArray(list)) {
    errors.push({ code: 'InvalidType', path: prefix, detail: 'This value should be of type array.' });
    return;
  }
  if (list.length > 1) {
    errors.push({ code: 'TooManyEntities', path: prefix, detail: 'This collection should contain 1 element or less.' });
    return;
  }
  const e = list[0];
  if (e === undefined) return;
  if (!isRecord(e)) {
    errors.push({ code: 'InvalidType', path: `${prefix}.0`, detail: 'This value should be of type object.' });
    return;
  }
  if (e.id !== undefined) {
    const store = kind === 'contacts' ? acc.contacts : acc.companies;
    if (!store.some((x) => x.id === e.id)) errors.push({ code: 'NotSupportedChoice', path: `${prefix}.0.id`, detail: 'The value you selected is not a valid choice.' });
  }
  for (const k of ['name', 'first_name', 'last_name']) {
    if (e[k] !== undefined && typeof e[k] !== 'string') errors.push({ code: 'InvalidType', path: `${prefix}.0.${k}`, detail: 'This value should be of type string.' });
  }
  checkResponsible(acc, e.responsible_user_id, `${prefix}.0.responsible_user_id`, errors);
  validateCustomFieldsValues(acc.fields[kind], e.custom_fields_values, `${prefix}.0.custom_fields_values`, errors);
  if (isRecord(e._embedded)) validateTags(acc, kind, e._embedded.tags, `${prefix}.0._embedded.tags`, errors);
}

interface Target {
  pipelineId: number;
  statusId: number;
}

function resolveTarget(acc: Account, lead: Record<string, unknown>, hasMetadata: boolean, errors: ValidationError[]): Target | null {
  const main = acc.pipelines.find((p) => p.is_main) ?? acc.pipelines[0];
  let pipeline = main;
  if (checkInt(lead.pipeline_id, 'pipeline_id', errors)) {
    const p = acc.pipelines.find((x) => x.id === lead.pipeline_id);
    if (!p) {
      errors.push({ code: 'NotSupportedChoice', path: 'pipeline_id', detail: 'The value you selected is not a valid choice.' });
      return null;
    }
    pipeline = p;
  } else if (typeof lead.status_id === 'number' && lead.status_id !== 142 && lead.status_id !== 143) {
    pipeline = acc.pipelines.find((p) => p.statuses.some((s) => s.id === lead.status_id)) ?? main;
  }
  if (!pipeline) throw new Error(`amo-sim: account ${acc.id} has no pipelines`);
  const unsorted = pipeline.statuses.find((s) => s.type === 1) ?? pipeline.statuses[0];
  if (checkInt(lead.status_id, 'status_id', errors)) {
    const s = pipeline.statuses.find((x) => x.id === lead.status_id);
    if (!s) {
      errors.push({ code: 'NotSupportedChoice', path: 'status_id', detail: 'The value you selected is not a valid choice.' });
      return null;
    }
    if (!hasMetadata) return { pipelineId: pipeline.id, statusId: s.id };
  }
  if (!unsorted) throw new Error(`amo-sim: pipeline ${pipeline.id} has no statuses`);
  if (hasMetadata) return { pipelineId: pipeline.id, statusId: unsorted.id };
  const first = pipeline.statuses.find((s) => s.type === 0 && s.id !== 142 && s.id !== 143) ?? unsorted;
  return { pipelineId: pipeline.id, statusId: first.id };
}

export function createComplexLeads(state: SimState, acc: Account, body: unknown, responsibleDefault: number): ComplexResult[] {
  if (!Array.isArray(body)) throw problemError(400, 'Request body must be an array of leads');
  if (body.length === 0) throw problemError(400, 'Request body must not be empty');
  if (body.length > MAX_COMPLEX_LEADS) {
    throw validationFailed([{ request_id: '0', errors: [{ code: 'TooManyEntities', path: '', detail: `This collection should contain ${MAX_COMPLEX_LEADS} elements or less.` }] }]);
  }
  const groups: Array<{ request_id: string; errors: ValidationError[] }> = [];
  const targets: Target[] = [];
  body.forEach((lead, index) => {
    const errors: ValidationError[] = [];
    const requestId = isRecord(lead) && lead.request_id !== undefined ? String(lead.request_id) : String(index);
    if (!isRecord(lead)) {
      groups.push({ request_id: requestId, errors: [{ code: 'InvalidType', path: '', detail: 'This value should be of type object.' }] });
      return;
    }
    if (lead.name !== undefined && typeof lead.name !== 'string') errors.push({ code: 'InvalidType', path: 'name', detail: 'This value should be of type string.' });
    checkInt(lead.price, 'price', errors);
    checkResponsible(acc, lead.responsible_user_id, 'responsible_user_id', errors);
    const emb = lead._embedded === undefined ? {} : lead._embedded;
    if (!isRecord(emb)) errors.push({ code: 'InvalidType', path: '_embedded', detail: 'This value should be of type object.' });
    const e = isRecord(emb) ? emb : {};
    const md = e.metadata;
    if (md !== undefined && md !== null) {
      if (!isRecord(md)) errors.push({ code: 'InvalidType', path: '_embedded.metadata', detail: 'This value should be of type object.' });
      else if (md.category !== undefined && !METADATA_CATEGORIES.includes(String(md.category))) {
        errors.push({ code: 'NotSupportedChoice', path: '_embedded.metadata.category', detail: 'The value you selected is not a valid choice.' });
      }
      if (!acc.unsortedEnabled) errors.push({ code: 'NotSupportedChoice', path: '_embedded.metadata', detail: 'Unsorted is disabled for this account' });
    }
    const target = resolveTarget(acc, lead, isRecord(md), errors);
    // amoCRM checks required fields when a lead enters a step; an unsorted lead has not entered one yet
    if (target && !isRecord(md)) checkRequiredFields(acc, target, lead.custom_fields_values, errors);
    validateCustomFieldsValues(acc.fields.leads, lead.custom_fields_values, 'custom_fields_values', errors);
    validateTags(acc, 'leads', e.tags, '_embedded.tags', errors);
    checkEmbeddedEntity(acc, 'contacts', e.contacts, errors);
    checkEmbeddedEntity(acc, 'companies', e.companies, errors);
    if (errors.length) groups.push({ request_id: requestId, errors });
    else if (target) targets[index] = target;
  });
  if (groups.length) throw validationFailed(groups);

  const now = state.nowSec();
  const nowMs = state.now();
  return body.map((lead: Record<string, unknown>, index) => {
    const e = (isRecord(lead._embedded) ? lead._embedded : {}) as Record<string, unknown>;
    const metadata = isRecord(e.metadata) ? (structuredClone(e.metadata) as LeadMetadata) : null;
    const requestId = lead.request_id !== undefined ? String(lead.request_id) : String(index);
    const responsible = typeof lead.responsible_user_id === 'number' ? lead.responsible_user_id : responsibleDefault;
    let contactId: number | null = null;
    let companyId: number | null = null;
    let merged = false;
    /** What a contact or company made from the lead's `_embedded` stores besides its id and names. */
    const embeddedRecord = (x: Record<string, unknown>, entity: 'contacts' | 'companies', values: CustomFieldValue[] | null) => ({
      responsible_user_id: typeof x.responsible_user_id === 'number' ? x.responsible_user_id : responsible,
      custom_fields_values: values,
      tags: resolveTags(state, acc, entity, isRecord(x._embedded) ? x._embedded.tags : undefined),
      created_at: now,
      updated_at: now,
      written_ms: nowMs,
      raw: structuredClone(x),
    });

    const c = Array.isArray(e.contacts) ? (e.contacts[0] as Record<string, unknown> | undefined) : undefined;
    if (c) {
      const cfv = receivedValues(c);
      const existing = c.id !== undefined ? acc.contacts.find((x) => x.id === c.id) : metadata && acc.duplicateControl ? findDuplicate(acc, cfv) : undefined;
      if (existing) {
        if (c.id === undefined) {
          merged = true;
          existing.custom_fields_values = mergeValues(existing.custom_fields_values, cfv);
          existing.updated_at = now;
          existing.written_ms = nowMs;
        }
        contactId = existing.id;
      } else {
        const first = typeof c.first_name === 'string' ? c.first_name : '';
        const last = typeof c.last_name === 'string' ? c.last_name : '';
        const contact: StoredContact = {
          id: state.nextId('contact'),
          name: typeof c.name === 'string' ? c.name : [first, last].filter(Boolean).join(' '),
          first_name: first,
          last_name: last,
          ...embeddedRecord(c, 'contacts', cfv),
        };
        acc.contacts.push(contact);
        contactId = contact.id;
      }
    }
    const co = Array.isArray(e.companies) ? (e.companies[0] as Record<string, unknown> | undefined) : undefined;
    if (co) {
      if (co.id !== undefined) companyId = co.id as number;
      else {
        const company = {
          id: state.nextId('company'),
          name: typeof co.name === 'string' ? co.name : '',
          ...embeddedRecord(co, 'companies', receivedValues(co)),
        };
        acc.companies.push(company);
        companyId = company.id;
      }
    }
    const target = targets[index];
    // every lead passed validation, so each has its target
    if (!target) throw new Error(`amo-sim: lead ${index} has no target`);
    const id = state.nextId('lead');
    const stored: StoredLead = {
      id,
      name: typeof lead.name === 'string' ? lead.name : `Сделка #${id}`,
      price: typeof lead.price === 'number' ? lead.price : 0,
      pipeline_id: target.pipelineId,
      status_id: target.statusId,
      responsible_user_id: responsible,
      custom_fields_values: receivedValues(lead),
      tags: resolveTags(state, acc, 'leads', e.tags),
      contact_id: contactId,
      company_id: companyId,
      metadata,
      request_id: lead.request_id !== undefined ? String(lead.request_id) : null,
      merged,
      is_deleted: false,
      created_at: now,
      updated_at: now,
      closed_at: target.statusId === 142 || target.statusId === 143 ? now : null,
      written_ms: nowMs,
      raw: structuredClone(lead),
    };
    acc.leads.push(stored);
    return { id, contact_id: contactId, company_id: companyId, request_id: [requestId], merged };
  });
}
