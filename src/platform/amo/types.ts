/**
 * amoCRM (Kommo) API v4 JSON shapes, as far as the gateway reads or sends them. Fields amoCRM
 * may add are allowed through the index signatures; nothing here is validated at run time.
 */

export type * from './types/api.ts';
export type * from './types/account.ts';
export type * from './types/catalogue.ts';
export type * from './types/records.ts';
