// Reads the catalogue of one account from amoCRM and turns it into cache rows.
import type { AmoClient, AmoEntity } from '../../platform/amo/index.ts';
import type { EntityType } from '../../generated/prisma/enums.ts';
import type { FieldRow, PipelineRow, TagRow, UserRow } from './store.ts';

/** amoCRM's entity names and the cache's, in sync order. */
export const SYNC_ENTITIES: ReadonlyArray<{ amo: AmoEntity; entity: EntityType }> = [
  { amo: 'leads', entity: 'LEAD' },
  { amo: 'contacts', entity: 'CONTACT' },
  { amo: 'companies', entity: 'COMPANY' },
  { amo: 'customers', entity: 'CUSTOMER' },
];

type Client = Pick<AmoClient, 'listUsers' | 'listPipelines' | 'listCustomFields' | 'listTags'>;

const int = (v: unknown, fallback = 0): number => {
  const n = Number(v);
  return Number.isFinite(n) ? Math.trunc(n) : fallback;
};
const intOrNull = (v: unknown): number | null => (v === null || v === undefined || v === '' ? null : Number.isFinite(Number(v)) ? Math.trunc(Number(v)) : null);
const str = (v: unknown): string => (v === null || v === undefined ? '' : String(v));
const strOrNull = (v: unknown): string | null => (v === null || v === undefined || v === '' ? null : String(v));

export async function fetchUsers(client: Client, signal?: AbortSignal): Promise<UserRow[]> {
  const users = await client.listUsers({ signal });
  return users.map((u) => ({
    amoId: int(u.id),
    name: str(u.name),
    email: strOrNull(u.email),
    role: intOrNull(u.rights?.role_id),
    group: intOrNull(u.rights?.group_id),
    isAdmin: Boolean(u.rights?.is_admin),
    isActive: u.rights?.is_active === undefined ? true : Boolean(u.rights.is_active),
  }));
}

export async function fetchPipelines(client: Client, signal?: AbortSignal): Promise<PipelineRow[]> {
  const pipelines = await client.listPipelines({ signal });
  return pipelines.map((p) => ({
    amoId: int(p.id),
    name: str(p.name),
    sort: int(p.sort),
    isMain: Boolean(p.is_main),
    isArchive: Boolean(p.is_archive),
    isUnsortedOn: Boolean(p.is_unsorted_on),
    steps: (p._embedded?.statuses ?? []).map((s) => ({
      amoId: int(s.id),
      name: str(s.name),
      color: strOrNull(s.color),
      sort: int(s.sort),
      type: int(s.type),
      isEditable: s.is_editable === undefined ? true : Boolean(s.is_editable),
    })),
  }));
}

/**
 * "Feature off" (402, or 404) means "none" for customers only: for leads, contacts and companies
 * a 402 means the amoCRM account is not paid, and answering "none" would soft-delete the whole
 * cached catalogue, so it fails the sync instead.
 */
const whenOff = (entity: AmoEntity) => (entity === 'customers' ? 'empty' : 'throw');

export async function fetchFields(client: Client, signal?: AbortSignal, entities = SYNC_ENTITIES): Promise<FieldRow[]> {
  const out: FieldRow[] = [];
  for (const { amo, entity } of entities) {
    const fields = await client.listCustomFields(amo, { whenOff: whenOff(amo), signal });
    for (const f of fields) {
      out.push({
        entity,
        amoId: int(f.id),
        name: str(f.name),
        code: strOrNull(f.code),
        rawType: str(f.type),
        sort: int(f.sort),
        isApiOnly: Boolean(f.is_api_only),
        options: (Array.isArray(f.enums) ? f.enums : []).map((e) => ({ amoId: int(e.id), value: str(e.value), sort: int(e.sort) })),
      });
    }
  }
  return out;
}

export async function fetchTags(client: Client, signal?: AbortSignal, entities = SYNC_ENTITIES): Promise<TagRow[]> {
  const out: TagRow[] = [];
  for (const { amo, entity } of entities) {
    const tags = await client.listTags(amo, { whenOff: whenOff(amo), signal });
    for (const t of tags) out.push({ entity, amoId: int(t.id), name: str(t.name), color: strOrNull(t.color) });
  }
  return out;
}
