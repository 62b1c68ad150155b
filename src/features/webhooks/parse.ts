/**
 * amoCRM's outgoing webhooks → typed events. Pure: no I/O.
 *
 * amoCRM posts `application/x-www-form-urlencoded` bodies in PHP's bracket notation:
 *
 *   leads[status][0][id]=123&leads[status][0][status_id]=142&leads[status][0][pipeline_id]=7
 *   &leads[status][0][old_status_id]=55&account[subdomain]=demo&account[id]=29000001
 *
 * i.e. `{entity}[{action}][{index}][{field}]…`, plus `account[…]`. One body can carry several
 * events (a status change comes as `leads[status]` and `leads[update]` together). The same tree as
 * JSON is accepted too (lists as arrays or as objects with numeric keys; scalars of any type).
 *
 * Every section `{entity}[{action}]` becomes events, one per entry. The sections the gateway knows
 * are typed (`lead.status`, …) and their ids are checked (a known section with a missing or
 * non-numeric id is a parse error). A section of a well-formed body that the gateway does not type
 * yet (companies, tasks, talks, restore, responsible, …) becomes an event of kind `unknown`: the
 * receiver stores it (the raw body is kept once per request), so nothing amoCRM tells us is lost and it can be typed
 * later. What is not an amoCRM webhook at all (no `account`, no section, not bracket-shaped,
 * an unsupported content type) is a `WebhookParseError`.
 */
import { createHash } from 'node:crypto';

export type WebhookEventKind = 'lead.added' | 'lead.updated' | 'lead.status' | 'lead.deleted' | 'contact.added' | 'contact.updated' | 'note.added' | 'unknown';

/** A string tree: every leaf is a string (JSON numbers/booleans are turned into strings). */
export type WebhookTree = { [key: string]: WebhookTree | string };

export interface ParsedWebhookEvent {
  kind: WebhookEventKind;
  /** the section it came from: `leads[status][0]` → entity `leads`, action `status`, index 0 */
  entity: string;
  action: string;
  index: number;
  leadId?: number;
  contactId?: number;
  noteId?: number;
  statusId?: number;
  pipelineId?: number;
  oldStatusId?: number;
  oldPipelineId?: number;
  /** the event's own time, unix seconds (`updated_at`, `last_modified`, a note's `date_create`…), when the payload has one */
  occurredAt?: number;
  /** lead / contact name, note text */
  name?: string;
  text?: string;
  /** the entry as sent */
  data: WebhookTree;
}

export interface ParsedWebhook {
  account: { id?: number; subdomain?: string };
  events: ParsedWebhookEvent[];
}

export class WebhookParseError extends Error {
  override name = 'WebhookParseError';
}

/** Bounds that keep a hostile body from costing much. */
const MAX_PAIRS = 10_000;
/** amoCRM sends a handful of events per call; far more is not amoCRM (and would be a write amplifier). */
const MAX_EVENTS = 500;
const MAX_DEPTH = 10;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

const isTree = (v: unknown): v is WebhookTree => typeof v === 'object' && v !== null && !Array.isArray(v);

function fail(message: string): never {
  throw new WebhookParseError(message);
}

/** `a[b][0][c]` → ['a', 'b', '0', 'c']; null when the key is not bracket notation. */
function splitKey(key: string): string[] | null {
  const m = /^([^[\]]+)((?:\[[^[\]]*\])*)$/.exec(key);
  if (!m) return null;
  // every group of both patterns takes part in a match (the bracket run and a bracket's content may be empty)
  const parts = [m[1]!];
  for (const b of m[2]!.matchAll(/\[([^[\]]*)\]/g)) parts.push(b[1]!);
  return parts;
}

