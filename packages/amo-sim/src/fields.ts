/** POST {entity}/custom_fields and {entity}/tags. */
import type { CustomField, EntityType } from './types.ts';
import { FIELD_TYPES } from './types.ts';
import { ENUM_TYPES, makeField, requiredStatuses } from './field-factory.ts';
import { makeTag } from './generator.ts';
import { isRecord, problemError } from './http.ts';
import { validationFailed } from './leads.ts';
import type { ValidationError } from './validate.ts';
import { type ApiContext, type ApiResult, link, requireArray } from './context.ts';
import { renderField } from './render.ts';

export function createFields(ctx: ApiContext, entity: EntityType): ApiResult {
  const { acc } = ctx;
  // some accounts answer this route with a bare status (e.g. 404 on plans without custom fields)
  if (acc.customFieldsCreateStatus !== null) throw problemError(acc.customFieldsCreateStatus, 'Custom fields cannot be created in this account');
  // amoCRM answers a non-admin's attempt with a JSON 403; unlike the limit block it blocks nothing
  if (!acc.tokenUserIsAdmin) throw problemError(403, 'Access denied: administrator rights are required');
  const list = requireArray(ctx.body);
  const groups: Array<{ request_id: string; errors: ValidationError[] }> = [];
  list.forEach((f, i) => {
    const errors: ValidationError[] = [];
    const rid = isRecord(f) && f.request_id !== undefined ? String(f.request_id) : String(i);
    if (!isRecord(f)) errors.push({ code: 'InvalidType', path: '', detail: 'This value should be of type object.' });
    else {
      if (typeof f.name !== 'string' || !f.name.trim()) errors.push({ code: 'FieldMissing', path: 'name', detail: 'This field is missing.' });
      if (!FIELD_TYPES.includes(f.type as never)) errors.push({ code: 'NotSupportedChoice', path: 'type', detail: 'The value you selected is not a valid choice.' });
      else if (f.type === 'tracking_data' && entity !== 'leads') errors.push({ code: 'NotSupportedChoice', path: 'type', detail: 'The value you selected is not a valid choice.' });
      if (f.code !== undefined && f.code !== null && ctx.acc.fields[entity].some((x) => x.code === f.code))
        errors.push({ code: 'NotUnique', path: 'code', detail: 'This value is already used.' });
      if (ENUM_TYPES.has(f.type as never) && f.type !== 'multitext' && f.type !== 'smart_address' && (!Array.isArray(f.enums) || f.enums.length === 0)) {
        errors.push({ code: 'FieldMissing', path: 'enums', detail: 'This field is missing.' });
      }
      if (Array.isArray(f.enums))
        f.enums.forEach((e, j) => {
          if (!isRecord(e) || typeof e.value !== 'string') errors.push({ code: 'FieldMissing', path: `enums.${j}.value`, detail: 'This field is missing.' });
        });
    }
    if (acc.customFieldLimit !== null && acc.fields[entity].length + i >= acc.customFieldLimit) {
      errors.push({ code: 'FieldsLimitExceeded', path: '', detail: `The ${entity} entity may have at most ${acc.customFieldLimit} custom fields.` });
    }
    if (errors.length) groups.push({ request_id: rid, errors });
  });
  if (groups.length) throw validationFailed(groups);
  const created = list.map((raw) => {
    const f = raw as Record<string, unknown>;
    const field = makeField(ctx.state, ctx.acc, entity, {
      name: String(f.name),
      type: f.type as CustomField['type'],
      code: typeof f.code === 'string' ? f.code : null,
      sort: typeof f.sort === 'number' ? f.sort : undefined,
      is_api_only: f.is_api_only === true,
      is_required: f.is_required === true,
      enums: Array.isArray(f.enums) ? (f.enums as Array<{ value: string; sort?: number }>) : undefined,
      settings: isRecord(f.settings) ? f.settings : null,
      required_statuses: Array.isArray(f.required_statuses) ? requiredStatuses(f.required_statuses.filter(isRecord)) : undefined,
    });
    ctx.acc.fields[entity].push(field);
    return { ...(renderField(ctx, field) as object), request_id: f.request_id !== undefined ? String(f.request_id) : undefined };
  });
  return { status: 200, body: { _total_items: created.length, _embedded: { custom_fields: created } } };
}

export function createTags(ctx: ApiContext, entity: EntityType): ApiResult {
  const list = requireArray(ctx.body);
  const errors: ValidationError[] = [];
  // names are unique per entity in any case: one the account has, or one given twice, is refused
  const named = new Set<string>();
  list.forEach((t, i) => {
    if (!isRecord(t) || typeof t.name !== 'string' || !t.name.trim()) errors.push({ code: 'FieldMissing', path: `${i}.name`, detail: 'This field is missing.' });
    else if (ctx.acc.tags[entity].some((x) => x.name.toLowerCase() === String(t.name).trim().toLowerCase()) || named.has(t.name.trim().toLowerCase()))
      errors.push({ code: 'NotUnique', path: `${i}.name`, detail: 'This value is already used.' });
    else named.add(t.name.trim().toLowerCase());
  });
  if (errors.length) throw validationFailed([{ request_id: '0', errors }]);
  const created = list.map((raw) => {
    const t = raw as Record<string, unknown>;
    const tag = makeTag(ctx.state, String(t.name).trim(), typeof t.color === 'string' ? t.color : null);
    ctx.acc.tags[entity].push(tag);
    return { ...tag, request_id: t.request_id !== undefined ? String(t.request_id) : undefined };
  });
  return { status: 200, body: { _links: link(ctx, `/api/v4/${entity}/tags`), _embedded: { tags: created } } };
}
