/**
 * Shared types of the amoCRM (Kommo) API v4 simulator.
 * Shapes follow what amoCRM answers; fields the simulator does not model are left out.
 */

export type EntityType = 'leads' | 'contacts' | 'companies' | 'customers';
export const ENTITY_TYPES: readonly EntityType[] = ['leads', 'contacts', 'companies', 'customers'];

export const FIELD_TYPES = [
  'text',
  'numeric',
  'checkbox',
  'select',
  'multiselect',
  'multitext',
  'date',
  'date_time',
  'birthday',
  'url',
  'textarea',
  'radiobutton',
  'streetaddress',
  'smart_address',
  'legal_entity',
  'tracking_data',
  'monetary',
  'price',
  'category',
  'items',
  'linked_entity',
  'chained_list',
  'file',
] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

export interface UserRights {
  leads: Record<string, string>;
  contacts: Record<string, string>;
  companies: Record<string, string>;
  tasks: Record<string, string>;
  mail_access: boolean;
  catalog_access: boolean;
  files_access: boolean;
  status_rights: Array<{ entity_type: string; pipeline_id: number; status_id: number; rights: Record<string, string> }>;
  is_admin: boolean;
  is_free: boolean;
  is_active: boolean;
  group_id: number | null;
  role_id: number | null;
}

export interface User {
  id: number;
  name: string;
  email: string;
  lang: string;
  rights: UserRights;
}

export interface Status {
  id: number;
  name: string;
  sort: number;
  is_editable: boolean;
  pipeline_id: number;
  color: string;
  /** 1 = unsorted ("Неразобранное"), 0 = regular. */
  type: 0 | 1;
  account_id: number;
}

export interface Pipeline {
  id: number;
  name: string;
  sort: number;
  is_main: boolean;
  is_unsorted_on: boolean;
  is_archive: boolean;
  account_id: number;
  statuses: Status[];
}

export interface FieldEnum {
  id: number;
  value: string;
  sort: number;
}

export interface CustomField {
  id: number;
  name: string;
  type: FieldType;
  code: string | null;
  sort: number;
  entity_type: EntityType;
  account_id: number;
  is_predefined: boolean;
  is_deletable: boolean;
  is_visible: boolean;
  is_required: boolean;
  is_api_only: boolean;
  group_id: string | null;
  required_statuses: Array<{ status_id: number; pipeline_id: number }>;
  remind: string | null;
  settings: Record<string, unknown> | null;
  enums: FieldEnum[] | null;
  /** category fields: the nested options */
  nested: Array<{ id: number; parent_id: number | null; value: string; sort: number }> | null;
  /** chained_list fields */
  chained_lists: Array<{ title: string; catalog_id: number; parent_catalog_id: number }> | null;
}

export interface Tag {
  id: number;
  name: string;
  color: string | null;
}

export interface CustomFieldValue {
  field_id?: number;
  field_code?: string;
  values: Array<Record<string, unknown>>;
  [k: string]: unknown;
}

export interface Note {
  id: number;
  entity_id: number;
  entity_type: 'leads' | 'contacts';
  note_type: string;
  params: Record<string, unknown>;
  created_by: number;
  created_at: number;
  updated_at: number;
  request_id?: string;
}

export interface StoredContact {
  id: number;
  name: string;
  first_name: string;
  last_name: string;
  responsible_user_id: number;
  custom_fields_values: CustomFieldValue[] | null;
  tags: Tag[];
  created_at: number;
  updated_at: number;
  /** simulator clock (epoch ms) of the last write; `query` search sees it `searchDelayMs` later */
  written_ms?: number;
  /** the contact object exactly as it was received */
  raw: unknown;
}

export interface StoredCompany {
  id: number;
  name: string;
  responsible_user_id: number;
  custom_fields_values: CustomFieldValue[] | null;
  tags: Tag[];
  created_at: number;
  updated_at: number;
  written_ms?: number;
  raw: unknown;
}