/** Builds the tree of a form-encoded body (PHP bracket notation). */
export function formToTree(body: string): WebhookTree {
  const root: WebhookTree = {};
  // keys per node, kept as they are added: an `a[]=` append reads its index here instead of
  // counting the node's keys, which made n appends cost n² / 2
  const sizes = new WeakMap<WebhookTree, number>();
  const add = (node: WebhookTree, part: string, child: WebhookTree | string) => {
    node[part] = child;
    sizes.set(node, (sizes.get(node) ?? 0) + 1);
    return child;
  };
  let count = 0;
  for (const [key, value] of new URLSearchParams(body)) {
    if (++count > MAX_PAIRS) fail(`more than ${MAX_PAIRS} parameters`);
    const parts = splitKey(key);
    if (!parts) fail(`malformed parameter name "${key.slice(0, 80)}"`);
    if (parts.length > MAX_DEPTH) fail(`parameter "${key.slice(0, 80)}" is nested too deeply`);
    let node: WebhookTree = root;
    for (const [i, named] of parts.entries()) {
      let part = named;
      if (FORBIDDEN_KEYS.has(part)) fail(`forbidden parameter name "${part}"`);
      if (part === '') part = String(sizes.get(node) ?? 0); // `a[]=` appends
      const last = i === parts.length - 1;
      const existing: WebhookTree | string | undefined = Object.hasOwn(node, part) ? node[part] : undefined;
      if (last) {
        if (existing !== undefined) fail(`parameter "${key.slice(0, 80)}" is given twice or conflicts with another`);
        add(node, part, value);
      } else {
        if (typeof existing === 'string') fail(`parameter "${key.slice(0, 80)}" conflicts with another`);
        node = existing ?? (add(node, part, {}) as WebhookTree);
      }
    }
  }
  return root;
}

/** Normalizes a JSON value into a string tree (arrays → objects with index keys). */
function jsonToTree(value: unknown, depth = 0): WebhookTree | string {
  if (depth > MAX_DEPTH) fail('JSON body is nested too deeply');
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  const out: WebhookTree = {};
  const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value as object);
  for (const [k, v] of entries) {
    if (FORBIDDEN_KEYS.has(k)) fail(`forbidden key "${k}"`);
    out[k] = jsonToTree(v, depth + 1);
  }
  return out;
}

