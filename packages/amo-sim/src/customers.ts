/** Customers (Покупатели): POST/GET customers, GET customers/{id}, links to contacts, leads and companies. */
import type { StoredCustomer } from './types.ts';
import { isRecord, problemError } from './http.ts';
import { checkInt, checkResponsible, receivedValues, resolveTags, validateTags, validationFailed } from './leads.ts';
import { type ValidationError, renderCustomFieldsValues, validateCustomFieldsValues } from './validate.ts';
import { type ApiContext, type ApiResult, link, requireArray, withParams } from './context.ts';
import { lifecycle, tagsOut } from './render.ts';
import { listEntities } from './search.ts';

const LINK_TYPES = ['contacts', 'leads', 'companies'] as const;
type LinkType = (typeof LINK_TYPES)[number];
const idsOf = (c: StoredCustomer, t: LinkType) => (t === 'contacts' ? c.contact_ids : t === 'leads' ? c.lead_ids : c.company_ids);

export function renderCustomer(ctx: ApiContext, c: StoredCustomer): unknown {
  const w = withParams(ctx);
  const embedded: Record<string, unknown> = { tags: tagsOut(c.tags), segments: [] };
  if (w.has('contacts')) embedded.contacts = c.contact_ids.map((id, i) => ({ id, is_main: i === 0, _links: link(ctx, `/api/v4/contacts/${id}`) }));
  if (w.has('companies')) embedded.companies = c.company_ids.map((id) => ({ id, _links: link(ctx, `/api/v4/companies/${id}`) }));
  return {
    id: c.id,
    name: c.name,
    next_price: c.next_price,
    next_date: c.next_date,
    responsible_user_id: c.responsible_user_id,
    status_id: null,
    periodicity: 0,
    ...lifecycle(c),
    custom_fields_values: renderCustomFieldsValues(ctx.acc.fields.customers, c.custom_fields_values),
    ltv: 0,
    purchases_count: 0,
    average_check: 0,
    account_id: ctx.acc.id,
    _links: link(ctx, `/api/v4/customers/${c.id}`),
    _embedded: embedded,
  };
}

/** Validates every customer first (one error rejects the request, nothing stored), like leads. */
export function createCustomers(ctx: ApiContext): ApiResult {
  const { acc, state } = ctx;
  const list = requireArray(ctx.body);
  const groups: Array<{ request_id: string; errors: ValidationError[] }> = [];
  const rid = (c: unknown, i: number) => (isRecord(c) && c.request_id !== undefined ? String(c.request_id) : String(i));
  list.forEach((c, i) => {
    const errors: ValidationError[] = [];
    if (!isRecord(c)) errors.push({ code: 'InvalidType', path: '', detail: 'This value should be of type object.' });
    else {
      if (typeof c.name !== 'string' || !c.name.trim()) errors.push({ code: 'FieldMissing', path: 'name', detail: 'This field is missing.' });
      checkInt(c.next_price, 'next_price', errors);
      checkInt(c.next_date, 'next_date', errors);
      checkResponsible(acc, c.responsible_user_id, 'responsible_user_id', errors);
      validateCustomFieldsValues(acc.fields.customers, c.custom_fields_values, 'custom_fields_values', errors);
      if (c._embedded !== undefined && !isRecord(c._embedded)) errors.push({ code: 'InvalidType', path: '_embedded', detail: 'This value should be of type object.' });
      else if (isRecord(c._embedded)) validateTags(acc, 'customers', c._embedded.tags, '_embedded.tags', errors);
    }
    if (errors.length) groups.push({ request_id: rid(c, i), errors });
  });
  if (groups.length) throw validationFailed(groups);
  const now = state.nowSec();
  const created = list.map((raw, i) => {
    const c = raw as Record<string, unknown>;
    const customer: StoredCustomer = {
      id: state.nextId('customer'),
      name: String(c.name),
      next_price: typeof c.next_price === 'number' ? c.next_price : 0,
      next_date: typeof c.next_date === 'number' ? c.next_date : null,
      responsible_user_id: typeof c.responsible_user_id === 'number' ? c.responsible_user_id : ctx.auth.userId || acc.current_user_id,
      custom_fields_values: receivedValues(c),
      tags: resolveTags(state, acc, 'customers', isRecord(c._embedded) ? c._embedded.tags : undefined),
      contact_ids: [],
      company_ids: [],
      lead_ids: [],
      request_id: c.request_id !== undefined ? String(c.request_id) : null,
      created_at: now,
      updated_at: now,
      written_ms: state.now(),
      raw: structuredClone(raw),
    };
    acc.customers.push(customer);
    return { id: customer.id, request_id: rid(c, i), _links: link(ctx, `/api/v4/customers/${customer.id}`) };
  });
  return { status: 200, body: { _links: link(ctx, '/api/v4/customers'), _embedded: { customers: created } } };
}

