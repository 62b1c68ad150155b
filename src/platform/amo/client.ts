/**
 * The amoCRM API v4 client bound to one gateway account (`AmoAccount.id`): the one typed surface
 * of every amoCRM call of the product. Each call takes an optional `signal` (an aborted call
 * rejects with the signal's reason) and goes through the transport (transport.ts): account state
 * checks and tokens (an `AccountAccess`: account-store.ts over PostgreSQL), the shared
 * per-account rate limit, retries with backoff, amoCRM's answers turned into typed errors. The
 * OAuth callback's account read, before the account is stored, goes through it too (session.ts),
 * and token requests take slots of the same limiter (tokens.ts). Clients are built in
 * create-client.ts. The class is built in layers: the shared core (client-base.ts), tags and
 * tasks (client-tags-tasks.ts), and the rest here.
 */
import { normalizeRequestId } from './answers.ts';
import { checkEntity, type CallOptions, type EntityListOptions, type SearchOptions, type SendOptions } from './client-base.ts';
import { AmoTagsAndTasksClient } from './client-tags-tasks.ts';
import { AmoNotFoundError } from './errors.ts';
import type { QueryValue } from './transport.ts';
import type {
  AmoAccountInfo,
  AmoBatchNoteInput,
  AmoCompany,
  AmoComplexLeadAnswer,
  AmoComplexLeadInput,
  AmoComplexLeadResult,
  AmoContact,
  AmoCreatedWindow,
  AmoCustomer,
  AmoCustomerCreated,
  AmoCustomerInput,
  AmoCustomerLink,
  AmoCustomField,
  AmoCustomFieldInput,
  AmoEntity,
  AmoLead,
  AmoNote,
  AmoNoteCreated,
  AmoNoteInput,
  AmoPipeline,
  AmoUser,
  AmoWebhook,
  HalPage,
} from './types.ts';

export type { CallOptions, EntityListOptions, SearchOptions, SendOptions } from './client-base.ts';

/** amoCRM's limit on `POST /api/v4/leads/complex`. */
export const MAX_COMPLEX_LEADS = 50;
/** Notes per `POST /api/v4/{entity}/notes` call made here (amoCRM takes more; 50 matches leads/complex). */
export const MAX_BATCH_NOTES = 50;

const withQuery = (withParams?: string[]) => ({ with: withParams?.length ? withParams : undefined });
const windowQuery = (w: AmoCreatedWindow): Record<string, QueryValue> => ({ 'filter[created_at][from]': w.from, 'filter[created_at][to]': w.to, 'order[id]': 'asc' });

export class AmoClient extends AmoTagsAndTasksClient {
  async getAccount(withParams?: string[], options: CallOptions = {}): Promise<AmoAccountInfo> {
    const res = await this.http.request<AmoAccountInfo>('GET', 'account', { query: withQuery(withParams), signal: options.signal });
    if (!res) throw new AmoNotFoundError('amoCRM answered GET /api/v4/account with no content');
    return res;
  }

  listUsers(options: CallOptions = {}): Promise<AmoUser[]> {
    return this.http.listAll<AmoUser>('users', 'users', { signal: options.signal });
  }

  /** Pipelines with their statuses in `_embedded.statuses` (amoCRM does not paginate this list). */
  listPipelines(options: CallOptions = {}): Promise<AmoPipeline[]> {
    return this.http.listAll<AmoPipeline>('leads/pipelines', 'pipelines', { pageSize: null, signal: options.signal });
  }

  /** Custom fields of an entity; [] when the feature is off (402, e.g. customers; see `whenOff`). */
  listCustomFields(entity: AmoEntity, options: EntityListOptions = {}): Promise<AmoCustomField[]> {
    return this.listOrNone<AmoCustomField>(entity, 'custom_fields', 'custom_fields', options);
  }

  /** Not idempotent (a POST): a timeout / 5xx throws with `maybeProcessed`. */
  async createCustomFields(entity: AmoEntity, fields: AmoCustomFieldInput[], options: CallOptions = {}): Promise<AmoCustomField[]> {
    checkEntity(entity);
    if (fields.length === 0) return [];
    const res = await this.http.request<HalPage<'custom_fields', AmoCustomField>>('POST', `${entity}/custom_fields`, { body: fields, signal: options.signal });
    return res?._embedded?.custom_fields ?? [];
  }