export interface LeadMetadata {
  category?: string;
  form_id?: string | number;
  form_name?: string;
  form_page?: string;
  form_sent_at?: number;
  ip?: string;
  referer?: string;
  [k: string]: unknown;
}

export interface StoredLead {
  id: number;
  name: string;
  price: number;
  pipeline_id: number;
  status_id: number;
  responsible_user_id: number;
  custom_fields_values: CustomFieldValue[] | null;
  tags: Tag[];
  contact_id: number | null;
  company_id: number | null;
  metadata: LeadMetadata | null;
  request_id: string | null;
  merged: boolean;
  is_deleted: boolean;
  created_at: number;
  updated_at: number;
  closed_at: number | null;
  written_ms?: number;
  /** the lead object exactly as it was received (POST /api/v4/leads/complex) */
  raw: unknown;
}

export interface StoredCustomer {
  id: number;
  name: string;
  next_price: number;
  next_date: number | null;
  responsible_user_id: number;
  custom_fields_values: CustomFieldValue[] | null;
  tags: Tag[];
  /** linked entities (POST customers/link) */
  contact_ids: number[];
  company_ids: number[];
  lead_ids: number[];
  request_id: string | null;
  created_at: number;
  updated_at: number;
  written_ms?: number;
  /** the customer object exactly as it was received */
  raw: unknown;
}

/** A stored lead together with its contact, company and notes (what `leads(accountId)` returns). */
export interface LeadView extends StoredLead {
  contact: StoredContact | null;
  company: StoredCompany | null;
  notes: Note[];
}

export interface Webhook {
  id: number;
  destination: string;
  settings: string[];
  sort: number;
  disabled: boolean;
  created_at: number;
  updated_at: number;
  account_id: number;
  created_by: number;
}

/**
 * Ways real amoCRM accounts differ, switchable per account (`setAccountOptions`).
 * The defaults are what the simulator did before these existed.
 */
export interface AccountOptions {
  /** false: the token's user is no admin, so creating custom fields answers 403 (default true) */
  tokenUserIsAdmin: boolean;
  /** most custom fields an entity may have; creating past it is a FieldsLimitExceeded validation error (default null = none) */
  customFieldLimit: number | null;
  /** POST …/custom_fields answers this status as problem+json (default null = handled normally) */
  customFieldsCreateStatus: number | null;
  /** false: no Unsorted (pipelines say is_unsorted_on: false; leads with metadata are rejected) (default true) */
  unsortedEnabled: boolean;
  /** a responsible user with rights.is_active false is a validation error (default true) */
  rejectInactiveResponsible: boolean;
  /** values of is_api_only fields are found by `query` (default true) */
  searchIndexesApiOnly: boolean;
  /** `query` finds an entity only this long after it was written (default 0) */
  searchDelayMs: number;
  /** per-account override of the simulator-wide `blockAfter429s` (default null = the simulator's) */
  blockAfter429s: number | null;
}

export const DEFAULT_ACCOUNT_OPTIONS: AccountOptions = {
  tokenUserIsAdmin: true,
  customFieldLimit: null,
  customFieldsCreateStatus: null,
  unsortedEnabled: true,
  rejectInactiveResponsible: true,
  searchIndexesApiOnly: true,
  searchDelayMs: 0,
  blockAfter429s: null,
};

export interface Account extends AccountOptions {
  id: number;
  name: string;
  subdomain: string;
  country: string;
  currency: string;
  currency_symbol: string;
  created_at: number;
  current_user_id: number;
  customersEnabled: boolean;
  /** merge contacts by phone/email on leads/complex with metadata */
  duplicateControl: boolean;
  users: User[];
  pipelines: Pipeline[];
  fields: Record<EntityType, CustomField[]>;
  tags: Record<EntityType, Tag[]>;
  leads: StoredLead[];
  contacts: StoredContact[];
  companies: StoredCompany[];
  customers: StoredCustomer[];
  notes: Note[];
  webhooks: Webhook[];
}

