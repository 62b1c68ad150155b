/**
 * What amoCRM sends out: event webhooks (form-encoded POSTs to subscribed destinations, retried
 * after a failure) and the integration's disconnect hook (signed GET).
 */
import { createHmac } from 'node:crypto';
import type { SimState } from './state.ts';
import type { Account, CustomFieldValue, Note, StoredLead, WebhookDelivery } from './types.ts';

type Section = Array<[string, string]>;

interface Triggered {
  event: string;
  /** flat `key=value` pairs, keys relative to the body root (e.g. `leads[status][0][id]`) */
  pairs: Section;
}

function customFieldPairs(acc: Account, entity: 'leads' | 'contacts', prefix: string, cfv: CustomFieldValue[] | null): Section {
  const out: Section = [];
  (cfv ?? []).forEach((entry, i) => {
    const f = acc.fields[entity].find((x) => (entry.field_id !== undefined ? x.id === entry.field_id : x.code === entry.field_code));
    if (!f) return;
    out.push([`${prefix}[custom_fields][${i}][id]`, String(f.id)], [`${prefix}[custom_fields][${i}][name]`, f.name]);
    if (f.code) out.push([`${prefix}[custom_fields][${i}][code]`, f.code]);
    (entry.values ?? []).forEach((v, j) => {
      const enumRef = f.enums?.find((e) => e.id === v.enum_id || e.value === v.enum_code);
      const value = v.value !== undefined ? (typeof v.value === 'object' ? JSON.stringify(v.value) : String(v.value)) : (enumRef?.value ?? '');
      out.push([`${prefix}[custom_fields][${i}][values][${j}][value]`, value]);
      if (enumRef) out.push([`${prefix}[custom_fields][${i}][values][${j}][enum]`, String(enumRef.id)]);
    });
  });
  return out;
}

function leadPairs(state: SimState, acc: Account, prefix: string, l: StoredLead, extra: Record<string, number | string> = {}): Section {
  const pairs: Section = [
    [`${prefix}[id]`, String(l.id)],
    [`${prefix}[name]`, l.name],
    [`${prefix}[status_id]`, String(l.status_id)],
    [`${prefix}[price]`, String(l.price)],
    [`${prefix}[responsible_user_id]`, String(l.responsible_user_id)],
    [`${prefix}[last_modified]`, String(l.updated_at)],
    [`${prefix}[modified_user_id]`, String(acc.current_user_id)],
    [`${prefix}[created_user_id]`, '0'],
    [`${prefix}[date_create]`, String(l.created_at)],
    [`${prefix}[pipeline_id]`, String(l.pipeline_id)],
    [`${prefix}[account_id]`, String(acc.id)],
  ];
  for (const [k, v] of Object.entries(extra)) pairs.push([`${prefix}[${k}]`, String(v)]);
  pairs.push(...customFieldPairs(acc, 'leads', prefix, l.custom_fields_values));
  pairs.push([`${prefix}[created_at]`, String(l.created_at)], [`${prefix}[updated_at]`, String(state.nowSec())]);
  return pairs;
}

function buildBody(acc: Account, state: SimState, sections: Triggered[]): string {
  const params = new URLSearchParams();
  for (const s of sections) for (const [k, v] of s.pairs) params.append(k, v);
  params.append('account[subdomain]', acc.subdomain);
  params.append('account[id]', String(acc.id));
  params.append('account[_links][self]', `${state.baseUrl}`);
  return params.toString();
}

async function attempt(state: SimState, url: string, body: string): Promise<{ status?: number; error?: string; durationMs: number }> {
  const started = Date.now();
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'amoCRM-Webhooks/3.0' },
      body,
      signal: AbortSignal.timeout(state.opts.webhookTimeoutMs),
    });
    await res.arrayBuffer().catch(() => undefined);
    return { status: res.status, durationMs: Date.now() - started };
  } catch (e) {
    const err = e as Error;
    return { error: err.name === 'TimeoutError' ? 'timeout' : err.message, durationMs: Date.now() - started };
  }
}

