/** amoCRM API v4 routes (the bearer token has already identified the account). */
import type { StoredLead } from './types.ts';
import { HttpError, isRecord, problem, problemError } from './http.ts';
import { createComplexLeads, validationFailed } from './leads.ts';
import type { ValidationError } from './validate.ts';
import { type ApiContext, type ApiResult, type Handler, entityParam, link, paginate } from './context.ts';
import { renderAccount, renderCompany, renderContact, renderField, renderLead, renderNote, renderPipeline, renderStatus, renderWebhook } from './render.ts';
import { createFields, createTags } from './fields.ts';
import { addNotes, leadOfNote } from './notes.ts';
import { listEntities } from './search.ts';
import { createCustomers, getCustomer, linkCustomers, listCustomers } from './customers.ts';
import { addTasks, getTask, listTasks } from './tasks.ts';
import { updateEntityTags } from './entity-tags.ts';

export type { ApiContext, ApiResult } from './context.ts';
export { DEFAULT_LIMIT, MAX_LIMIT, paginate } from './context.ts';
export { renderLead, renderWebhook } from './render.ts';

export const WEBHOOK_EVENTS = [
  'responsible_lead',
  'responsible_contact',
  'responsible_company',
  'responsible_customer',
  'responsible_task',
  'restore_lead',
  'restore_contact',
  'restore_company',
  'add_lead',
  'add_contact',
  'add_company',
  'add_customer',
  'add_talk',
  'add_task',
  'update_lead',
  'update_contact',
  'update_company',
  'update_customer',
  'update_talk',
  'update_task',
  'delete_lead',
  'delete_contact',
  'delete_company',
  'delete_customer',
  'delete_task',
  'status_lead',
  'note_lead',
  'note_contact',
  'note_company',
  'note_customer',
  'add_chat_template_review',
  'message_received',
];

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
  else
    b.settings.forEach((s, i) => {
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

/** One string per capture group of a route pattern: `'/leads/(\\d+)/notes'` gives `[string]`. */
type Captures<P extends string> = P extends `${string}(${infer Rest}` ? [string, ...Captures<Rest>] : [];

/** True when a match has the pattern's number of groups and every group took part (the patterns have no optional groups). */
function isCaptures<P extends string>(groups: Array<string | undefined>, pattern: P): groups is Captures<P> {
  return groups.length === pattern.split('(').length - 1 && groups.every((g) => g !== undefined);
}

const routes: Array<{ method: string; re: RegExp; handler: Handler }> = [];
const route = <P extends string>(method: string, pattern: P, handler: (ctx: ApiContext, params: Captures<P>) => ApiResult) =>
  routes.push({
    method,
    re: new RegExp(`^/api/v4${pattern}/?$`),
    handler: (ctx, groups) => {
      if (!isCaptures(groups, pattern)) throw new Error(`amo-sim: route ${pattern} matched without all of its groups`);
      return handler(ctx, groups);
    },
  });

route('GET', '/account', (ctx) => ({ status: 200, body: renderAccount(ctx) }));

route('GET', '/users', (ctx) => paginate(ctx, ctx.acc.users, 'users', (u) => ({ ...u, _links: link(ctx, `/api/v4/users/${u.id}`) }), true));
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
  return {
    status: 200,
    body: { _total_items: p.statuses.length, _links: link(ctx, `/api/v4/leads/pipelines/${p.id}/statuses`), _embedded: { statuses: p.statuses.map((s) => renderStatus(ctx, s)) } },
  };
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

route('GET', '/leads', (ctx) =>
  listEntities(ctx, { entity: 'leads', key: 'leads', items: ctx.acc.leads.filter((l) => !l.is_deleted), render: (l) => renderLead(ctx, l), pipelineOf: (l) => l.pipeline_id }),
);
route('GET', '/leads/(\\d+)', (ctx, [id]) => ({ status: 200, body: renderLead(ctx, lead(ctx, id)) }));
route('GET', '/leads/(\\d+)/notes', (ctx, [id]) => {
  const l = lead(ctx, id);
  return paginate(
    ctx,
    ctx.acc.notes.filter((n) => n.entity_type === 'leads' && n.entity_id === l.id),
    'notes',
    (n) => renderNote(ctx, n),
  );
});
route('POST', '/leads/(\\d+)/notes', (ctx, [id]) => {
  const l = ctx.state.findLead(ctx.acc, Number(id));
  if (!l) throw problemError(404, 'Lead not found');
  return addNotes(ctx, 'leads', () => l.id, `/api/v4/leads/${l.id}/notes`);
});
// batch: notes of several leads, each naming its lead in entity_id
route('POST', '/leads/notes', (ctx) => addNotes(ctx, 'leads', (n) => leadOfNote(ctx, n), '/api/v4/leads/notes'));

route('GET', '/contacts', (ctx) => listEntities(ctx, { entity: 'contacts', key: 'contacts', items: ctx.acc.contacts, render: (c) => renderContact(ctx, c) }));
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
route('PATCH', '/contacts', (ctx) => updateEntityTags(ctx, 'contacts'));
route('PATCH', '/companies', (ctx) => updateEntityTags(ctx, 'companies'));
route('GET', '/companies', (ctx) => listEntities(ctx, { entity: 'companies', key: 'companies', items: ctx.acc.companies, render: (c) => renderCompany(ctx, c) }));
route('GET', '/customers', listCustomers);
route('POST', '/customers', createCustomers);
route('GET', '/customers/(\\d+)', (ctx, [id]) => getCustomer(ctx, id));
route('POST', '/customers/(\\d+)/link', (ctx, [id]) => linkCustomers(ctx, id));
route('POST', '/customers/link', (ctx) => linkCustomers(ctx));

route('GET', '/tasks', listTasks);
route('POST', '/tasks', addTasks);
route('GET', '/tasks/(\\d+)', (ctx, [id]) => getTask(ctx, id));

route('GET', '/webhooks', (ctx) => {
  const dest = ctx.url.searchParams.get('filter[destination]');
  const list = ctx.acc.webhooks.filter((w) => !dest || w.destination === dest);
  if (!list.length) return { status: 204 };
  return { status: 200, body: { _total_items: list.length, _links: link(ctx, '/api/v4/webhooks'), _embedded: { webhooks: list.map(renderWebhook) } } };
});
route('POST', '/webhooks', upsertWebhook);
route('DELETE', '/webhooks', (ctx) => {
  const b = ctx.body;
  if (!isRecord(b) || typeof b.destination !== 'string')
    throw validationFailed([{ request_id: '0', errors: [{ code: 'FieldMissing', path: 'destination', detail: 'This field is missing.' }] }]);
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
