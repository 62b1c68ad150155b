/**
 * Custom fields: amoCRM's predefined ones (phone, email, UTM tracking …), the enum option sets,
 * and making a field from a spec (seeding, the control API and POST custom_fields share it).
 */
import type { SimState } from './state.ts';
import { prng } from './state.ts';
import type { Account, CustomField, EntityType, FieldEnum, FieldType } from './types.ts';
import { OPTION_SETS, pick } from './sample-data.ts';

export const PHONE_ENUMS = ['WORK', 'WORKDD', 'MOB', 'FAX', 'HOME', 'OTHER'];
export const EMAIL_ENUMS = ['WORK', 'PRIV', 'OTHER'];
export const SMART_ADDRESS_ENUMS = ['address_line_1', 'address_line_2', 'city', 'state', 'zip', 'country'];
export const UTM_CODES = ['UTM_SOURCE', 'UTM_MEDIUM', 'UTM_CAMPAIGN', 'UTM_TERM', 'UTM_CONTENT', 'UTM_REFERRER'];
const EXTRA_TRACKING_CODES = ['ROISTAT', 'REFERRER', 'GCLIENTID', '_YM_UID', 'GCLID', 'YCLID', 'FBCLID', 'FROM'];

/** Types whose fields carry `enums`. */
export const ENUM_TYPES: ReadonlySet<FieldType> = new Set(['select', 'multiselect', 'radiobutton', 'category', 'multitext', 'smart_address']);

export interface FieldSpec {
  name: string;
  type: FieldType;
  code?: string | null;
  sort?: number;
  is_api_only?: boolean;
  is_predefined?: boolean;
  is_deletable?: boolean;
  is_required?: boolean;
  /** option values (select, multiselect, radiobutton, category, multitext, smart_address) */
  enums?: Array<string | { value: string; sort?: number }>;
  settings?: Record<string, unknown> | null;
  /** steps (pipeline, status) where the field must have a value */
  required_statuses?: Array<{ status_id: number; pipeline_id: number }>;
}

/** Enum options from values or `{value, sort?}`, sorted 500, 1000, … unless given; `idOf` numbers each. */
export function toEnums(list: ReadonlyArray<string | { id?: number; value: string; sort?: number }>, idOf: (given: number | undefined, index: number) => number): FieldEnum[] {
  return list.map((e, i) => {
    const v = typeof e === 'string' ? { value: e } : e;
    return { id: idOf(v.id, i), value: v.value, sort: v.sort ?? (i + 1) * 500 };
  });
}

/** A category field's nested options: its enums, all at the top level. */
export function nestedOf(enums: FieldEnum[]): NonNullable<CustomField['nested']> {
  return enums.map((e) => ({ id: e.id, parent_id: null, value: e.value, sort: e.sort }));
}

/** `required_statuses` with numeric ids (JSON over HTTP may send strings). */
export function requiredStatuses(list: ReadonlyArray<{ status_id?: unknown; pipeline_id?: unknown }>): CustomField['required_statuses'] {
  return list.map((r) => ({ status_id: Number(r.status_id), pipeline_id: Number(r.pipeline_id) }));
}

function defaultEnums(type: FieldType, rnd: () => number): string[] | undefined {
  switch (type) {
    case 'select':
    case 'multiselect':
    case 'radiobutton':
    case 'category':
      return pick(rnd, OPTION_SETS);
    case 'multitext':
      return PHONE_ENUMS;
    case 'smart_address':
      return SMART_ADDRESS_ENUMS;
    default:
      return undefined;
  }
}

export function makeField(state: SimState, acc: Account, entity: EntityType, spec: FieldSpec): CustomField {
  const id = state.nextId('field');
  const rnd = prng(id);
  const enumsIn = spec.enums ?? defaultEnums(spec.type, rnd);
  // smart_address options are numbered 1…6 in every account; the given spec never picks enum ids
  const enums = ENUM_TYPES.has(spec.type) && enumsIn ? toEnums(enumsIn, (_, i) => (spec.type === 'smart_address' ? i + 1 : state.nextId('enum'))) : null;
  const field: CustomField = {
    id,
    name: spec.name,
    type: spec.type,
    code: spec.code ?? null,
    sort: spec.sort ?? acc.fields[entity].length * 2 + 500,
    entity_type: entity,
    account_id: acc.id,
    is_predefined: spec.is_predefined ?? false,
    is_deletable: spec.is_deletable ?? !spec.is_predefined,
    is_visible: true,
    is_required: spec.is_required ?? false,
    is_api_only: spec.is_api_only ?? false,
    group_id: null,
    required_statuses: requiredStatuses(spec.required_statuses ?? []),
    remind: spec.type === 'birthday' ? 'day' : null,
    settings: spec.settings ?? (spec.type === 'monetary' ? { currency: 'RUB' } : null),
    enums,
    nested: null,
    chained_lists: null,
  };
  if (spec.type === 'category' && enums) field.nested = nestedOf(enums);
  if (spec.type === 'chained_list') field.chained_lists = [{ title: 'Каталог', catalog_id: 5001 + (id % 100), parent_catalog_id: 0 }];
  if (spec.type === 'linked_entity') field.settings = { catalog_id: 5101 };
  return field;
}

export function predefinedFields(entity: EntityType): FieldSpec[] {
  const phone: FieldSpec = { name: 'Телефон', type: 'multitext', code: 'PHONE', enums: PHONE_ENUMS, is_predefined: true, sort: 4 };
  const email: FieldSpec = { name: 'Email', type: 'multitext', code: 'EMAIL', enums: EMAIL_ENUMS, is_predefined: true, sort: 6 };
  switch (entity) {
    case 'contacts':
      return [{ name: 'Должность', type: 'text', code: 'POSITION', is_predefined: true, sort: 2 }, phone, email];
    case 'companies':
      return [
        phone,
        email,
        { name: 'Web', type: 'url', code: 'WEB', is_predefined: true, sort: 8 },
        { name: 'Адрес', type: 'textarea', code: 'ADDRESS', is_predefined: true, sort: 10 },
      ];
    case 'leads':
      return [...UTM_CODES, ...EXTRA_TRACKING_CODES].map((code, i) => ({
        name: code.toLowerCase().replace(/^_/, ''),
        type: 'tracking_data' as FieldType,
        code,
        is_predefined: true,
        is_deletable: false,
        sort: 100 + i,
      }));
    case 'customers':
      return [];
  }
}
