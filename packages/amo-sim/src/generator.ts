/** Generates realistic amoCRM account data: users, pipelines with statuses, custom fields of every type, tags. */
import type { SimState } from './state.ts';
import { prng } from './state.ts';
import type { Account, EntityType, FieldType, Pipeline, SeedAccountOptions, Status, Tag, User, UserRights } from './types.ts';
import { DEFAULT_ACCOUNT_OPTIONS, ENTITY_TYPES, FIELD_TYPES } from './types.ts';
import { makeField, predefinedFields } from './field-factory.ts';
import { COMPANY_NAMES, FIELD_NAMES, FIRST_NAMES, LAST_NAMES, PIPELINE_NAMES, STATUS_COLORS, STATUS_NAMES, TAG_COLORS, TAG_NAMES, item, pick, translit } from './sample-data.ts';

export const STATUS_WON = 142;
export const STATUS_LOST = 143;

function rights(isAdmin: boolean, isActive: boolean, groupId: number | null, roleId: number | null): UserRights {
  const full = isAdmin ? 'A' : 'M';
  const crud = { view: full, edit: full, add: 'A', delete: isAdmin ? 'A' : 'D', export: isAdmin ? 'A' : 'D' };
  return {
    leads: { ...crud },
    contacts: { ...crud },
    companies: { ...crud },
    tasks: { edit: full, delete: isAdmin ? 'A' : 'D' },
    mail_access: true,
    catalog_access: isAdmin,
    files_access: true,
    status_rights: [],
    is_admin: isAdmin,
    is_free: false,
    is_active: isActive,
    group_id: groupId,
    role_id: roleId,
  };
}

export function makeUser(state: SimState, acc: Account, partial: Partial<User> & { name?: string }, index = acc.users.length): User {
  const rnd = prng(acc.id + index * 7919);
  const name = partial.name ?? `${pick(rnd, FIRST_NAMES)} ${pick(rnd, LAST_NAMES)}`;
  const id = partial.id ?? state.nextId('user');
  if (partial.id) state.reserveId('user', partial.id);
  const isAdmin = partial.rights?.is_admin ?? index === 0;
  const user: User = {
    id,
    name,
    email:
      partial.email ??
      `${translit(name)
        .replace(/[^a-z]+/g, '.')
        .replace(/^\.|\.$/g, '')}.${id % 1000}@${acc.subdomain}.ru`,
    lang: partial.lang ?? 'ru',
    rights: {
      ...rights(isAdmin, index % 5 !== 3, index === 0 ? null : (index % 2) + 1, isAdmin ? null : 100 + (index % 3)),
      ...(partial.rights ?? {}),
    },
  };
  return user;
}

export function makeStatus(state: SimState, acc: Account, pipelineId: number, partial: Partial<Status> & { name: string }, sort: number): Status {
  const id = partial.id ?? state.nextId('status');
  if (partial.id && partial.id !== STATUS_WON && partial.id !== STATUS_LOST) state.reserveId('status', partial.id);
  return {
    id,
    name: partial.name,
    sort: partial.sort ?? sort,
    is_editable: partial.is_editable ?? true,
    pipeline_id: pipelineId,
    color: partial.color ?? item(STATUS_COLORS, Math.abs(((sort / 10) % STATUS_COLORS.length) | 0)),
    type: partial.type ?? 0,
    account_id: acc.id,
  };
}

/** A pipeline with the unsorted status first, the given/generated statuses, then 142 and 143. */
export function makePipeline(
  state: SimState,
  acc: Account,
  partial: Partial<Omit<Pipeline, 'statuses'>> & { name?: string; statuses?: Array<Partial<Status> & { name: string }> },
  statusCount = 4,
): Pipeline {
  const index = acc.pipelines.length;
  const id = partial.id ?? state.nextId('pipeline');
  if (partial.id) state.reserveId('pipeline', partial.id);
  const rnd = prng(id);
  const pipeline: Pipeline = {
    id,
    name: partial.name ?? PIPELINE_NAMES[index] ?? `Воронка ${index + 1}`,
    sort: partial.sort ?? (index + 1) * 1000,
    is_main: partial.is_main ?? index === 0,
    is_unsorted_on: partial.is_unsorted_on ?? true,
    is_archive: partial.is_archive ?? false,
    account_id: acc.id,
    statuses: [],
  };
  pipeline.statuses.push(makeStatus(state, acc, id, { name: 'Неразобранное', type: 1, is_editable: false, color: '#c1c1c1' }, 10));
  const names =
    partial.statuses ??
    Array.from({ length: statusCount }, (_, i) => ({ name: STATUS_NAMES[(i + Math.floor(rnd() * 3)) % STATUS_NAMES.length] + (i >= STATUS_NAMES.length ? ` ${i}` : '') }));
  names.forEach((s, i) => pipeline.statuses.push(makeStatus(state, acc, id, s, 20 + i * 10)));
  pipeline.statuses.push(makeStatus(state, acc, id, { id: STATUS_WON, name: 'Успешно реализовано', is_editable: false, color: '#CCFF66' }, 10000));
  pipeline.statuses.push(makeStatus(state, acc, id, { id: STATUS_LOST, name: 'Закрыто и не реализовано', is_editable: false, color: '#D5D8DB' }, 11000));
  return pipeline;
}

