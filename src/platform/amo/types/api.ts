/** The API's envelope: the entity kinds, HAL list pages, windowed reads and validation errors. */

export type AmoEntity = 'leads' | 'contacts' | 'companies' | 'customers';

export interface HalLink {
  href: string;
}

/** A HAL list page: `_page`, `_links.self/next/prev`, `_embedded.{key}`. */
export interface HalPage<K extends string, T> {
  _page?: number;
  _total_items?: number;
  _page_count?: number;
  _links?: { self?: HalLink; next?: HalLink; prev?: HalLink };
  _embedded?: { [P in K]?: T[] };
}

/** A `filter[created_at]` window in unix seconds (both ends included), for windowed reads. */
export interface AmoCreatedWindow {
  from: number;
  to: number;
}

/** A problem+json validation error group. */
export interface AmoValidationErrorGroup {
  request_id?: string | number;
  errors?: Array<{ code?: string; path?: string; detail?: string }>;
}
