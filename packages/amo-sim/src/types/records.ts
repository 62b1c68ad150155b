/** What the API stores and answers: leads, contacts, companies, customers, notes and webhook subscriptions. */
import type { Tag } from './account.ts';

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

/** A task (`/api/v4/tasks`): a responsible user and a deadline, optionally on a lead, contact, company or customer. */
export interface Task {
  id: number;
  created_by: number;
  updated_by: number;
  created_at: number;
  updated_at: number;
  responsible_user_id: number;
  group_id: number;
  entity_id: number | null;
  entity_type: 'leads' | 'contacts' | 'companies' | 'customers' | null;
  duration: number;
  is_completed: boolean;
  task_type_id: number;
  text: string;
  result: { text: string } | [];
  complete_till: number;
  account_id: number;
  request_id?: string;
}

/** A task type of the account: 1 (call) and 2 (meeting) always, plus the account's own. */
export interface TaskType {
  id: number;
  name: string;
  color: string | null;
  icon_id: number | null;
  code: string | null;
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
