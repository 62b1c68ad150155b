/** amoCRM API v4 routes (the bearer token has already identified the account). */
import type { SimState } from './state.ts';
import type { Account, CustomField, EntityType, Note, StoredCompany, StoredContact, StoredLead, Webhook } from './types.ts';
import { ENTITY_TYPES, FIELD_TYPES } from './types.ts';
import type { AuthContext } from './oauth.ts';
import { ENUM_TYPES, makeField, makeTag } from './generator.ts';
import { HttpError, isRecord, problem, problemError } from './http.ts';
import { createComplexLeads, validationFailed } from './leads.ts';
import { type ValidationError, renderCustomFieldsValues, textValues } from './validate.ts';

export interface ApiContext {
  state: SimState;
  acc: Account;
  auth: AuthContext;
  method: string;
  url: URL;
  body: unknown;
}

export interface ApiResult {
  status: number;
  body?: unknown;
}

type Handler = (ctx: ApiContext, params: string[]) => ApiResult;

export const MAX_LIMIT = 250;
export const DEFAULT_LIMIT = 50;

export const WEBHOOK_EVENTS = [
  'responsible_lead', 'responsible_contact', 'responsible_company', 'responsible_customer', 'responsible_task',
  'restore_lead', 'restore_contact', 'restore_company',
  'add_lead', 'add_contact', 'add_company', 'add_customer', 'add_talk', 'add_task',
  'update_lead', 'update_contact', 'update_company', 'update_customer', 'update_talk', 'update_task',
  'delete_lead', 'delete_contact', 'delete_company', 'delete_customer', 'delete_task',
  'status_lead', 'note_lead', 'note_contact', 'note_company', 'note_customer',
  'add_chat_template_review', 'message_received',
];

const NOTE_TYPES = ['common', 'call_in', 'call_out', 'service_message', 'message_cashier', 'geolocation', 'sms_in', 'sms_out', 'extended_service_message', 'attachment'];

const link = (ctx: ApiContext, path: string) => ({ self: { href: `${ctx.state.baseUrl}${path}` } });

/** amoCRM pagination: page from 1, limit ≤ 250, HAL links, 204 past the end or on an empty list. */
export function paginate<T>(ctx: ApiContext, items: T[], key: string, render: (x: T) => unknown, totals = false): ApiResult {
  const q = ctx.url.searchParams;
  const errors: ValidationError[] = [];
  const limitRaw = q.get('limit');
  const pageRaw = q.get('page');
  const limit = limitRaw === null ? DEFAULT_LIMIT : Number(limitRaw);
  const page = pageRaw === null ? 1 : Number(pageRaw);
  if (!Number.isInteger(limit) || limit < 1) errors.push({ code: 'GreaterThan', path: 'limit', detail: 'This value should be greater than 0.' });
  else if (limit > MAX_LIMIT) errors.push({ code: 'LessThanOrEqual', path: 'limit', detail: `This value should be less than or equal to ${MAX_LIMIT}.` });
  if (!Number.isInteger(page) || page < 1) errors.push({ code: 'GreaterThan', path: 'page', detail: 'This value should be greater than 0.' });
  if (errors.length) throw validationFailed([{ request_id: '0', errors }]);
  const slice = items.slice((page - 1) * limit, page * limit);
  if (slice.length === 0) return { status: 204 };
  const href = (p: number) => {
    const u = new URL(ctx.url.pathname + ctx.url.search, ctx.state.baseUrl);
    u.searchParams.set('page', String(p));
    u.searchParams.set('limit', String(limit));
    return { href: u.toString() };
  };
  const links: Record<string, { href: string }> = { self: href(page) };
  if (page * limit < items.length) links.next = href(page + 1);
  if (page > 1) links.prev = href(page - 1);
  const out: Record<string, unknown> = {};
  if (totals) {
    out._total_items = items.length;
    out._page_count = Math.ceil(items.length / limit);
  }
  out._page = page;
  out._links = links;
  out._embedded = { [key]: slice.map(render) };
  return { status: 200, body: out };
}