  /**
   * `POST /api/v4/leads/complex` (at most 50 leads). Not idempotent by default: amoCRM does not
   * deduplicate, so a timeout/5xx is not retried (the error has `maybeProcessed`). Pass
   * `idempotent: true` only when a repeat cannot create a duplicate.
   */
  async createLeadsComplex(leads: AmoComplexLeadInput[], options: SendOptions = {}): Promise<AmoComplexLeadResult[]> {
    if (leads.length === 0) return [];
    if (leads.length > MAX_COMPLEX_LEADS) throw new RangeError(`leads/complex takes at most ${MAX_COMPLEX_LEADS} leads per call (got ${leads.length})`);
    const res = await this.http.request<AmoComplexLeadAnswer[]>('POST', 'leads/complex', { body: leads, idempotent: options.idempotent ?? false, signal: options.signal });
    return (Array.isArray(res) ? res : []).map((r) => ({
      id: Number(r?.id),
      contact_id: r?.contact_id ?? null,
      company_id: r?.company_id ?? null,
      request_id: normalizeRequestId(r?.request_id),
      merged: Boolean(r?.merged),
    }));
  }

  /** Adds notes to a lead; a string is one `common` note with that text. Not idempotent. */
  async addLeadNotes(leadId: number, notes: AmoNoteInput[] | string, options: CallOptions = {}): Promise<AmoNoteCreated[]> {
    const body: AmoNoteInput[] = typeof notes === 'string' ? [{ note_type: 'common', params: { text: notes } }] : notes;
    if (body.length === 0) return [];
    const res = await this.http.request<HalPage<'notes', AmoNoteCreated>>('POST', `leads/${Number(leadId)}/notes`, { body, signal: options.signal });
    return res?._embedded?.notes ?? [];
  }

  /**
   * `POST /api/v4/{entity}/notes`: notes for several entities of one type in one call (at most
   * `MAX_BATCH_NOTES`). amoCRM validates the whole request first: one bad note (an `entity_id` that
   * is not a live entity of the account, a bad type) rejects all of them with 400
   * `validation-errors` naming its `request_id`, and nothing is stored. Not idempotent (amoCRM does
   * not deduplicate notes): after a timeout / reset / 5xx it throws with `maybeProcessed`. The
   * answer is amoCRM's `_embedded.notes` (`id`, `entity_id`, `request_id` as a string).
   */
  async addNotesBatch(entity: AmoEntity, notes: AmoBatchNoteInput[], options: CallOptions = {}): Promise<AmoNoteCreated[]> {
    checkEntity(entity);
    if (notes.length === 0) return [];
    if (notes.length > MAX_BATCH_NOTES) throw new RangeError(`${entity}/notes takes at most ${MAX_BATCH_NOTES} notes per call here (got ${notes.length})`);
    const res = await this.http.request<HalPage<'notes', AmoNoteCreated>>('POST', `${entity}/notes`, { body: notes, idempotent: false, signal: options.signal });
    const list = res?._embedded?.notes;
    return (Array.isArray(list) ? list : []).map((n) => {
      const rid = normalizeRequestId(n?.request_id)[0];
      return { id: Number(n?.id), entity_id: Number(n?.entity_id), ...(rid !== undefined ? { request_id: rid } : {}) };
    });
  }

  /** Every note of a lead (`GET /api/v4/leads/{id}/notes`, every page). */
  listLeadNotes(leadId: number, options: CallOptions = {}): Promise<AmoNote[]> {
    return this.http.listAll<AmoNote>(`leads/${Number(leadId)}/notes`, 'notes', { signal: options.signal });
  }

  /** `GET /api/v4/leads?query=…`, every page (or the first `maxItems`). */
  async searchLeads(query: string, options: CallOptions & { maxItems?: number } = {}): Promise<AmoLead[]> {
    const out: AmoLead[] = [];
    const max = options.maxItems ?? Infinity;
    if (max <= 0) return out;
    for await (const lead of this.http.paginate<AmoLead>('leads', 'leads', { query: { query }, signal: options.signal })) {
      out.push(lead);
      if (out.length >= max) break;
    }
    return out;
  }

