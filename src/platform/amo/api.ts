/** Typed amoCRM API v4 calls on top of `AmoClient.request` / `paginate` (also exposed as client methods). */
import type { AmoClient } from './client.ts';
import { AmoNotFoundError, AmoPaymentRequiredError } from './errors.ts';
import type {
  AmoAccountInfo,
  AmoComplexLeadAnswer,
  AmoComplexLeadInput,
  AmoComplexLeadResult,
  AmoCustomField,
  AmoCustomFieldInput,
  AmoEntity,
  AmoLead,
  AmoNoteCreated,
  AmoNoteInput,
  AmoPipeline,
  AmoTag,
  AmoUser,
  AmoWebhook,
  HalPage,
} from './types.ts';

type Client = Pick<AmoClient, 'request' | 'paginate' | 'listAll'>;

/** amoCRM's limit on `POST /api/v4/leads/complex`. */
export const MAX_COMPLEX_LEADS = 50;

const ENTITIES: readonly AmoEntity[] = ['leads', 'contacts', 'companies', 'customers'];
function checkEntity(entity: AmoEntity): void {
  if (!ENTITIES.includes(entity)) throw new TypeError(`unknown amoCRM entity "${String(entity)}"`);
}

/** A list where "feature off" (402; 404 for customers) means "none". */
async function listOrNone<T>(client: Client, entity: AmoEntity, run: () => Promise<T[]>): Promise<T[]> {
  try {
    return await run();
  } catch (e) {
    if (e instanceof AmoPaymentRequiredError) return [];
    if (entity === 'customers' && e instanceof AmoNotFoundError) return [];
    throw e;
  }
}

export async function getAccount(client: Client, withParams?: string[]): Promise<AmoAccountInfo> {
  const res = await client.request<AmoAccountInfo>('GET', 'account', { query: { with: withParams?.length ? withParams : undefined } });
  if (!res) throw new AmoNotFoundError('amoCRM answered GET /api/v4/account with no content');
  return res;
}

export function listUsers(client: Client): Promise<AmoUser[]> {
  return client.listAll<AmoUser>('users', 'users');
}

/** Pipelines with their statuses in `_embedded.statuses` (amoCRM does not paginate this list). */
export function listPipelines(client: Client): Promise<AmoPipeline[]> {
  return client.listAll<AmoPipeline>('leads/pipelines', 'pipelines', { pageSize: null });
}

/** Custom fields of an entity; [] when the feature is off (402, e.g. customers). */
export function listCustomFields(client: Client, entity: AmoEntity): Promise<AmoCustomField[]> {
  checkEntity(entity);
  return listOrNone(client, entity, () => client.listAll<AmoCustomField>(`${entity}/custom_fields`, 'custom_fields'));
}

export async function createCustomFields(client: Client, entity: AmoEntity, fields: AmoCustomFieldInput[]): Promise<AmoCustomField[]> {
  checkEntity(entity);
  if (fields.length === 0) return [];
  const res = await client.request<HalPage<'custom_fields', AmoCustomField>>('POST', `${entity}/custom_fields`, { body: fields });
  return res?._embedded?.custom_fields ?? [];
}

/** Tags of an entity; [] when the feature is off (402). */
export function listTags(client: Client, entity: AmoEntity): Promise<AmoTag[]> {
  checkEntity(entity);
  return listOrNone(client, entity, () => client.listAll<AmoTag>(`${entity}/tags`, 'tags'));
}

/** amoCRM answers `request_id` as an array of strings (sometimes a plain string): always an array here. */
export function normalizeRequestId(v: unknown): string[] {
  if (Array.isArray(v)) return v.map(String);
  if (v === undefined || v === null || v === '') return [];
  return [String(v)];
}

/**
 * `POST /api/v4/leads/complex` (at most 50 leads). Not idempotent: amoCRM does not deduplicate,
 * so a timeout/5xx is not retried (the error has `maybeProcessed`). Pass `idempotent: true` only
 * when a repeat cannot create a duplicate.
 */