function withParams(ctx: ApiContext): Set<string> {
  return new Set((ctx.url.searchParams.get('with') ?? '').split(',').map((s) => s.trim()).filter(Boolean));
}

function requireArray(body: unknown, max = 50): unknown[] {
  if (!Array.isArray(body)) throw problemError(400, 'Request body must be an array');
  if (body.length === 0) throw problemError(400, 'Request body must not be empty');
  if (body.length > max) throw validationFailed([{ request_id: '0', errors: [{ code: 'TooManyEntities', path: '', detail: `This collection should contain ${max} elements or less.` }] }]);
  return body;
}

// ---- renderers -------------------------------------------------------------------------

function renderAccount(ctx: ApiContext): unknown {
  const { acc } = ctx;
  const w = withParams(ctx);
  const out: Record<string, unknown> = {
    id: acc.id,
    name: acc.name,
    subdomain: acc.subdomain,
    created_at: acc.created_at,
    created_by: 0,
    updated_at: acc.created_at,
    updated_by: 0,
    current_user_id: ctx.auth.userId || acc.current_user_id,
    country: acc.country,
    currency: acc.currency,
    currency_symbol: acc.currency_symbol,
    customers_mode: acc.customersEnabled ? 'segments' : 'disabled',
    is_unsorted_on: true,
    mobile_feature_version: 0,
    is_loss_reason_enabled: true,
    is_helpbot_enabled: false,
    is_technical_account: false,
    contact_name_display_order: 1,
    _links: link(ctx, '/api/v4/account'),
  };
  if (w.has('amojo_id')) out.amojo_id = `00000000-0000-4000-8000-${String(acc.id).padStart(12, '0')}`;
  if (w.has('uuid')) out.uuid = `11111111-1111-4111-8111-${String(acc.id).padStart(12, '0')}`;
  if (w.has('version')) out.version = 11;
  if (w.has('drive_url')) out.drive_url = 'https://drive-b.amocrm.ru';
  if (w.has('datetime_settings')) out._embedded = { datetime_settings: { date_pattern: 'd.m.Y H:i', short_date_pattern: 'd.m.Y', short_time_pattern: 'H:i', date_format: 'd.m.Y', time_format: 'H:i:s', timezone: 'Europe/Moscow', timezone_offset: '+03:00' } };
  if (w.has('users_groups')) {
    const groups = [...new Set(acc.users.map((u) => u.rights.group_id).filter((g): g is number => g !== null))];
    out._embedded = { ...((out._embedded as object) ?? {}), users_groups: [{ id: 0, name: 'Отдел продаж', uuid: null }, ...groups.map((g) => ({ id: g, name: `Группа ${g}`, uuid: null }))] };
  }
  return out;
}

function renderPipeline(ctx: ApiContext, p: Account['pipelines'][number]): unknown {
  return {
    id: p.id,
    name: p.name,
    sort: p.sort,
    is_main: p.is_main,
    is_unsorted_on: p.is_unsorted_on,
    is_archive: p.is_archive,
    account_id: p.account_id,
    _links: link(ctx, `/api/v4/leads/pipelines/${p.id}`),
    _embedded: { statuses: p.statuses.map((s) => renderStatus(ctx, s)) },
  };
}

function renderStatus(ctx: ApiContext, s: Account['pipelines'][number]['statuses'][number]): unknown {
  return { ...s, _links: link(ctx, `/api/v4/leads/pipelines/${s.pipeline_id}/statuses/${s.id}`) };
}

function renderField(ctx: ApiContext, f: CustomField): unknown {
  const out: Record<string, unknown> = { ...f, _links: link(ctx, `/api/v4/${f.entity_type}/custom_fields/${f.id}`) };
  if (f.type !== 'category') delete out.nested;
  if (f.type !== 'chained_list') delete out.chained_lists;
  return out;
}