export function makeTag(state: SimState, name: string, color?: string | null): Tag {
  const id = state.nextId('tag');
  return { id, name, color: color === undefined ? item(TAG_COLORS, id % TAG_COLORS.length) : color };
}

function perEntity(v: number | Partial<Record<EntityType, number>> | undefined, entity: EntityType, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v === 'number') return v;
  return v[entity] ?? dflt;
}

/** The types of user-defined fields generated for an entity (cycled when more fields are asked for). */
function userFieldTypes(entity: EntityType): FieldType[] {
  return FIELD_TYPES.filter((t) => entity === 'leads' || t !== 'tracking_data');
}

export function generateAccount(state: SimState, opts: SeedAccountOptions = {}): Account {
  const id = opts.id ?? state.nextId('account');
  if (opts.id) state.reserveId('account', opts.id);
  if (state.accounts.has(id)) throw new Error(`amo-sim: account ${id} exists`);
  const rnd = prng(opts.seed ?? id);
  const subdomain = opts.subdomain ?? `quiz${id}`;
  const acc: Account = {
    id,
    name: opts.name ?? `ООО «${pick(rnd, COMPANY_NAMES)}»`,
    subdomain,
    country: 'RU',
    currency: 'RUB',
    currency_symbol: '₽',
    created_at: state.nowSec() - 86_400 * 400,
    current_user_id: 0,
    customersEnabled: opts.customersEnabled ?? true,
    duplicateControl: opts.duplicateControl ?? false,
    ...DEFAULT_ACCOUNT_OPTIONS,
    ...(opts.options ?? {}),
    users: [],
    pipelines: [],
    fields: state.emptyEntityRecord(() => []),
    tags: state.emptyEntityRecord(() => []),
    leads: [],
    contacts: [],
    companies: [],
    customers: [],
    notes: [],
    tasks: [],
    taskTypes: (opts.taskTypes ?? []).map((t) => ({ color: null, icon_id: null, code: null, ...t })),
    webhooks: [],
  };

  const users = opts.users ?? 3;
  if (typeof users === 'number') for (let i = 0; i < Math.max(1, users); i++) acc.users.push(makeUser(state, acc, {}, i));
  else users.forEach((u, i) => acc.users.push(makeUser(state, acc, u, i)));
  const currentUser = acc.users.find((u) => u.rights.is_admin) ?? acc.users[0];
  if (!currentUser) throw new Error('amo-sim: an account needs at least one user');
  acc.current_user_id = currentUser.id;

  const pipelines = opts.pipelines ?? 2;
  const statusCount = opts.statusesPerPipeline ?? 4;
  if (typeof pipelines === 'number') for (let i = 0; i < Math.max(1, pipelines); i++) acc.pipelines.push(makePipeline(state, acc, {}, statusCount));
  else for (const p of pipelines) acc.pipelines.push(makePipeline(state, acc, p, statusCount));
  const firstPipeline = acc.pipelines[0];
  if (!firstPipeline) throw new Error('amo-sim: an account needs at least one pipeline');
  if (!acc.pipelines.some((p) => p.is_main)) firstPipeline.is_main = true;

  for (const entity of ENTITY_TYPES) {
    for (const spec of predefinedFields(entity)) acc.fields[entity].push(makeField(state, acc, entity, spec));
    const types = userFieldTypes(entity);
    const n = perEntity(opts.fieldsPerEntity, entity, types.length);
    for (let i = 0; i < n; i++) {
      const type = item(types, i % types.length);
      const round = Math.floor(i / types.length);
      acc.fields[entity].push(makeField(state, acc, entity, { name: FIELD_NAMES[type] + (round ? ` ${round + 1}` : ''), type }));
    }
    const t = perEntity(opts.tagsPerEntity, entity, 5);
    for (let i = 0; i < t; i++) {
      const round = Math.floor(i / TAG_NAMES.length);
      acc.tags[entity].push(makeTag(state, item(TAG_NAMES, i % TAG_NAMES.length) + (round ? ` ${round + 1}` : '')));
    }
  }
  state.accounts.set(id, acc);
  return acc;
}
