/**
 * GET lists of leads, contacts, companies and customers. Filters (`filter[…]`, `order[…]`) read the
 * database and see every write at once; `query` is amoCRM's full-text index, which lags behind
 * writes by the account's `searchDelayMs` and skips is_api_only fields unless `searchIndexesApiOnly`.
 */
import type { CustomFieldValue, EntityType } from './types.ts';
import { validationFailed } from './leads.ts';
import { normPhone } from './duplicates.ts';
import type { ValidationError } from './validate.ts';
import { type ApiContext, type ApiResult, paginate } from './context.ts';

export interface Listable {
  id: number;
  name: string;
  created_at: number;
  custom_fields_values: CustomFieldValue[] | null;
  written_ms?: number;
}

/** Values the index holds for an entity, with the field code each came from. */
function indexedValues(ctx: ApiContext, entity: EntityType, cfv: CustomFieldValue[] | null): Array<{ code: string | null; value: string }> {
  const fields = ctx.acc.fields[entity];
  const out: Array<{ code: string | null; value: string }> = [];
  for (const entry of cfv ?? []) {
    const f = fields.find((x) => (entry.field_id !== undefined ? x.id === entry.field_id : x.code === entry.field_code));
    if (f?.is_api_only && !ctx.acc.searchIndexesApiOnly) continue;
    for (const v of entry.values ?? []) {
      if (typeof v.value === 'string' || typeof v.value === 'number') out.push({ code: f?.code ?? null, value: String(v.value) });
    }
  }
  return out;
}

const PHONE_QUERY = /^[\d\s()+\-.]+$/;

/**
 * amoCRM's `query`: an id, a phone (same last 10 digits as a PHONE value, formatting ignored),
 * an email (case-insensitive), or a substring of the name or of any indexed value.
 */
export function matchesQuery(ctx: ApiContext, entity: EntityType, e: Listable, query: string): boolean {
  const q = query.trim().toLowerCase();
  if (!q) return true;
  if (ctx.acc.searchDelayMs > 0 && (e.written_ms ?? 0) + ctx.acc.searchDelayMs > ctx.state.now()) return false;
  if (String(e.id) === q) return true;
  const values = indexedValues(ctx, entity, e.custom_fields_values);
  const digits = q.replace(/\D+/g, '');
  if (PHONE_QUERY.test(q) && digits.length >= 10 && values.some((v) => v.code === 'PHONE' && normPhone(v.value) === normPhone(digits))) return true;
  if (q.includes('@') && values.some((v) => v.code === 'EMAIL' && v.value.trim().toLowerCase() === q)) return true;
  return [e.name, ...values.map((v) => v.value)].some((s) => s.toLowerCase().includes(q));
}

/** `filter[name]`, `filter[name][]`, `filter[name][N]`, comma lists too; null when absent. */
export function intList(q: URLSearchParams, name: string, errors: ValidationError[]): number[] | null {
  const raw: string[] = [];
  const re = new RegExp(`^filter\\[${name}\\](\\[\\d*\\])?$`);
  for (const [k, v] of q) if (re.test(k)) raw.push(...v.split(','));
  if (!raw.length) return null;
  const out = raw.map((s) => Number(s.trim()));
  if (out.some((n) => !Number.isInteger(n))) errors.push({ code: 'InvalidType', path: `filter[${name}]`, detail: 'This value should be of type int.' });
  return out;
}

function intParam(q: URLSearchParams, key: string, errors: ValidationError[]): number | null {
  const v = q.get(key);
  if (v === null) return null;
  const n = Number(v);
  if (!Number.isInteger(n)) errors.push({ code: 'InvalidType', path: key, detail: 'This value should be of type int.' });
  return n;
}

export interface ListSpec<T extends Listable> {
  entity: EntityType;
  key: string;
  items: T[];
  render: (x: T) => unknown;
  /** extra filters this list supports, e.g. pipeline_id of leads */
  pipelineOf?: (x: T) => number;
}

/** Filters, orders, searches and pages a list; 204 when nothing matches. */
export function listEntities<T extends Listable>(ctx: ApiContext, spec: ListSpec<T>): ApiResult {
  const q = ctx.url.searchParams;
  const errors: ValidationError[] = [];
  const ids = intList(q, 'id', errors);
  const pipelines = spec.pipelineOf ? intList(q, 'pipeline_id', errors) : null;
  const from = intParam(q, 'filter[created_at][from]', errors);
  const to = intParam(q, 'filter[created_at][to]', errors);
  const orders: Array<{ by: 'created_at' | 'id'; dir: 1 | -1 }> = [];
  for (const [k, v] of q) {
    const m = /^order\[(created_at|id)\]$/.exec(k);
    if (!m) continue;
    if (v !== 'asc' && v !== 'desc') errors.push({ code: 'NotSupportedChoice', path: k, detail: 'The value you selected is not a valid choice.' });
    else orders.push({ by: m[1] as 'created_at' | 'id', dir: v === 'asc' ? 1 : -1 });
  }
  if (errors.length) throw validationFailed([{ request_id: '0', errors }]);
  const query = q.get('query') ?? '';
  const list = spec.items.filter(
    (x) =>
      (!ids || ids.includes(x.id)) &&
      (!pipelines || pipelines.includes((spec.pipelineOf as (x: T) => number)(x))) &&
      (from === null || x.created_at >= from) &&
      (to === null || x.created_at <= to) &&
      matchesQuery(ctx, spec.entity, x, query),
  );
  if (orders.length) {
    list.sort((a, b) => {
      for (const o of orders) if (a[o.by] !== b[o.by]) return (a[o.by] - b[o.by]) * o.dir;
      return a.id - b.id;
    });
  }
  return paginate(ctx, list, spec.key, spec.render);
}