function tagsOut(tags: { id: number; name: string; color: string | null }[]) {
  return tags.map((t) => ({ id: t.id, name: t.name, color: t.color }));
}

export function renderLead(ctx: ApiContext, l: StoredLead): unknown {
  const w = withParams(ctx);
  const embedded: Record<string, unknown> = {
    tags: tagsOut(l.tags),
    companies: l.company_id ? [{ id: l.company_id, _links: link(ctx, `/api/v4/companies/${l.company_id}`) }] : [],
  };
  if (w.has('contacts')) embedded.contacts = l.contact_id ? [{ id: l.contact_id, is_main: true, _links: link(ctx, `/api/v4/contacts/${l.contact_id}`) }] : [];
  if (w.has('source_id') || w.has('only_deleted')) embedded.source = null;
  return {
    id: l.id,
    name: l.name,
    price: l.price,
    responsible_user_id: l.responsible_user_id,
    group_id: 0,
    status_id: l.status_id,
    pipeline_id: l.pipeline_id,
    loss_reason_id: null,
    created_by: 0,
    updated_by: 0,
    created_at: l.created_at,
    updated_at: l.updated_at,
    closed_at: l.closed_at,
    closest_task_at: null,
    is_deleted: l.is_deleted,
    custom_fields_values: renderCustomFieldsValues(ctx.acc.fields.leads, l.custom_fields_values),
    score: null,
    account_id: ctx.acc.id,
    labor_cost: null,
    _links: link(ctx, `/api/v4/leads/${l.id}`),
    _embedded: embedded,
  };
}

function renderContact(ctx: ApiContext, c: StoredContact): unknown {
  const leads = ctx.acc.leads.filter((l) => l.contact_id === c.id && !l.is_deleted);
  const embedded: Record<string, unknown> = { tags: tagsOut(c.tags), companies: [] };
  if (withParams(ctx).has('leads')) embedded.leads = leads.map((l) => ({ id: l.id, _links: link(ctx, `/api/v4/leads/${l.id}`) }));
  return {
    id: c.id,
    name: c.name,
    first_name: c.first_name,
    last_name: c.last_name,
    responsible_user_id: c.responsible_user_id,
    group_id: 0,
    created_by: 0,
    updated_by: 0,
    created_at: c.created_at,
    updated_at: c.updated_at,
    closest_task_at: null,
    is_deleted: false,
    is_unsorted: false,
    custom_fields_values: renderCustomFieldsValues(ctx.acc.fields.contacts, c.custom_fields_values),
    account_id: ctx.acc.id,
    _links: link(ctx, `/api/v4/contacts/${c.id}`),
    _embedded: embedded,
  };
}

function renderCompany(ctx: ApiContext, c: StoredCompany): unknown {
  return {
    id: c.id,
    name: c.name,
    responsible_user_id: c.responsible_user_id,
    group_id: 0,
    created_by: 0,
    updated_by: 0,
    created_at: c.created_at,
    updated_at: c.updated_at,
    closest_task_at: null,
    is_deleted: false,
    custom_fields_values: renderCustomFieldsValues(ctx.acc.fields.companies, c.custom_fields_values),
    account_id: ctx.acc.id,
    _links: link(ctx, `/api/v4/companies/${c.id}`),
    _embedded: { tags: tagsOut(c.tags) },
  };
}

function renderNote(ctx: ApiContext, n: Note): unknown {
  return {
    id: n.id,
    entity_id: n.entity_id,
    created_by: n.created_by,
    updated_by: n.created_by,
    created_at: n.created_at,
    updated_at: n.updated_at,
    responsible_user_id: n.created_by,
    group_id: 0,
    note_type: n.note_type,
    params: n.params,
    account_id: ctx.acc.id,
    _links: link(ctx, `/api/v4/${n.entity_type}/${n.entity_id}/notes/${n.id}`),
  };
}

export function renderWebhook(w: Webhook): unknown {
  return { ...w };
}

