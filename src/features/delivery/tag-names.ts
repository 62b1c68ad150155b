/**
 * A rule's tags by name (`Rule.tagNames`), resolved on delivery:
 * - a name the account's tag cache has (live, same entity, any case — amoCRM matches tags
 *   case-insensitively) is sent as its `{id}`;
 * - a name it lacks is created in amoCRM (`POST /api/v4/{entity}/tags`) and cached (the Tag
 *   table, as a sync would), then sent as `{id}`: a retried delivery finds it in the cache and
 *   creates nothing;
 * - when amoCRM refuses it (it has the name already: another replica just created it, or it came
 *   after the last sync) each missing name is looked up (`GET {entity}/tags?query=`) and cached;
 * - a name still without an id (any other failure) is sent as `{name}` in `_embedded.tags`:
 *   amoCRM attaches its tag of that name, or creates it with the lead, so the lead is never held
 *   back by a tag. The next sync caches it.
 */
import type { Db } from '../../platform/db.ts';
import { AmoValidationError, type AmoClient, type AmoEntity, type AmoTag } from '../../platform/amo/index.ts';
import type { Entity, PayloadContext } from './payload-types.ts';

export interface RuleTagName {
  entity: Entity;
  name: string;
  /** the amoCRM tag id once resolved; absent: sent by name */
  amoId?: number;
}

/** What `Rule.tagNames` holds: names per entity key. */
export type TagNames = Partial<Record<'lead' | 'contact' | 'company' | 'customer', string[]>>;
const ENTITY_OF = { lead: 'LEAD', contact: 'CONTACT', company: 'COMPANY', customer: 'CUSTOMER' } as const;
const PATH_OF: Record<Entity, AmoEntity> = { LEAD: 'leads', CONTACT: 'contacts', COMPANY: 'companies', CUSTOMER: 'customers' };

/** `Rule.tagNames` (JSON) as a list, in order. */
export function tagNamesOf(json: unknown): RuleTagName[] {
  if (typeof json !== 'object' || json === null) return [];
  return Object.entries(ENTITY_OF).flatMap(([key, entity]) => {
    const list = (json as Record<string, unknown>)[key];
    return Array.isArray(list) ? list.filter((n): n is string => typeof n === 'string' && n.trim() !== '').map((name) => ({ entity, name })) : [];
  });
}

export interface TagNameDeps {
  db: Db;
  client: AmoClient;
  accountId: string;
  signal?: AbortSignal;
  log?: { warn(obj: object, msg: string): void };
}

/** The context with its rule's tag names resolved to ids where the cache has them or amoCRM created them. */
export async function resolveTagNames(deps: TagNameDeps, ctx: PayloadContext): Promise<PayloadContext> {
  const names = ctx.rule.tagNames ?? [];
  if (names.length === 0) return ctx;
  const resolved: RuleTagName[] = names.map((n) => ({ entity: n.entity, name: n.name }));
  for (const entity of [...new Set(names.map((n) => n.entity))]) {
    const mine = resolved.filter((n) => n.entity === entity);
    const cached = await deps.db.tag.findMany({
      where: { accountId: deps.accountId, entity, deletedAt: null, OR: mine.map((n) => ({ name: { equals: n.name.trim(), mode: 'insensitive' as const } })) },
      select: { amoId: true, name: true },
      orderBy: { amoId: 'asc' },
    });
    const byName = new Map<string, number>();
    for (const t of cached) if (!byName.has(t.name.toLowerCase())) byName.set(t.name.toLowerCase(), Number(t.amoId));
    // each missing name once, as first written
    const missing: string[] = [];
    for (const n of mine.map((x) => x.name.trim())) {
      if (!byName.has(n.toLowerCase()) && !missing.some((m) => m.toLowerCase() === n.toLowerCase())) missing.push(n);
    }
    const cache = async (list: AmoTag[]) => {
      for (const t of list) {
        if (!Number.isFinite(Number(t.id)) || typeof t.name !== 'string') continue;
        await deps.db.tag.upsert({
          where: { accountId_entity_amoId: { accountId: deps.accountId, entity, amoId: Number(t.id) } },
          create: { accountId: deps.accountId, entity, amoId: Number(t.id), name: t.name, color: t.color ?? null },
          update: { name: t.name, color: t.color ?? null, deletedAt: null },
        });
        if (!byName.has(t.name.toLowerCase())) byName.set(t.name.toLowerCase(), Number(t.id));
      }
    };
    if (missing.length) {
      try {
        await cache(await deps.client.createTags(PATH_OF[entity], missing, { signal: deps.signal }));
      } catch (err) {
        deps.log?.warn({ accountId: deps.accountId, entity, err: err instanceof Error ? err.message : String(err) }, 'tags not created; sent by name');
        // amoCRM has some of them already (NotUnique): look each up, so the cache learns them
        if (err instanceof AmoValidationError) {
          for (const name of missing) {
            const found = await deps.client.searchTags(PATH_OF[entity], name, { signal: deps.signal }).catch(() => []);
            await cache(found.filter((t) => typeof t.name === 'string' && t.name.toLowerCase() === name.toLowerCase()).slice(0, 1));
          }
        }
      }
    }
    for (const n of mine) {
      const id = byName.get(n.name.trim().toLowerCase());
      if (id !== undefined) n.amoId = id;
    }
  }
  return { ...ctx, rule: { ...ctx.rule, tagNames: resolved } };
}

/** The rule's name tags of `entity` for `_embedded.tags`, after its id tags (`have`), each tag once. */
export function nameTagsOf(ctx: PayloadContext, entity: Entity, have: { id: number }[]): ({ id: number } | { name: string })[] {
  const ids = new Set(have.map((t) => t.id));
  const names = new Set<string>();
  const out: ({ id: number } | { name: string })[] = [];
  for (const n of (ctx.rule.tagNames ?? []).filter((x) => x.entity === entity)) {
    if (n.amoId !== undefined) {
      if (ids.has(n.amoId)) continue;
      ids.add(n.amoId);
      out.push({ id: n.amoId });
    } else {
      const key = n.name.trim().toLowerCase();
      if (names.has(key)) continue;
      names.add(key);
      out.push({ name: n.name.trim() });
    }
  }
  return out;
}