export interface SeedAccountOptions {
  id?: number;
  subdomain?: string;
  name?: string;
  users?: number | Array<Partial<User> & { name: string }>;
  pipelines?: number | Array<Partial<Omit<Pipeline, 'statuses'>> & { name: string; statuses?: Array<Partial<Status> & { name: string }> }>;
  /** regular statuses per generated pipeline, besides the unsorted one and 142/143 (default 4) */
  statusesPerPipeline?: number;
  /** user-defined fields per entity besides the predefined ones (default: one of every type) */
  fieldsPerEntity?: number | Partial<Record<EntityType, number>>;
  tagsPerEntity?: number | Partial<Record<EntityType, number>>;
  customersEnabled?: boolean;
  duplicateControl?: boolean;
  /** per-account switches (see AccountOptions); also settable later with setAccountOptions */
  options?: Partial<AccountOptions>;
  /** PRNG seed for the generated data (default: derived from the account id) */
  seed?: number;
}

export interface Integration {
  clientId: string;
  clientSecret: string;
  redirectUri: string;
}

export type Fault =
  /** `after: true`: the request is processed (a lead is stored), then the 5xx replaces the answer */
  | { kind: '5xx'; status?: number; count?: number; path?: string | RegExp; after?: boolean }
  | { kind: 'slow'; delayMs: number; count?: number; path?: string | RegExp }
  /** processed, then the answer waits delayMs */
  | { kind: 'slowAfter'; delayMs: number; count?: number; path?: string | RegExp }
  /** processed, then the socket is destroyed without an answer */
  | { kind: 'resetAfter'; count?: number; path?: string | RegExp }
  | { kind: '429'; count?: number; retryAfterSec?: number; path?: string | RegExp }
  | { kind: 'block'; path?: string | RegExp }
  | { kind: 'reset'; count?: number; path?: string | RegExp };

export interface RequestLogEntry {
  method: string;
  /** path with query string */
  path: string;
  status: number;
  /** epoch ms (real clock) when the request arrived */
  at: number;
  /** time the simulator took to answer, ms */
  durationMs: number;
  /** parsed JSON (or form) body of the request, if any */
  body?: unknown;
  /** what produced the status: the handler, the rate limiter, or an injected fault */
  via: 'api' | 'rate-limit' | 'fault' | 'blocked';
}

export interface TokenRequestEntry {
  at: number;
  grantType: string;
  clientId: string;
  status: number;
  /** OAuth error (invalid_grant, …) when it failed */
  error?: string;
  hint?: string;
}

export interface WebhookAttempt {
  at: number;
  status?: number;
  error?: string;
  durationMs: number;
}

export interface WebhookDelivery {
  id: number;
  accountId: number;
  destination: string;
  events: string[];
  body: string;
  attempts: WebhookAttempt[];
  ok: boolean;
}

export interface SimulatorOptions {
  clientId?: string;
  clientSecret?: string;
  redirectUri?: string;
  /** extra integrations (each with its own client id/secret/redirect URI) */
  integrations?: Integration[];
  rateLimitRps?: number;
  /** the limiter counts rejected requests too (default false: a request is refused when `rateLimitRps` were served in the last second) */
  rateLimitCountsRejected?: boolean;
  /** block the account after this many 429s in a row (default: off) */
  blockAfter429s?: number;
  /** body of a rate-limit 429: JSON, HTML or alternating (default 'alternate') */
  rateLimitBody?: 'json' | 'html' | 'alternate';
  accessTokenTtlSec?: number;
  refreshTokenTtlSec?: number;
  codeTtlSec?: number;
  /** clock (epoch ms) for code / token expiry; default Date.now (plus `advanceClock`) */
  now?: () => number;
  /** the HMAC secret of access-token JWTs (default: random) */
  jwtSecret?: string;
  /** outgoing webhooks: retries after the first failed attempt (default 3) */
  webhookRetries?: number;
  /** outgoing webhooks: delay before the first retry, doubled each time (default 200 ms) */
  webhookBackoffMs?: number;
  /** outgoing webhooks: an attempt slower than this fails (default 2000 ms) */
  webhookTimeoutMs?: number;
  /** listen host (default 127.0.0.1) */
  listenHost?: string;
}