export function listCustomers(ctx: ApiContext): ApiResult {
  return listEntities(ctx, { entity: 'customers', key: 'customers', items: ctx.acc.customers, render: (c) => renderCustomer(ctx, c) });
}

export function getCustomer(ctx: ApiContext, id: string): ApiResult {
  const c = ctx.acc.customers.find((x) => x.id === Number(id));
  if (!c) return { status: 204 };
  return { status: 200, body: renderCustomer(ctx, c) };
}

/**
 * POST customers/{id}/link (`fixedId`) or customers/link (each item names its `entity_id`):
 * `[{entity_id?, to_entity_id, to_entity_type, metadata?}]`. Linking twice changes nothing.
 */
export function linkCustomers(ctx: ApiContext, fixedId?: string): ApiResult {
  const { acc } = ctx;
  if (fixedId !== undefined && !acc.customers.some((c) => c.id === Number(fixedId))) throw problemError(404, 'Customer not found');
  const list = requireArray(ctx.body);
  const errors: ValidationError[] = [];
  const exists = (t: LinkType, id: number) =>
    t === 'contacts' ? acc.contacts.some((x) => x.id === id) : t === 'companies' ? acc.companies.some((x) => x.id === id) : !!ctx.state.findLead(acc, id);
  list.forEach((l, i) => {
    if (!isRecord(l)) return void errors.push({ code: 'InvalidType', path: `${i}`, detail: 'This value should be of type object.' });
    if (fixedId === undefined && !acc.customers.some((c) => c.id === l.entity_id))
      errors.push({ code: 'NotSupportedChoice', path: `${i}.entity_id`, detail: 'The value you selected is not a valid choice.' });
    if (!LINK_TYPES.includes(l.to_entity_type as LinkType))
      errors.push({ code: 'NotSupportedChoice', path: `${i}.to_entity_type`, detail: 'The value you selected is not a valid choice.' });
    else if (typeof l.to_entity_id !== 'number' || !exists(l.to_entity_type as LinkType, l.to_entity_id)) {
      errors.push({ code: 'NotSupportedChoice', path: `${i}.to_entity_id`, detail: 'The value you selected is not a valid choice.' });
    }
  });
  if (errors.length) throw validationFailed([{ request_id: '0', errors }]);
  const links = list.map((raw) => {
    const l = raw as Record<string, unknown>;
    const customer = acc.customers.find((c) => c.id === (fixedId !== undefined ? Number(fixedId) : l.entity_id)) as StoredCustomer;
    const ids = idsOf(customer, l.to_entity_type as LinkType);
    if (!ids.includes(l.to_entity_id as number)) {
      ids.push(l.to_entity_id as number);
      customer.updated_at = ctx.state.nowSec();
    }
    return { entity_id: customer.id, entity_type: 'customers', to_entity_id: l.to_entity_id, to_entity_type: l.to_entity_type, metadata: isRecord(l.metadata) ? l.metadata : null };
  });
  return { status: 200, body: { _total_items: links.length, _links: link(ctx, ctx.url.pathname), _embedded: { links } } };
}