export async function createLeadsComplex(client: Client, leads: AmoComplexLeadInput[], options: { idempotent?: boolean } = {}): Promise<AmoComplexLeadResult[]> {
  if (leads.length === 0) return [];
  if (leads.length > MAX_COMPLEX_LEADS) throw new RangeError(`leads/complex takes at most ${MAX_COMPLEX_LEADS} leads per call (got ${leads.length})`);
  const res = await client.request<AmoComplexLeadAnswer[]>('POST', 'leads/complex', { body: leads, idempotent: options.idempotent ?? false });
  const list = Array.isArray(res) ? res : [];
  return list.map((r) => ({
    id: Number(r.id),
    contact_id: r.contact_id ?? null,
    company_id: r.company_id ?? null,
    request_id: normalizeRequestId(r.request_id),
    merged: Boolean(r.merged),
  }));
}

/** Adds notes to a lead; a string is one `common` note with that text. */
export async function addLeadNotes(client: Client, leadId: number, notes: AmoNoteInput[] | string): Promise<AmoNoteCreated[]> {
  const body: AmoNoteInput[] = typeof notes === 'string' ? [{ note_type: 'common', params: { text: notes } }] : notes;
  if (body.length === 0) return [];
  const res = await client.request<HalPage<'notes', AmoNoteCreated>>('POST', `leads/${Number(leadId)}/notes`, { body });
  return res?._embedded?.notes ?? [];
}

/** Notes per `POST /api/v4/{entity}/notes` call made here (amoCRM takes more; 50 matches leads/complex). */
export const MAX_BATCH_NOTES = 50;

/** One note of a batch: the entity it belongs to, and a `request_id` amoCRM echoes and names in errors. */
export interface AmoBatchNoteInput extends AmoNoteInput {
  entity_id: number;
}

/**
 * `POST /api/v4/{entity}/notes`: notes for several entities of one type in one call (at most
 * `MAX_BATCH_NOTES`). amoCRM validates the whole request first: one bad note (an `entity_id` that
 * is not a live entity of the account, a bad type) rejects all of them with 400
 * `validation-errors` naming its `request_id`, and nothing is stored. Not idempotent (amoCRM does
 * not deduplicate notes): after a timeout / reset / 5xx it throws with `maybeProcessed`. The
 * answer is amoCRM's `_embedded.notes` (`id`, `entity_id`, `request_id` as a string).
 */
export async function addNotesBatch(client: Client, entity: AmoEntity, notes: AmoBatchNoteInput[]): Promise<AmoNoteCreated[]> {
  checkEntity(entity);
  if (notes.length === 0) return [];
  if (notes.length > MAX_BATCH_NOTES) throw new RangeError(`${entity}/notes takes at most ${MAX_BATCH_NOTES} notes per call here (got ${notes.length})`);
  const res = await client.request<HalPage<'notes', AmoNoteCreated>>('POST', `${entity}/notes`, { body: notes, idempotent: false });
  const list = res?._embedded?.notes;
  return (Array.isArray(list) ? list : []).map((n) => {
    const rid = normalizeRequestId(n?.request_id)[0];
    return { id: Number(n?.id), entity_id: Number(n?.entity_id), ...(rid !== undefined ? { request_id: rid } : {}) };
  });
}

/** `GET /api/v4/leads?query=…`, every page (or the first `maxItems`). */
export async function searchLeads(client: Client, query: string, options: { maxItems?: number } = {}): Promise<AmoLead[]> {
  const out: AmoLead[] = [];
  const max = options.maxItems ?? Infinity;
  if (max <= 0) return out;
  for await (const lead of client.paginate<AmoLead>('leads', 'leads', { query: { query } })) {
    out.push(lead);
    if (out.length >= max) break;
  }
  return out;
}

/** A lead by id (`with`, e.g. ['contacts']); null when amoCRM has none (204/404). */
export async function getLead(client: Client, id: number, withParams?: string[]): Promise<AmoLead | null> {
  try {
    return await client.request<AmoLead>('GET', `leads/${Number(id)}`, { query: { with: withParams?.length ? withParams : undefined } });
  } catch (e) {
    if (e instanceof AmoNotFoundError) return null;
    throw e;
  }
}

/** Subscribes `destination` to `events` (amoCRM upserts by destination, so this is idempotent). */
export async function subscribeWebhook(client: Client, destination: string, events: string[]): Promise<AmoWebhook> {
  const res = await client.request<AmoWebhook>('POST', 'webhooks', { body: { destination, settings: events }, idempotent: true });
  if (!res) throw new AmoNotFoundError('amoCRM answered the webhook subscription with no content');
  return res;
}

export async function unsubscribeWebhook(client: Client, destination: string): Promise<void> {
  await client.request('DELETE', 'webhooks', { body: { destination } });
}
