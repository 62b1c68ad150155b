/** amoCRM's answer shapes of accounts, pipelines, fields, leads, contacts, companies, notes, webhooks. */
import type { Account, CustomField, Note, StoredCompany, StoredContact, StoredLead, Webhook } from './types.ts';
import { type ApiContext, link, withParams } from './context.ts';
import { renderCustomFieldsValues } from './validate.ts';
import { taskTypesOf } from './tasks.ts';

export function renderAccount(ctx: ApiContext): unknown {
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
    is_unsorted_on: acc.unsortedEnabled,
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
  if (w.has('datetime_settings'))
    out._embedded = {
      datetime_settings: {
        date_pattern: 'd.m.Y H:i',
        short_date_pattern: 'd.m.Y',
        short_time_pattern: 'H:i',
        date_format: 'd.m.Y',
        time_format: 'H:i:s',
        timezone: 'Europe/Moscow',
        timezone_offset: '+03:00',
      },
    };
  if (w.has('users_groups')) {
    const groups = [...new Set(acc.users.map((u) => u.rights.group_id).filter((g): g is number => g !== null))];
    out._embedded = {
      ...((out._embedded as object) ?? {}),
      users_groups: [{ id: 0, name: 'Отдел продаж', uuid: null }, ...groups.map((g) => ({ id: g, name: `Группа ${g}`, uuid: null }))],
    };
  }
  if (w.has('task_types')) out._embedded = { ...((out._embedded as object) ?? {}), task_types: taskTypesOf(ctx) };
  return out;
}

export function renderPipeline(ctx: ApiContext, p: Account['pipelines'][number]): unknown {
  return {
    id: p.id,
    name: p.name,
    sort: p.sort,
    is_main: p.is_main,
    is_unsorted_on: p.is_unsorted_on && ctx.acc.unsortedEnabled,
    is_archive: p.is_archive,
    account_id: p.account_id,
    _links: link(ctx, `/api/v4/leads/pipelines/${p.id}`),
    _embedded: { statuses: p.statuses.map((s) => renderStatus(ctx, s)) },
  };
}

export function renderStatus(ctx: ApiContext, s: Account['pipelines'][number]['statuses'][number]): unknown {
  return { ...s, _links: link(ctx, `/api/v4/leads/pipelines/${s.pipeline_id}/statuses/${s.id}`) };
}

export function renderField(ctx: ApiContext, f: CustomField): unknown {
  const out: Record<string, unknown> = { ...f, _links: link(ctx, `/api/v4/${f.entity_type}/custom_fields/${f.id}`) };
  if (f.type !== 'category') delete out.nested;
  if (f.type !== 'chained_list') delete out.chained_lists;
  return out;
}

/** Who made and changed it and when, as contacts, companies and customers answer it (the simulator keeps only the times). */
export function lifecycle(e: { created_at: number; updated_at: number }) {
  return { created_by: 0, updated_by: 0, created_at: e.created_at, updated_at: e.updated_at, closest_task_at: null, is_deleted: false };
}

export function tagsOut(tags: { id: number; name: string; color: string | null }[]) {
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

export function renderContact(ctx: ApiContext, c: StoredContact): unknown {
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
    ...lifecycle(c),
    is_unsorted: false,
    custom_fields_values: renderCustomFieldsValues(ctx.acc.fields.contacts, c.custom_fields_values),
    account_id: ctx.acc.id,
    _links: link(ctx, `/api/v4/contacts/${c.id}`),
    _embedded: embedded,
  };
}

export function renderCompany(ctx: ApiContext, c: StoredCompany): unknown {
  return {
    id: c.id,
    name: c.name,
    responsible_user_id: c.responsible_user_id,
    group_id: 0,
    ...lifecycle(c),
    custom_fields_values: renderCustomFieldsValues(ctx.acc.fields.companies, c.custom_fields_values),
    account_id: ctx.acc.id,
    _links: link(ctx, `/api/v4/companies/${c.id}`),
    _embedded: { tags: tagsOut(c.tags) },
  };
}

export function renderNote(ctx: ApiContext, n: Note): unknown {
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
