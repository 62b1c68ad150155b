/**
 * `AmoClient`'s tag and task calls (the class is completed in client.ts): an entity's tags
 * (list, search by name, create, add to existing contacts / companies) and tasks (create, list by entity).
 */
import { normalizeRequestId } from './answers.ts';
import { AmoClientBase, checkEntity, type CallOptions, type EntityListOptions } from './client-base.ts';
import type { AmoEntity, AmoTag, AmoTask, AmoTaskCreated, AmoTaskInput, HalPage } from './types.ts';

/** A tag to add: one the entity has (`id`), or by name (amoCRM attaches its tag of that name, or creates it). */
export type AmoTagRef = { id: number } | { name: string };
/** One existing contact or company and the tags to add to it (the tags it has stay). */
export interface AmoTagsToAdd {
  id: number;
  tags_to_add: AmoTagRef[];
}
/** amoCRM's batch update takes at most 50 entities a call. */
export const MAX_TAG_UPDATES = 50;

export class AmoTagsAndTasksClient extends AmoClientBase {
  /** Tags of an entity; [] when the feature is off (402; see `whenOff`). */
  listTags(entity: AmoEntity, options: EntityListOptions = {}): Promise<AmoTag[]> {
    return this.listOrNone<AmoTag>(entity, 'tags', 'tags', options);
  }

  /** `GET /api/v4/{entity}/tags?query=…`: the entity's tags whose name contains `query`, every page. */
  searchTags(entity: AmoEntity, query: string, options: CallOptions = {}): Promise<AmoTag[]> {
    checkEntity(entity);
    return this.http.listAll<AmoTag>(`${entity}/tags`, 'tags', { query: { query }, signal: options.signal });
  }

  /**
   * `POST /api/v4/{entity}/tags`: creates tags by name (amoCRM refuses a name the entity already
   * has, in any case, with 400 `NotUnique`). Not idempotent: a timeout / 5xx throws with `maybeProcessed`.
   */
  async createTags(entity: AmoEntity, names: string[], options: CallOptions = {}): Promise<AmoTag[]> {
    checkEntity(entity);
    if (names.length === 0) return [];
    const res = await this.http.request<HalPage<'tags', AmoTag>>('POST', `${entity}/tags`, { body: names.map((name) => ({ name })), signal: options.signal });
    return res?._embedded?.tags ?? [];
  }

  /**
   * `PATCH /api/v4/{contacts|companies}` with `tags_to_add` (at most 50 entities): adds the tags
   * and keeps the ones each entity has (never `_embedded.tags`, which would replace them all).
   * Idempotent — a tag the entity has already is not added twice — so a timeout / 5xx is retried.
   * Resolves to the ids amoCRM answered as updated.
   */
  async addTagsTo(entity: 'contacts' | 'companies', updates: AmoTagsToAdd[], options: CallOptions = {}): Promise<number[]> {
    if (updates.length === 0) return [];
    if (updates.length > MAX_TAG_UPDATES) throw new RangeError(`PATCH ${entity} takes at most ${MAX_TAG_UPDATES} entities per call here (got ${updates.length})`);
    const body = updates.map((u) => ({ id: u.id, tags_to_add: u.tags_to_add }));
    const res = await this.http.request<HalPage<'contacts' | 'companies', { id: number }>>('PATCH', entity, { body, idempotent: true, signal: options.signal });
    const list = res?._embedded?.[entity];
    return (Array.isArray(list) ? list : []).map((e) => Number(e?.id)).filter(Number.isFinite);
  }

  /** `POST /api/v4/tasks` (at most 50 here). Not idempotent (amoCRM does not deduplicate): a timeout / 5xx throws with `maybeProcessed`. */
  async createTasks(tasks: AmoTaskInput[], options: CallOptions = {}): Promise<AmoTaskCreated[]> {
    if (tasks.length === 0) return [];
    const res = await this.http.request<HalPage<'tasks', { id: number; request_id?: unknown }>>('POST', 'tasks', { body: tasks, idempotent: false, signal: options.signal });
    const list = res?._embedded?.tasks;
    return (Array.isArray(list) ? list : []).map((t) => {
      const rid = normalizeRequestId(t?.request_id)[0];
      return { id: Number(t?.id), ...(rid !== undefined ? { request_id: rid } : {}) };
    });
  }

  /** The tasks on `entityIds` of `entityType`, every page (amoCRM: filter[entity_id] needs filter[entity_type]). */
  listTasks(entityType: 'leads' | 'contacts' | 'companies' | 'customers', entityIds: number[], options: CallOptions = {}): Promise<AmoTask[]> {
    if (entityIds.length === 0) return Promise.resolve([]);
    // the array form amoCRM documents (filter[entity_id][0]=…), not a comma list
    const ids = Object.fromEntries(entityIds.map((id, i) => [`filter[entity_id][${i}]`, id]));
    return this.http.listAll<AmoTask>('tasks', 'tasks', { query: { 'filter[entity_type]': entityType, ...ids, 'order[id]': 'asc' }, signal: options.signal });
  }
}