// ---- handlers --------------------------------------------------------------------------

function entityParam(ctx: ApiContext, name: string): EntityType {
  const e = name as EntityType;
  if (!ENTITY_TYPES.includes(e)) throw problemError(404, 'Not found');
  if (e === 'customers' && !ctx.acc.customersEnabled) throw problemError(402, 'Customers are disabled for this account');
  return e;
}

function createFields(ctx: ApiContext, entity: EntityType): ApiResult {
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
      if (f.code !== undefined && f.code !== null && ctx.acc.fields[entity].some((x) => x.code === f.code)) errors.push({ code: 'NotUnique', path: 'code', detail: 'This value is already used.' });
      if (ENUM_TYPES.has(f.type as never) && f.type !== 'multitext' && f.type !== 'smart_address' && (!Array.isArray(f.enums) || f.enums.length === 0)) {
        errors.push({ code: 'FieldMissing', path: 'enums', detail: 'This field is missing.' });
      }
      if (Array.isArray(f.enums)) f.enums.forEach((e, j) => {
        if (!isRecord(e) || typeof e.value !== 'string') errors.push({ code: 'FieldMissing', path: `enums.${j}.value`, detail: 'This field is missing.' });
      });
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
    });
    ctx.acc.fields[entity].push(field);
    return { ...(renderField(ctx, field) as object), request_id: f.request_id !== undefined ? String(f.request_id) : undefined };
  });
  return { status: 200, body: { _total_items: created.length, _embedded: { custom_fields: created } } };
}

