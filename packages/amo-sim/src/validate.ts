/** Validation of custom_fields_values (per field type) and the output shape amoCRM gives them. */
import type { CustomField, CustomFieldValue } from './types.ts';
import { SMART_ADDRESS_ENUMS } from './field-factory.ts';
import { isRecord } from './http.ts';

export interface ValidationError {
  code: string;
  path: string;
  detail: string;
}

export const MAX_FIELD_VALUES = 40;

const NUMERIC = /^-?\d+(\.\d+)?$/;

function findField(fields: CustomField[], entry: Record<string, unknown>): CustomField | undefined {
  if (entry.field_id !== undefined) return fields.find((f) => f.id === entry.field_id);
  if (typeof entry.field_code === 'string') return fields.find((f) => f.code === entry.field_code);
  return undefined;
}

function isDateValue(v: unknown): boolean {
  if (typeof v === 'number') return Number.isInteger(v);
  if (typeof v === 'string') return NUMERIC.test(v) || (/^\d{4}-\d{2}-\d{2}/.test(v) && !Number.isNaN(Date.parse(v)));
  return false;
}

function isUrl(v: unknown): boolean {
  if (typeof v !== 'string') return false;
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

/**
 * Validates an entity's custom_fields_values like amoCRM (unknown field / enum → NotSupportedChoice,
 * wrong value shape → InvalidType, missing value → FieldMissing, more than 40 entries → TooManyValues).
 * `prefix` is the path of the array, e.g. `custom_fields_values` or `_embedded.contacts.0.custom_fields_values`.
 */
export function validateCustomFieldsValues(fields: CustomField[], cfv: unknown, prefix: string, errors: ValidationError[]): void {
  if (cfv === undefined || cfv === null) return;
  if (!Array.isArray(cfv)) {
    errors.push({ code: 'InvalidType', path: prefix, detail: 'This value should be of type array.' });
    return;
  }
  if (cfv.length > MAX_FIELD_VALUES) {
    errors.push({ code: 'TooManyValues', path: prefix, detail: `This collection should contain ${MAX_FIELD_VALUES} elements or less.` });
    return;
  }
  cfv.forEach((entry, i) => {
    const p = `${prefix}.${i}`;
    if (!isRecord(entry)) {
      errors.push({ code: 'InvalidType', path: p, detail: 'This value should be of type object.' });
      return;
    }
    if (entry.field_id === undefined && entry.field_code === undefined) {
      errors.push({ code: 'FieldMissing', path: `${p}.field_id`, detail: 'This field is missing.' });
      return;
    }
    const field = findField(fields, entry);
    if (!field) {
      errors.push({
        code: 'NotSupportedChoice',
        path: `${p}.${entry.field_id !== undefined ? 'field_id' : 'field_code'}`,
        detail: 'The value you selected is not a valid choice.',
      });
      return;
    }
    const values = entry.values;
    if (values === undefined) {
      errors.push({ code: 'FieldMissing', path: `${p}.values`, detail: 'This field is missing.' });
      return;
    }
    if (values === null) return; // null clears the field
    if (!Array.isArray(values)) {
      errors.push({ code: 'InvalidType', path: `${p}.values`, detail: 'This value should be of type array.' });
      return;
    }
    values.forEach((v, j) => validateValue(field, v, `${p}.values.${j}`, errors));
  });
}

function validateValue(field: CustomField, v: unknown, p: string, errors: ValidationError[]): void {
  const bad = (detail: string, path = `${p}.value`, code = 'InvalidType'): void => {
    errors.push({ code, path, detail });
  };
  if (!isRecord(v)) return bad('This value should be of type object.', p);
  const value = v.value;
  const enums = field.enums ?? [];
  switch (field.type) {
    case 'text':
    case 'textarea':
    case 'streetaddress':
    case 'tracking_data':
      if (typeof value !== 'string' && typeof value !== 'number') bad('This value should be of type string.');
      return;
    case 'numeric':
    case 'price':
    case 'monetary':
      if (!(typeof value === 'number' && Number.isFinite(value)) && !(typeof value === 'string' && NUMERIC.test(value.trim()))) {
        bad('This value should be of type numeric.');
      }
      return;
    case 'checkbox':
      if (typeof value !== 'boolean') bad('This value should be of type bool.');
      return;
    case 'url':
      if (!isUrl(value)) bad('This value is not a valid URL.');
      return;
    case 'date':
    case 'date_time':
    case 'birthday':
      if (!isDateValue(value)) bad('This value should be a unix timestamp or an RFC 3339 date.');
      return;
    case 'select':
    case 'radiobutton':
    case 'category':
    case 'multiselect': {
      if (v.enum_id !== undefined) {
        if (!enums.some((e) => e.id === v.enum_id)) bad('The value you selected is not a valid choice.', `${p}.enum_id`, 'NotSupportedChoice');
      } else if (v.enum_code !== undefined) {
        if (!enums.some((e) => e.value === v.enum_code)) bad('The value you selected is not a valid choice.', `${p}.enum_code`, 'NotSupportedChoice');
      } else if (value !== undefined) {
        if (!enums.some((e) => e.value === value)) bad('The value you selected is not a valid choice.', `${p}.value`, 'NotSupportedChoice');
      } else bad('This field is missing.', `${p}.enum_id`, 'FieldMissing');
      return;
    }
    case 'multitext':
    case 'smart_address': {
      if (typeof value !== 'string' || value === '')
        bad(value === undefined ? 'This field is missing.' : 'This value should be of type string.', `${p}.value`, value === undefined ? 'FieldMissing' : 'InvalidType');
      const choices = field.type === 'smart_address' ? SMART_ADDRESS_ENUMS : enums.map((e) => e.value);
      if (v.enum_id !== undefined && !enums.some((e) => e.id === v.enum_id)) bad('The value you selected is not a valid choice.', `${p}.enum_id`, 'NotSupportedChoice');
      if (v.enum_code !== undefined && !choices.includes(String(v.enum_code))) bad('The value you selected is not a valid choice.', `${p}.enum_code`, 'NotSupportedChoice');
      if (field.type === 'smart_address' && v.enum_id === undefined && v.enum_code === undefined) bad('This field is missing.', `${p}.enum_code`, 'FieldMissing');
      return;
    }
    case 'legal_entity':
      if (!isRecord(value) || typeof value.name !== 'string') bad('This value should be an object with a name.');
      return;
    case 'items':
    case 'linked_entity':
    case 'chained_list':
    case 'file':
      if (!isRecord(value)) bad('This value should be of type object.');
      return;
  }
}

/** The value shape amoCRM answers: field_name/code/type filled in, enum ids and codes resolved. */
export function renderCustomFieldsValues(fields: CustomField[], cfv: CustomFieldValue[] | null): unknown[] | null {
  if (!cfv || cfv.length === 0) return null;
  const out: unknown[] = [];
  for (const entry of cfv) {
    const field = findField(fields, entry as Record<string, unknown>);
    if (!field || !Array.isArray(entry.values) || entry.values.length === 0) continue;
    const enums = field.enums ?? [];
    out.push({
      field_id: field.id,
      field_name: field.name,
      field_code: field.code,
      field_type: field.type,
      values: entry.values.map((v) => {
        if (field.type === 'multitext' || field.type === 'smart_address' || enums.length > 0) {
          const e =
            enums.find((x) => x.id === v.enum_id) ??
            enums.find((x) => x.value === v.enum_code) ??
            enums.find((x) => field.type !== 'multitext' && x.value === v.value) ??
            (field.type === 'multitext' ? enums[0] : undefined);
          if (field.type === 'multitext' || field.type === 'smart_address') return { value: v.value, enum_id: e?.id ?? null, enum_code: e?.value ?? null };
          return { value: e?.value ?? v.value, enum_id: e?.id ?? null, enum_code: null };
        }
        return { value: v.value };
      }),
    });
  }
  return out.length ? out : null;
}

/** All string values of a custom_fields_values array (for full-text search). */
export function textValues(cfv: CustomFieldValue[] | null): string[] {
  const out: string[] = [];
  for (const entry of cfv ?? []) for (const v of entry.values ?? []) if (typeof v.value === 'string' || typeof v.value === 'number') out.push(String(v.value));
  return out;
}
