/** Leads, contacts, companies, customers and notes: what the gateway sends, and what amoCRM answers about them. */
import type { AmoTag } from './catalogue.ts';

/** One entry of `custom_fields_values` (see the notes for the value shape of each field type). */
export interface AmoCustomFieldValue {
  field_id?: number;
  field_code?: string;
  values: Array<{ value?: unknown; enum_id?: number; enum_code?: string; [k: string]: unknown }>;
}

export interface AmoLeadMetadata {
  category: 'forms' | (string & {});
  form_id?: string | number;
  form_name?: string;
  form_page?: string;
  form_sent_at?: number;
  ip?: string;
  referer?: string;
  [k: string]: unknown;
}

export interface AmoContactInput {
  name?: string;
  first_name?: string;
  last_name?: string;
  responsible_user_id?: number;
  custom_fields_values?: AmoCustomFieldValue[];
  _embedded?: { tags?: Array<{ id: number } | { name: string }> };
  [k: string]: unknown;
}

export interface AmoCompanyInput {
  name?: string;
  responsible_user_id?: number;
  custom_fields_values?: AmoCustomFieldValue[];
  [k: string]: unknown;
}

/** A lead for `POST /api/v4/leads/complex` (at most 50 per call, one contact and one company each). */
export interface AmoComplexLeadInput {
  name?: string;
  price?: number;
  pipeline_id?: number;
  status_id?: number;
  responsible_user_id?: number;
  custom_fields_values?: AmoCustomFieldValue[];
  /** echoed back only; amoCRM does not deduplicate by it */
  request_id?: string;
  _embedded?: {
    tags?: Array<{ id: number } | { name: string }>;
    contacts?: AmoContactInput[];
    companies?: AmoCompanyInput[];
    metadata?: AmoLeadMetadata;
  };
  [k: string]: unknown;
}

/** amoCRM's answer item: `request_id` is an array of strings (sometimes a plain string). */
export interface AmoComplexLeadAnswer {
  id: number;
  contact_id: number | null;
  company_id: number | null;
  request_id: string[] | string | null;
  merged: boolean;
}

/** `AmoComplexLeadAnswer` with `request_id` normalised to an array. */
export interface AmoComplexLeadResult {
  id: number;
  contact_id: number | null;
  company_id: number | null;
  request_id: string[];
  merged: boolean;
}

export interface AmoNoteInput {
  note_type: 'common' | (string & {});
  params: { text?: string; [k: string]: unknown };
  request_id?: string;
}

/** One note of `POST /api/v4/{entity}/notes`: the entity it belongs to, and a `request_id` amoCRM echoes and names in errors. */
export interface AmoBatchNoteInput extends AmoNoteInput {
  entity_id: number;
}

/** A note as amoCRM lists it (`GET /api/v4/leads/{id}/notes`). */
export interface AmoNote {
  id: number;
  entity_id?: number;
  note_type?: string;
  params?: { text?: string; [k: string]: unknown };
  created_at?: number;
  [k: string]: unknown;
}

export interface AmoNoteCreated {
  id: number;
  entity_id: number;
  request_id?: string;
}

export interface AmoLead {
  id: number;
  name: string;
  price: number;
  responsible_user_id: number;
  status_id: number;
  pipeline_id: number;
  created_at: number;
  updated_at: number;
  closed_at: number | null;
  is_deleted: boolean;
  custom_fields_values: AmoCustomFieldValue[] | null;
  _embedded?: {
    tags?: AmoTag[];
    contacts?: Array<{ id: number; is_main?: boolean }>;
    companies?: Array<{ id: number }>;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

/** A contact or a company as amoCRM's search answers it (`GET /api/v4/contacts?query=…`). */
export interface AmoContact {
  id: number;
  name?: string;
  custom_fields_values?: AmoCustomFieldValue[] | null;
  [k: string]: unknown;
}

export type AmoCompany = AmoContact;

/** A customer for `POST /api/v4/customers` (amoCRM's "Покупатели"). */
export interface AmoCustomerInput {
  name: string;
  responsible_user_id?: number;
  custom_fields_values?: AmoCustomFieldValue[];
  _embedded?: { tags?: Array<{ id: number } | { name: string }> };
  /** echoed back in the answer */
  request_id?: string;
}

/** amoCRM's answer item for a created customer, `request_id` normalised to one string. */
export interface AmoCustomerCreated {
  id: number;
  request_id?: string;
}

export interface AmoCustomer {
  id: number;
  name: string;
  custom_fields_values?: AmoCustomFieldValue[] | null;
  created_at?: number;
  [k: string]: unknown;
}

/** One link of `POST /api/v4/customers/link`: the customer `entity_id` to a contact or a lead. */
export interface AmoCustomerLink {
  entity_id: number;
  to_entity_id: number;
  to_entity_type: 'contacts' | 'leads' | 'companies';
}

/** One task of `POST /api/v4/tasks` (text and complete_till are required by amoCRM). */
export interface AmoTaskInput {
  text: string;
  /** unix seconds */
  complete_till: number;
  /** 1 call, 2 meeting, or one of the account's own types */
  task_type_id?: number;
  /** omitted: the user the token acts for */
  responsible_user_id?: number;
  entity_type?: 'leads' | 'contacts' | 'companies' | 'customers';
  entity_id?: number;
  request_id?: string;
}

export interface AmoTaskCreated {
  id: number;
  request_id?: string;
}

export interface AmoTask {
  id: number;
  text: string;
  entity_id: number | null;
  entity_type: string | null;
  responsible_user_id: number;
  task_type_id: number;
  complete_till: number;
  is_completed: boolean;
  [k: string]: unknown;
}