/** Sends one body to one destination, retrying after a failure with exponential backoff. */
export async function deliver(state: SimState, accountId: number, destination: string, events: string[], body: string): Promise<WebhookDelivery> {
  const delivery: WebhookDelivery = { id: state.nextId('delivery'), accountId, destination, events, body, attempts: [], ok: false };
  let list = state.deliveries.get(accountId);
  if (!list) state.deliveries.set(accountId, (list = []));
  list.push(delivery);
  for (let i = 0; i <= state.opts.webhookRetries; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, state.opts.webhookBackoffMs * 2 ** (i - 1)));
    const at = Date.now();
    const r = await attempt(state, destination, body);
    delivery.attempts.push({ at, ...r });
    if (r.status !== undefined && r.status >= 200 && r.status < 300) {
      delivery.ok = true;
      break;
    }
  }
  return delivery;
}

/** Sends the triggered events to every active webhook subscribed to at least one of them. */
function fire(state: SimState, acc: Account, triggered: Triggered[]): Promise<WebhookDelivery[]> {
  const jobs: Array<Promise<WebhookDelivery>> = [];
  for (const hook of [...acc.webhooks].sort((a, b) => a.sort - b.sort)) {
    if (hook.disabled) continue;
    const mine = triggered.filter((t) => hook.settings.includes(t.event));
    if (!mine.length) continue;
    jobs.push(
      deliver(
        state,
        acc.id,
        hook.destination,
        mine.map((t) => t.event),
        buildBody(acc, state, mine),
      ),
    );
  }
  return Promise.all(jobs);
}

export function changeLeadStatus(state: SimState, accountId: number, leadId: number, statusId: number, pipelineId?: number): Promise<WebhookDelivery[]> {
  const acc = state.account(accountId);
  const lead = state.findLead(acc, leadId);
  if (!lead) throw new Error(`amo-sim: unknown lead ${leadId}`);
  const pipeline = acc.pipelines.find((p) => p.id === (pipelineId ?? lead.pipeline_id));
  if (!pipeline || !pipeline.statuses.some((s) => s.id === statusId)) throw new Error(`amo-sim: status ${statusId} is not in pipeline ${pipelineId ?? lead.pipeline_id}`);
  const old = { status: lead.status_id, pipeline: lead.pipeline_id };
  lead.status_id = statusId;
  lead.pipeline_id = pipeline.id;
  lead.updated_at = state.nowSec();
  lead.written_ms = state.now();
  lead.closed_at = statusId === 142 || statusId === 143 ? lead.updated_at : null;
  const extra = { old_status_id: old.status, old_pipeline_id: old.pipeline };
  return fire(state, acc, [
    { event: 'status_lead', pairs: leadPairs(state, acc, 'leads[status][0]', lead, extra) },
    { event: 'update_lead', pairs: leadPairs(state, acc, 'leads[update][0]', lead) },
  ]);
}

export function deleteLead(state: SimState, accountId: number, leadId: number): Promise<WebhookDelivery[]> {
  const acc = state.account(accountId);
  const lead = state.findLead(acc, leadId);
  if (!lead) throw new Error(`amo-sim: unknown lead ${leadId}`);
  lead.is_deleted = true;
  return fire(state, acc, [
    {
      event: 'delete_lead',
      pairs: [
        ['leads[delete][0][id]', String(lead.id)],
        ['leads[delete][0][status_id]', String(lead.status_id)],
        ['leads[delete][0][pipeline_id]', String(lead.pipeline_id)],
      ],
    },
  ]);
}

