/** The account as amoCRM models it: users, pipelines and statuses, custom fields, tags, and the per-account switches. */
import type { Note, Task, TaskType, StoredCompany, StoredContact, StoredCustomer, StoredLead, Webhook } from './records.ts';

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
  tasks: Task[];
  /** the account's own task types (1 call and 2 meeting exist in every account) */
  taskTypes: TaskType[];
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
  /** the account's own task types besides 1 (call) and 2 (meeting) */
  taskTypes?: Array<Partial<TaskType> & { id: number; name: string }>;
  /** per-account switches (see AccountOptions); also settable later with setAccountOptions */
  options?: Partial<AccountOptions>;
  /** PRNG seed for the generated data (default: derived from the account id) */
  seed?: number;
}
