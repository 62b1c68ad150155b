/**
 * `PATCH /api/v4/contacts` and `/api/v4/companies` (amoCRM's batch update, up to 50), for tags:
 * `tags_to_add` adds tags ({id} of the entity's tag, or {name}: the tag of that name in any case,
 * created when the entity has none) and keeps the ones the entity has; adding one it has is a
 * no-op. `tags_to_delete` takes tags off the same way. `_embedded.tags` replaces every tag, as
 * amoCRM does. Every entry is validated first: one bad entry rejects the request, nothing changes.
 */
import type { StoredCompany, StoredContact, Tag } from './types.ts';
import { isRecord } from './http.ts';
import { checkInt, resolveTags, validateTags, validationFailed } from './leads.ts';
import type { ValidationError } from './validate.ts';
import { type ApiContext, type ApiResult, link, requireArray } from './context.ts';

type Updatable = 'contacts' | 'companies';

const requestIdOf = (e: unknown, i: number) => (isRecord(e) && e.request_id !== undefined ? String(e.request_id) : String(i));

function entitiesOf(ctx: ApiContext, entity: Updatable): (StoredContact | StoredCompany)[] {
  return entity === 'contacts' ? ctx.acc.contacts : ctx.acc.companies;
}

function entryErrors(ctx: ApiContext, entity: Updatable, e: unknown, seen: Set<number>): ValidationError[] {
  const errors: ValidationError[] = [];
  if (!isRecord(e)) return [{ code: 'InvalidType', path: '', detail: 'This value should be of type object.' }];
  if (e.id === undefined || e.id === null) errors.push({ code: 'FieldMissing', path: 'id', detail: 'This field is missing.' });
  else if (checkInt(e.id, 'id', errors)) {
    const id = e.id as number;
    if (!entitiesOf(ctx, entity).some((x) => x.id === id)) errors.push({ code: 'NotFound', path: 'id', detail: 'Entity not found.' });
    else if (seen.has(id)) errors.push({ code: 'NotUnique', path: 'id', detail: 'This value is already used.' });
    seen.add(id);
  }
  for (const key of ['tags_to_add', 'tags_to_delete'] as const) {
    if (e[key] !== undefined && !Array.isArray(e[key])) errors.push({ code: 'InvalidType', path: key, detail: 'This value should be of type array.' });
    else validateTags(ctx.acc, entity, e[key], key, errors);
  }
  if (e._embedded !== undefined && !isRecord(e._embedded)) errors.push({ code: 'InvalidType', path: '_embedded', detail: 'This value should be of type object.' });
  else if (isRecord(e._embedded)) validateTags(ctx.acc, entity, e._embedded.tags, '_embedded.tags', errors);
  return errors;
}

/** PATCH /api/v4/{contacts|companies}: answers `_embedded.{entity}: [{id, updated_at, request_id, _links}]`. */
export function updateEntityTags(ctx: ApiContext, entity: Updatable): ApiResult {
  const list = requireArray(ctx.body);
  const groups: Array<{ request_id: string; errors: ValidationError[] }> = [];
  const seen = new Set<number>();
  list.forEach((e, i) => {
    const errors = entryErrors(ctx, entity, e, seen);
    if (errors.length) groups.push({ request_id: requestIdOf(e, i), errors });
  });
  if (groups.length) throw validationFailed(groups);
  const now = ctx.state.nowSec();
  const nowMs = ctx.state.now();
  const updated = list.map((raw, i) => {
    const e = raw as Record<string, unknown>;
    const stored = entitiesOf(ctx, entity).find((x) => x.id === e.id) as StoredContact | StoredCompany;
    let tags: Tag[] = isRecord(e._embedded) && Array.isArray(e._embedded.tags) ? resolveTags(ctx.state, ctx.acc, entity, e._embedded.tags) : [...stored.tags];
    for (const t of resolveTags(ctx.state, ctx.acc, entity, e.tags_to_add)) if (!tags.some((x) => x.id === t.id)) tags.push(t);
    const off = new Set(resolveTags(ctx.state, ctx.acc, entity, e.tags_to_delete).map((t) => t.id));
    tags = tags.filter((t) => !off.has(t.id));
    stored.tags = tags.filter((t, k) => tags.findIndex((x) => x.id === t.id) === k);
    stored.updated_at = now;
    stored.written_ms = nowMs;
    return { id: stored.id, updated_at: now, request_id: requestIdOf(e, i), _links: link(ctx, `/api/v4/${entity}/${stored.id}`) };
  });
  return { status: 200, body: { _links: link(ctx, `/api/v4/${entity}`), _embedded: { [entity]: updated } } };
}