function createTags(ctx: ApiContext, entity: EntityType): ApiResult {
  const list = requireArray(ctx.body);
  const errors: ValidationError[] = [];
  list.forEach((t, i) => {
    if (!isRecord(t) || typeof t.name !== 'string' || !t.name.trim()) errors.push({ code: 'FieldMissing', path: `${i}.name`, detail: 'This field is missing.' });
    else if (ctx.acc.tags[entity].some((x) => x.name.toLowerCase() === String(t.name).trim().toLowerCase())) errors.push({ code: 'NotUnique', path: `${i}.name`, detail: 'This value is already used.' });
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

function leadMatches(acc: Account, l: StoredLead, query: string): boolean {
  const q = query.trim().toLowerCase();
  if (!q) return true;
  if (String(l.id) === q) return true;
  return [l.name, ...textValues(l.custom_fields_values)].some((s) => s.toLowerCase().includes(q));
}

function noteErrors(n: unknown): ValidationError[] {
  const errors: ValidationError[] = [];
  if (!isRecord(n)) errors.push({ code: 'InvalidType', path: '', detail: 'This value should be of type object.' });
  else {
    if (!NOTE_TYPES.includes(String(n.note_type))) errors.push({ code: 'NotSupportedChoice', path: 'note_type', detail: 'The value you selected is not a valid choice.' });
    if (n.note_type === 'common' && (!isRecord(n.params) || typeof n.params.text !== 'string')) errors.push({ code: 'FieldMissing', path: 'params.text', detail: 'This field is missing.' });
  }
  return errors;
}

const noteRequestId = (n: unknown, i: number) => (isRecord(n) && n.request_id !== undefined ? String(n.request_id) : String(i));

/**
 * Stores notes after validating all of them (one bad note rejects the request, nothing stored).
 * `entityOf` gives a note's entity id, or errors when it has none of the account (batch route).
 */
function addNotes(ctx: ApiContext, entityType: 'leads' | 'contacts', entityOf: (n: unknown) => number | ValidationError[], selfPath: string): ApiResult {
  const list = requireArray(ctx.body);
  const groups: Array<{ request_id: string; errors: ValidationError[] }> = [];
  const entityIds: number[] = [];
  list.forEach((n, i) => {
    const errors = noteErrors(n);
    const entity = entityOf(n);
    if (Array.isArray(entity)) errors.push(...entity);
    else entityIds[i] = entity;
    if (errors.length) groups.push({ request_id: noteRequestId(n, i), errors });
  });
  if (groups.length) throw validationFailed(groups);
  const now = ctx.state.nowSec();
  const created = list.map((raw, i) => {
    const n = raw as Record<string, unknown>;
    const entityId = entityIds[i];
    const note: Note = {
      id: ctx.state.nextId('note'),
      entity_id: entityId,
      entity_type: entityType,
      note_type: String(n.note_type),
      params: structuredClone((n.params ?? {}) as Record<string, unknown>),
      created_by: typeof n.created_by === 'number' ? n.created_by : ctx.auth.userId || ctx.acc.current_user_id,
      created_at: now,
      updated_at: now,
      request_id: noteRequestId(n, i),
    };
    ctx.acc.notes.push(note);
    return { id: note.id, entity_id: entityId, request_id: note.request_id, _links: link(ctx, `/api/v4/${entityType}/${entityId}/notes/${note.id}`) };
  });
  return { status: 200, body: { _links: link(ctx, selfPath), _embedded: { notes: created } } };
}

/** `entity_id` of a batch note: a live lead of the account. */
function leadOfNote(ctx: ApiContext, n: unknown): number | ValidationError[] {
  const raw = isRecord(n) ? n.entity_id : undefined;
  if (raw === undefined || raw === null) return [{ code: 'FieldMissing', path: 'entity_id', detail: 'This field is missing.' }];
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw <= 0) return [{ code: 'InvalidType', path: 'entity_id', detail: 'This value should be of type int.' }];
  const l = ctx.state.findLead(ctx.acc, raw);
  if (!l) return [{ code: 'NotFound', path: 'entity_id', detail: 'Entity not found.' }];
  return l.id;
}

function lead(ctx: ApiContext, id: string): StoredLead {
  const l = ctx.state.findLead(ctx.acc, Number(id));
  if (!l) throw new HttpError(204, {});
  return l;
}

function upsertWebhook(ctx: ApiContext): ApiResult {
  const b = ctx.body;
  const errors: ValidationError[] = [];
  if (!isRecord(b)) throw problemError(400, 'Request body must be an object');
  let dest = '';
  try {
    const u = new URL(String(b.destination ?? ''));
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
    dest = String(b.destination);
  } catch {
    errors.push({ code: 'InvalidUrl', path: 'destination', detail: 'This value is not a valid URL.' });
  }
  if (!Array.isArray(b.settings) || b.settings.length === 0) errors.push({ code: 'FieldMissing', path: 'settings', detail: 'This field is missing.' });
  else b.settings.forEach((s, i) => {
    if (!WEBHOOK_EVENTS.includes(String(s))) errors.push({ code: 'NotSupportedChoice', path: `settings.${i}`, detail: 'The value you selected is not a valid choice.' });
  });
  if (errors.length) throw validationFailed([{ request_id: '0', errors }]);
  const now = ctx.state.nowSec();
  const settings = [...new Set((b.settings as unknown[]).map(String))];
  let hook = ctx.acc.webhooks.find((w) => w.destination === dest);
  if (hook) {
    hook.settings = settings;
    hook.updated_at = now;
    hook.disabled = false;
    if (typeof b.sort === 'number') hook.sort = b.sort;
  } else {
    hook = {
      id: ctx.state.nextId('webhook'),
      destination: dest,
      settings,
      sort: typeof b.sort === 'number' ? b.sort : 1,
      disabled: false,
      created_at: now,
      updated_at: now,
      account_id: ctx.acc.id,
      created_by: ctx.auth.userId || ctx.acc.current_user_id,
    };
    ctx.acc.webhooks.push(hook);
  }
  return { status: 200, body: renderWebhook(hook) };
}

const routes: Array<{ method: string; re: RegExp; handler: Handler }> = [];
const route = (method: string, pattern: string, handler: Handler) => routes.push({ method, re: new RegExp(`^/api/v4${pattern}/?$`), handler });

route('GET', '/account', (ctx) => ({ status: 200, body: renderAccount(ctx) }));

route('GET', '/users', (ctx) =>
  paginate(ctx, ctx.acc.users, 'users', (u) => ({ ...u, _links: link(ctx, `/api/v4/users/${u.id}`) }), true),
);
route('GET', '/users/(\\d+)', (ctx, [id]) => {
  const u = ctx.acc.users.find((x) => x.id === Number(id));
  if (!u) throw problemError(404, 'User not found');
  return { status: 200, body: { ...u, _links: link(ctx, `/api/v4/users/${u.id}`) } };
});

route('GET', '/leads/pipelines', (ctx) => {
  const list = ctx.acc.pipelines.slice(0, 50);
  return { status: 200, body: { _total_items: list.length, _links: link(ctx, '/api/v4/leads/pipelines'), _embedded: { pipelines: list.map((p) => renderPipeline(ctx, p)) } } };
});
const pipelineOf = (ctx: ApiContext, id: string) => {
  const p = ctx.acc.pipelines.find((x) => x.id === Number(id));
  if (!p) throw problemError(404, 'Pipeline not found');
  return p;
};
route('GET', '/leads/pipelines/(\\d+)', (ctx, [id]) => ({ status: 200, body: renderPipeline(ctx, pipelineOf(ctx, id)) }));
route('GET', '/leads/pipelines/(\\d+)/statuses', (ctx, [id]) => {
  const p = pipelineOf(ctx, id);
  return { status: 200, body: { _total_items: p.statuses.length, _links: link(ctx, `/api/v4/leads/pipelines/${p.id}/statuses`), _embedded: { statuses: p.statuses.map((s) => renderStatus(ctx, s)) } } };
});
route('GET', '/leads/pipelines/(\\d+)/statuses/(\\d+)', (ctx, [id, sid]) => {
  const s = pipelineOf(ctx, id).statuses.find((x) => x.id === Number(sid));
  if (!s) throw problemError(404, 'Status not found');
  return { status: 200, body: renderStatus(ctx, s) };
});

route('GET', '/(leads|contacts|companies|customers)/custom_fields', (ctx, [e]) => {
  const entity = entityParam(ctx, e);
  return paginate(ctx, ctx.acc.fields[entity], 'custom_fields', (f) => renderField(ctx, f), true);
});
route('GET', '/(leads|contacts|companies|customers)/custom_fields/(\\d+)', (ctx, [e, id]) => {
  const f = ctx.acc.fields[entityParam(ctx, e)].find((x) => x.id === Number(id));
  if (!f) throw problemError(404, 'Custom field not found');
  return { status: 200, body: renderField(ctx, f) };
});
route('POST', '/(leads|contacts|companies|customers)/custom_fields', (ctx, [e]) => createFields(ctx, entityParam(ctx, e)));

route('GET', '/(leads|contacts|companies|customers)/tags', (ctx, [e]) => {
  const entity = entityParam(ctx, e);
  const q = (ctx.url.searchParams.get('query') ?? '').toLowerCase();
  const tags = q ? ctx.acc.tags[entity].filter((t) => t.name.toLowerCase().includes(q)) : ctx.acc.tags[entity];
  return paginate(ctx, tags, 'tags', (t) => ({ id: t.id, name: t.name, color: t.color }));
});
route('POST', '/(leads|contacts|companies|customers)/tags', (ctx, [e]) => createTags(ctx, entityParam(ctx, e)));

route('POST', '/leads/complex', (ctx) => ({ status: 200, body: createComplexLeads(ctx.state, ctx.acc, ctx.body, ctx.auth.userId || ctx.acc.current_user_id) }));

route('GET', '/leads', (ctx) => {
  const query = ctx.url.searchParams.get('query') ?? '';
  const list = ctx.acc.leads.filter((l) => !l.is_deleted && leadMatches(ctx.acc, l, query));
  return paginate(ctx, list, 'leads', (l) => renderLead(ctx, l));
});
route('GET', '/leads/(\\d+)', (ctx, [id]) => ({ status: 200, body: renderLead(ctx, lead(ctx, id)) }));
route('GET', '/leads/(\\d+)/notes', (ctx, [id]) => {
  const l = lead(ctx, id);
  return paginate(ctx, ctx.acc.notes.filter((n) => n.entity_type === 'leads' && n.entity_id === l.id), 'notes', (n) => renderNote(ctx, n));
});
route('POST', '/leads/(\\d+)/notes', (ctx, [id]) => {
  const l = ctx.state.findLead(ctx.acc, Number(id));
  if (!l) throw problemError(404, 'Lead not found');
  return addNotes(ctx, 'leads', () => l.id, `/api/v4/leads/${l.id}/notes`);
});
// batch: notes of several leads, each naming its lead in entity_id
route('POST', '/leads/notes', (ctx) => addNotes(ctx, 'leads', (n) => leadOfNote(ctx, n), '/api/v4/leads/notes'));

route('GET', '/contacts', (ctx) => {
  const q = (ctx.url.searchParams.get('query') ?? '').trim().toLowerCase();
  const list = ctx.acc.contacts.filter((c) => !q || [c.name, ...textValues(c.custom_fields_values)].some((s) => s.toLowerCase().includes(q)));
  return paginate(ctx, list, 'contacts', (c) => renderContact(ctx, c));
});
route('GET', '/contacts/(\\d+)', (ctx, [id]) => {
  const c = ctx.acc.contacts.find((x) => x.id === Number(id));
  if (!c) return { status: 204 };
  return { status: 200, body: renderContact(ctx, c) };
});
route('GET', '/companies/(\\d+)', (ctx, [id]) => {
  const c = ctx.acc.companies.find((x) => x.id === Number(id));
  if (!c) return { status: 204 };
  return { status: 200, body: renderCompany(ctx, c) };
});
route('GET', '/customers', (ctx) => {
  entityParam(ctx, 'customers');
  return { status: 204 };
});

route('GET', '/webhooks', (ctx) => {
  const dest = ctx.url.searchParams.get('filter[destination]');
  const list = ctx.acc.webhooks.filter((w) => !dest || w.destination === dest);
  if (!list.length) return { status: 204 };
  return { status: 200, body: { _total_items: list.length, _links: link(ctx, '/api/v4/webhooks'), _embedded: { webhooks: list.map(renderWebhook) } } };
});
route('POST', '/webhooks', upsertWebhook);
route('DELETE', '/webhooks', (ctx) => {
  const b = ctx.body;
  if (!isRecord(b) || typeof b.destination !== 'string') throw validationFailed([{ request_id: '0', errors: [{ code: 'FieldMissing', path: 'destination', detail: 'This field is missing.' }] }]);
  ctx.acc.webhooks = ctx.acc.webhooks.filter((w) => w.destination !== b.destination);
  return { status: 204 };
});

/** Dispatches an authenticated /api/v4 request; throws HttpError for error answers. */
export function handleApi(ctx: ApiContext): ApiResult {
  const path = ctx.url.pathname;
  if (/^\/api\/v4\/customers(\/|$)/.test(path) && !ctx.acc.customersEnabled) {
    throw new HttpError(402, problem(402, 'Customers are disabled for this account'));
  }
  let pathMatched = false;
  for (const r of routes) {
    const m = r.re.exec(path);
    if (!m) continue;
    pathMatched = true;
    if (r.method !== ctx.method) continue;
    try {
      return r.handler(ctx, m.slice(1));
    } catch (e) {
      if (e instanceof HttpError && e.status === 204) return { status: 204 };
      throw e;
    }
  }
  if (pathMatched) throw problemError(405, `Method ${ctx.method} is not allowed`);
  throw problemError(404, 'Not found');
}
