/** What the account is set up with: pipelines and their statuses, custom fields, tags. */
import type { AmoEntity } from './api.ts';

export interface AmoStatus {
  id: number;
  name: string;
  sort: number;
  is_editable: boolean;
  pipeline_id: number;
  color: string;
  /** 1 = unsorted, 0 = regular */
  type: number;
  account_id?: number;
  [k: string]: unknown;
}

export interface AmoPipeline {
  id: number;
  name: string;
  sort: number;
  is_main: boolean;
  is_unsorted_on: boolean;
  is_archive: boolean;
  account_id?: number;
  _embedded: { statuses: AmoStatus[] };
  [k: string]: unknown;
}

export interface AmoFieldEnum {
  id: number;
  value: string;
  sort: number;
  code?: string | null;
}

export type AmoFieldType =
  | 'text'
  | 'numeric'
  | 'checkbox'
  | 'select'
  | 'multiselect'
  | 'multitext'
  | 'date'
  | 'date_time'
  | 'birthday'
  | 'url'
  | 'textarea'
  | 'radiobutton'
  | 'streetaddress'
  | 'smart_address'
  | 'legal_entity'
  | 'tracking_data'
  | 'monetary'
  | 'price'
  | 'category'
  | 'items'
  | 'linked_entity'
  | 'chained_list'
  | 'file'
  | (string & {});

export interface AmoCustomField {
  id: number;
  name: string;
  code: string | null;
  sort: number;
  type: AmoFieldType;
  entity_type: AmoEntity;
  is_api_only: boolean;
  is_predefined?: boolean;
  is_deletable?: boolean;
  is_required?: boolean;
  group_id?: string | null;
  enums: AmoFieldEnum[] | null;
  nested?: Array<{ id: number; parent_id: number | null; value: string; sort: number }> | null;
  settings?: Record<string, unknown> | null;
  [k: string]: unknown;
}

export interface AmoCustomFieldInput {
  name: string;
  type: AmoFieldType;
  code?: string;
  sort?: number;
  is_api_only?: boolean;
  is_required?: boolean;
  enums?: Array<{ value: string; sort?: number }>;
  settings?: Record<string, unknown>;
  request_id?: string;
}

export interface AmoTag {
  id: number;
  name: string;
  color: string | null;
}