function bodyToTree(contentType: string | null | undefined, rawBody: string): WebhookTree {
  const type = (contentType ?? '').split(';', 1)[0]?.trim().toLowerCase() ?? '';
  const text = rawBody.trim();
  if (!text) fail('empty body');
  let json: boolean;
  if (type === 'application/x-www-form-urlencoded') json = false;
  else if (type === 'application/json' || type.endsWith('+json')) json = true;
  else if (type === '' || type === 'text/plain') json = text.startsWith('{');
  else fail(`unsupported content type "${type}"`);
  if (!json) return formToTree(text);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    fail('body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('JSON body is not an object');
  return jsonToTree(value) as WebhookTree;
}

/** A non-negative integer from a decimal string, else undefined. */
function int(v: WebhookTree | string | undefined): number | undefined {
  if (typeof v !== 'string' || !/^\d{1,15}$/.test(v.trim())) return undefined;
  return Number(v.trim());
}

function str(v: WebhookTree | string | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function requireId(v: WebhookTree | string | undefined, what: string, where: string): number {
  const n = int(v);
  if (n === undefined) fail(`${where}: ${what} is missing or not a number`);
  return n;
}

const KINDS: Record<string, Record<string, WebhookEventKind>> = {
  leads: { add: 'lead.added', update: 'lead.updated', status: 'lead.status', delete: 'lead.deleted', note: 'note.added' },
  contacts: { add: 'contact.added', update: 'contact.updated' },
};

function typeEntry(entity: string, action: string, index: number, data: WebhookTree): ParsedWebhookEvent {
  const kind = KINDS[entity]?.[action] ?? 'unknown';
  const ev: ParsedWebhookEvent = { kind, entity, action, index, data };
  const where = `${entity}[${action}][${index}]`;
  const time = (...keys: string[]) => {
    for (const k of keys) {
      const n = int(data[k]);
      if (n !== undefined && n > 0) return n;
    }
    return undefined;
  };
  switch (kind) {
    case 'lead.added':
    case 'lead.updated':
    case 'lead.status':
    case 'lead.deleted': {
      ev.leadId = requireId(data.id, 'id', where);
      ev.statusId = int(data.status_id);
      ev.pipelineId = int(data.pipeline_id);
      if (kind === 'lead.status') {
        if (ev.statusId === undefined) fail(`${where}: status_id is missing or not a number`);
        if (ev.pipelineId === undefined) fail(`${where}: pipeline_id is missing or not a number`);
        ev.oldStatusId = int(data.old_status_id);
        ev.oldPipelineId = int(data.old_pipeline_id);
      }
      ev.name = str(data.name);
      ev.occurredAt = kind === 'lead.added' ? time('created_at', 'date_create', 'updated_at', 'last_modified') : time('updated_at', 'last_modified');
      break;
    }
    case 'contact.added':
    case 'contact.updated':
      ev.contactId = requireId(data.id, 'id', where);
      ev.name = str(data.name);
      ev.occurredAt = kind === 'contact.added' ? time('created_at', 'date_create', 'updated_at', 'last_modified') : time('updated_at', 'last_modified');
      break;
    case 'note.added': {
      // leads[note][0][note][id|text|element_id|date_create…] and leads[note][0][type]=lead
      const note = isTree(data.note) ? data.note : data;
      ev.leadId = requireId(note.element_id, 'note element_id', where);
      ev.noteId = int(note.id);
      ev.text = str(note.text);
      ev.occurredAt = int(note.date_create) || int(note.created_at) || undefined;
      break;
    }
    case 'unknown':
      break;
  }
  return ev;
}

/**
 * Parses a webhook body (form-encoded or JSON) into its account and events.
 * Throws `WebhookParseError` when the body is not an amoCRM webhook.
 */
export function parseAmoWebhook(contentType: string | null | undefined, rawBody: string): ParsedWebhook {
  const tree = bodyToTree(contentType, rawBody);
  const accountNode = tree.account;
  if (!isTree(accountNode)) fail('not an amoCRM webhook: no account');
  const account: ParsedWebhook['account'] = {};
  if (accountNode.id !== undefined) {
    account.id = int(accountNode.id);
    if (account.id === undefined) fail('account[id] is not a number');
  }
  const subdomain = str(accountNode.subdomain)?.trim();
  if (subdomain) account.subdomain = subdomain;
  if (account.id === undefined && account.subdomain === undefined) fail('not an amoCRM webhook: account has neither id nor subdomain');

  const events: ParsedWebhookEvent[] = [];
  for (const [entity, actions] of Object.entries(tree)) {
    if (entity === 'account') continue;
    if (!/^[a-z_]{1,40}$/.test(entity)) fail(`not an amoCRM webhook: unexpected "${entity.slice(0, 40)}"`);
    if (!isTree(actions)) fail(`not an amoCRM webhook: "${entity}" is not a section`);
    for (const [action, entries] of Object.entries(actions)) {
      if (!/^[a-z_]{1,40}$/.test(action)) fail(`not an amoCRM webhook: unexpected "${entity}[${action.slice(0, 40)}]"`);
      if (!isTree(entries)) fail(`not an amoCRM webhook: "${entity}[${action}]" is not a list`);
      const indexes = Object.keys(entries);
      if (!indexes.length) fail(`${entity}[${action}] is empty`);
      for (const key of indexes.sort((a, b) => Number(a) - Number(b))) {
        const index = int(key);
        const entry = entries[key];
        if (index === undefined || !isTree(entry)) fail(`not an amoCRM webhook: "${entity}[${action}][${key.slice(0, 20)}]" is not an entry`);
        events.push(typeEntry(entity, action, index, entry));
        if (events.length > MAX_EVENTS) fail(`more than ${MAX_EVENTS} events in one webhook`);
      }
    }
  }
  if (!events.length) fail('not an amoCRM webhook: no events');
  return { account, events };
}

/** `JSON.stringify` with object keys sorted (a canonical form for hashing). */
function canonical(v: WebhookTree | string): string {
  if (typeof v === 'string') return JSON.stringify(v);
  return `{${Object.entries(v)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, child]) => `${JSON.stringify(k)}:${canonical(child)}`)
    .join(',')}}`;
}

/**
 * The deduplication key of one event: SHA-256 over its section (entity, action) and its entry's
 * content, not its position in the body nor the body's encoding, so a resent body, the same
 * event in another body, and the same event as JSON or as a form all hash alike.
 */
export function eventHash(event: Pick<ParsedWebhookEvent, 'entity' | 'action' | 'data'>): string {
  return createHash('sha256')
    .update(`${event.entity}\n${event.action}\n${canonical(event.data)}`)
    .digest('hex');
}