export function updateContact(
  state: SimState,
  accountId: number,
  contactId: number,
  patch: { name?: string; first_name?: string; last_name?: string; responsible_user_id?: number; custom_fields_values?: CustomFieldValue[] | null } = {},
): Promise<WebhookDelivery[]> {
  const acc = state.account(accountId);
  const c = acc.contacts.find((x) => x.id === contactId);
  if (!c) throw new Error(`amo-sim: unknown contact ${contactId}`);
  Object.assign(c, structuredClone(patch));
  c.updated_at = state.nowSec();
  c.written_ms = state.now();
  const p = 'contacts[update][0]';
  const pairs: Section = [
    [`${p}[id]`, String(c.id)],
    [`${p}[name]`, c.name],
    [`${p}[responsible_user_id]`, String(c.responsible_user_id)],
    [`${p}[date_create]`, String(c.created_at)],
    [`${p}[last_modified]`, String(c.updated_at)],
    [`${p}[created_user_id]`, '0'],
    [`${p}[modified_user_id]`, String(acc.current_user_id)],
    [`${p}[account_id]`, String(acc.id)],
    ...customFieldPairs(acc, 'contacts', p, c.custom_fields_values),
    [`${p}[created_at]`, String(c.created_at)],
    [`${p}[updated_at]`, String(c.updated_at)],
    [`${p}[type]`, 'contact'],
  ];
  return fire(state, acc, [{ event: 'update_contact', pairs }]);
}

export function addNote(state: SimState, accountId: number, leadId: number, text: string): { note: Note; deliveries: Promise<WebhookDelivery[]> } {
  const acc = state.account(accountId);
  const lead = state.findLead(acc, leadId);
  if (!lead) throw new Error(`amo-sim: unknown lead ${leadId}`);
  const now = state.nowSec();
  const note: Note = {
    id: state.nextId('note'),
    entity_id: lead.id,
    entity_type: 'leads',
    note_type: 'common',
    params: { text },
    created_by: acc.current_user_id,
    created_at: now,
    updated_at: now,
  };
  acc.notes.push(note);
  const p = 'leads[note][0][note]';
  const deliveries = fire(state, acc, [
    {
      event: 'note_lead',
      pairs: [
        [`${p}[id]`, String(note.id)],
        [`${p}[text]`, text],
        [`${p}[note_type]`, '4'],
        [`${p}[element_id]`, String(lead.id)],
        [`${p}[element_type]`, '2'],
        [`${p}[date_create]`, String(now)],
        [`${p}[created_by]`, String(note.created_by)],
        [`${p}[main_user_id]`, String(lead.responsible_user_id)],
        [`${p}[account_id]`, String(acc.id)],
        ['leads[note][0][type]', 'lead'],
      ],
    },
  ]);
  return { note, deliveries };
}

export function replayLastWebhook(state: SimState, accountId: number): Promise<WebhookDelivery> {
  const last = state.deliveries.get(accountId)?.at(-1);
  if (!last) throw new Error(`amo-sim: no webhook was sent for account ${accountId}`);
  return deliver(state, accountId, last.destination, last.events, last.body);
}

export function disconnectSignature(clientId: string, accountId: number | string, clientSecret: string): string {
  return createHmac('sha256', clientSecret).update(`${clientId}|${accountId}`).digest('hex');
}

export interface DisconnectHookOptions {
  /** which integration (default: the main one) */
  clientId?: string;
  /** override the signature (e.g. to test a forged hook) */
  signature?: string;
  /** name of the client parameter (amoCRM docs disagree): default `client_uuid` */
  clientParam?: 'client_uuid' | 'client_id';
}

/** GET `url?account_id&client_uuid&signature` like amoCRM does when the integration is removed; returns the HTTP status (0 on a network error). */
export async function sendDisconnectHook(state: SimState, accountId: number, url: string, opts: DisconnectHookOptions = {}): Promise<number> {
  const integration = state.integrations.get(opts.clientId ?? state.mainIntegration().clientId);
  if (!integration) throw new Error(`amo-sim: unknown client ${opts.clientId}`);
  const target = new URL(url);
  target.searchParams.set('account_id', String(accountId));
  target.searchParams.set(opts.clientParam ?? 'client_uuid', integration.clientId);
  target.searchParams.set('signature', opts.signature ?? disconnectSignature(integration.clientId, accountId, integration.clientSecret));
  try {
    const res = await fetch(target, { signal: AbortSignal.timeout(5000) });
    await res.arrayBuffer().catch(() => undefined);
    return res.status;
  } catch {
    return 0;
  }
}