  /** The leads created in `window`, oldest first, every page (`with`, e.g. ['contacts']). */
  listLeads(window: AmoCreatedWindow, options: CallOptions & { with?: string[] } = {}): Promise<AmoLead[]> {
    return this.http.listAll<AmoLead>('leads', 'leads', { query: { ...windowQuery(window), ...withQuery(options.with) }, signal: options.signal });
  }

  /** A lead by id (`with`, e.g. ['contacts']); null when amoCRM has none (204/404). */
  async getLead(id: number, withParams?: string[], options: CallOptions = {}): Promise<AmoLead | null> {
    try {
      return await this.http.request<AmoLead>('GET', `leads/${Number(id)}`, { query: withQuery(withParams), signal: options.signal });
    } catch (e) {
      if (e instanceof AmoNotFoundError) return null;
      throw e;
    }
  }

  private async search<T>(entity: 'contacts' | 'companies', query: string, options: SearchOptions): Promise<T[]> {
    const page = await this.http.request<HalPage<string, T>>('GET', entity, {
      query: { query, limit: options.limit ?? 50, 'order[id]': 'asc' },
      idempotent: options.idempotent,
      signal: options.signal,
    });
    return page?._embedded?.[entity] ?? [];
  }

  /** One page of the contacts matching `query` (full-text), oldest first; retried like any GET unless `idempotent: false`. */
  searchContacts(query: string, options: SearchOptions = {}): Promise<AmoContact[]> {
    return this.search<AmoContact>('contacts', query, options);
  }

  /** One page of the companies matching `query`, like `searchContacts`. */
  searchCompanies(query: string, options: SearchOptions = {}): Promise<AmoCompany[]> {
    return this.search<AmoCompany>('companies', query, options);
  }

  /** `POST /api/v4/customers`. Not idempotent (amoCRM does not deduplicate): a timeout / 5xx throws with `maybeProcessed`. */
  async createCustomers(customers: AmoCustomerInput[], options: CallOptions = {}): Promise<AmoCustomerCreated[]> {
    if (customers.length === 0) return [];
    const res = await this.http.request<HalPage<'customers', { id: number; request_id?: unknown }>>('POST', 'customers', {
      body: customers,
      idempotent: false,
      signal: options.signal,
    });
    const list = res?._embedded?.customers;
    return (Array.isArray(list) ? list : []).map((c) => {
      const rid = normalizeRequestId(c?.request_id)[0];
      return { id: Number(c?.id), ...(rid !== undefined ? { request_id: rid } : {}) };
    });
  }

  /** `POST /api/v4/customers/link`. Idempotent (linking twice is a no-op in amoCRM): retried like a GET. */
  async linkCustomers(links: AmoCustomerLink[], options: CallOptions = {}): Promise<void> {
    if (links.length === 0) return;
    await this.http.request('POST', 'customers/link', { body: links, idempotent: true, signal: options.signal });
  }

  /** The customers created in `window`, oldest first, every page. */
  listCustomers(window: AmoCreatedWindow, options: CallOptions = {}): Promise<AmoCustomer[]> {
    return this.http.listAll<AmoCustomer>('customers', 'customers', { query: windowQuery(window), signal: options.signal });
  }

  /** Subscribes `destination` to `events` (amoCRM upserts by destination, so this is idempotent). */
  async subscribeWebhook(destination: string, events: string[], options: CallOptions = {}): Promise<AmoWebhook> {
    const res = await this.http.request<AmoWebhook>('POST', 'webhooks', { body: { destination, settings: events }, idempotent: true, signal: options.signal });
    if (!res) throw new AmoNotFoundError('amoCRM answered the webhook subscription with no content');
    return res;
  }

  async unsubscribeWebhook(destination: string, options: CallOptions = {}): Promise<void> {
    await this.http.request('DELETE', 'webhooks', { body: { destination }, signal: options.signal });
  }
}
