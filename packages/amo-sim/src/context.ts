/** What every /api/v4 handler shares: the request context, HAL pagination, small argument checks. */
import type { SimState } from './state.ts';
import type { Account, EntityType } from './types.ts';
import { ENTITY_TYPES } from './types.ts';
import type { AuthContext } from './tokens.ts';
import { problemError } from './http.ts';
import { validationFailed } from './leads.ts';
import type { ValidationError } from './validate.ts';

export interface ApiContext {
  state: SimState;
  acc: Account;
  auth: AuthContext;
  method: string;
  url: URL;
  body: unknown;
}

export interface ApiResult {
  status: number;
  body?: unknown;
}

/** A route handler given the match's capture groups (a group that took no part is undefined). */
export type Handler = (ctx: ApiContext, groups: Array<string | undefined>) => ApiResult;

export const MAX_LIMIT = 250;
export const DEFAULT_LIMIT = 50;

export const link = (ctx: ApiContext, path: string) => ({ self: { href: `${ctx.state.baseUrl}${path}` } });

/** amoCRM pagination: page from 1, limit ≤ 250, HAL links, 204 past the end or on an empty list. */
export function paginate<T>(ctx: ApiContext, items: T[], key: string, render: (x: T) => unknown, totals = false): ApiResult {
  const q = ctx.url.searchParams;
  const errors: ValidationError[] = [];
  const limitRaw = q.get('limit');
  const pageRaw = q.get('page');
  const limit = limitRaw === null ? DEFAULT_LIMIT : Number(limitRaw);
  const page = pageRaw === null ? 1 : Number(pageRaw);
  if (!Number.isInteger(limit) || limit < 1) errors.push({ code: 'GreaterThan', path: 'limit', detail: 'This value should be greater than 0.' });
  else if (limit > MAX_LIMIT) errors.push({ code: 'LessThanOrEqual', path: 'limit', detail: `This value should be less than or equal to ${MAX_LIMIT}.` });
  if (!Number.isInteger(page) || page < 1) errors.push({ code: 'GreaterThan', path: 'page', detail: 'This value should be greater than 0.' });
  if (errors.length) throw validationFailed([{ request_id: '0', errors }]);
  const slice = items.slice((page - 1) * limit, page * limit);
  if (slice.length === 0) return { status: 204 };
  const href = (p: number) => {
    const u = new URL(ctx.url.pathname + ctx.url.search, ctx.state.baseUrl);
    u.searchParams.set('page', String(p));
    u.searchParams.set('limit', String(limit));
    return { href: u.toString() };
  };
  const links: Record<string, { href: string }> = { self: href(page) };
  if (page * limit < items.length) links.next = href(page + 1);
  if (page > 1) links.prev = href(page - 1);
  const out: Record<string, unknown> = {};
  if (totals) {
    out._total_items = items.length;
    out._page_count = Math.ceil(items.length / limit);
  }
  out._page = page;
  out._links = links;
  out._embedded = { [key]: slice.map(render) };
  return { status: 200, body: out };
}

export function withParams(ctx: ApiContext): Set<string> {
  return new Set(
    (ctx.url.searchParams.get('with') ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
}

export function requireArray(body: unknown, max = 50): unknown[] {
  if (!Array.isArray(body)) throw problemError(400, 'Request body must be an array');
  if (body.length === 0) throw problemError(400, 'Request body must not be empty');
  if (body.length > max)
    throw validationFailed([{ request_id: '0', errors: [{ code: 'TooManyEntities', path: '', detail: `This collection should contain ${max} elements or less.` }] }]);
  return body;
}

export function entityParam(ctx: ApiContext, name: string): EntityType {
  const e = name as EntityType;
  if (!ENTITY_TYPES.includes(e)) throw problemError(404, 'Not found');
  if (e === 'customers' && !ctx.acc.customersEnabled) throw problemError(402, 'Customers are disabled for this account');
  return e;
}
