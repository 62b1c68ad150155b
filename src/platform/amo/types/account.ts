/** The account itself, its users, and its webhooks. */

export interface AmoAccountInfo {
  id: number;
  name: string;
  subdomain: string;
  country?: string;
  currency?: string;
  currency_symbol?: string;
  current_user_id?: number;
  customers_mode?: string;
  is_unsorted_on?: boolean;
  amojo_id?: string;
  uuid?: string;
  version?: number;
  drive_url?: string;
  _embedded?: Record<string, unknown>;
  [k: string]: unknown;
}

export interface AmoUserRights {
  is_admin: boolean;
  is_free?: boolean;
  is_active: boolean;
  group_id: number | null;
  role_id: number | null;
  [k: string]: unknown;
}

export interface AmoUser {
  id: number;
  name: string;
  email: string | null;
  lang?: string;
  rights: AmoUserRights;
  [k: string]: unknown;
}

export interface AmoWebhook {
  id: number;
  destination: string;
  settings: string[];
  sort: number;
  disabled: boolean;
  created_at?: number;
  updated_at?: number;
  account_id?: number;
  [k: string]: unknown;
}
