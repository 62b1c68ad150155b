/** The control API's account set-up: seeding, snapshots, and editing users, pipelines, statuses, fields and tags. */
import type { SimState } from './state.ts';
import type { Account, AccountOptions, CustomField, EntityType, Pipeline, SeedAccountOptions, Status, Tag, User } from './types.ts';
import { DEFAULT_ACCOUNT_OPTIONS } from './types.ts';
import { STATUS_LOST, STATUS_WON, generateAccount, makePipeline, makeStatus, makeTag, makeUser } from './generator.ts';
import { type FieldSpec, makeField, nestedOf, requiredStatuses, toEnums } from './field-factory.ts';

export interface AccountSummary {
  id: number;
  subdomain: string;
  name: string;
}

export interface AccountControl {
  /** Creates an account with generated data; returns a snapshot of it. */
  seedAccount(opts?: SeedAccountOptions): Account;
  /** A snapshot (deep copy) of the account. */
  account(accountId: number): Account;
  listAccounts(): AccountSummary[];
  /** Runs `fn` on the live account (any change is visible to the API at once); returns fn's result. Not over HTTP. */
  mutate<T>(accountId: number, fn: (acc: Account) => T): T;
  /** Name, subdomain and the per-account switches (AccountOptions: admin token, field limits, Unsorted, search, 429 blocking …). */
  setAccountOptions(accountId: number, patch: { name?: string; subdomain?: string; customersEnabled?: boolean; duplicateControl?: boolean } & Partial<AccountOptions>): Account;
  removeAccount(accountId: number): void;

  addUser(accountId: number, user?: Partial<User> & { name?: string }): User;
  updateUser(accountId: number, userId: number, patch: Partial<Omit<User, 'id' | 'rights'>> & { rights?: Partial<User['rights']> }): User;
  removeUser(accountId: number, userId: number): void;
  addPipeline(accountId: number, pipeline?: { name?: string; is_main?: boolean; sort?: number; statuses?: Array<Partial<Status> & { name: string }> }): Pipeline;
  updatePipeline(accountId: number, pipelineId: number, patch: Partial<Pick<Pipeline, 'name' | 'sort' | 'is_main' | 'is_archive' | 'is_unsorted_on'>>): Pipeline;
  removePipeline(accountId: number, pipelineId: number): void;
  /** Adds a regular status (placed before 142/143). */
  addStatus(accountId: number, pipelineId: number, status: Partial<Status> & { name: string }): Status;
  updateStatus(accountId: number, pipelineId: number, statusId: number, patch: Partial<Pick<Status, 'name' | 'sort' | 'color'>>): Status;
  removeStatus(accountId: number, pipelineId: number, statusId: number): void;
  addField(accountId: number, entity: EntityType, spec: FieldSpec): CustomField;
  /** Rename / recode a field or replace its enums (an enum given by `id` keeps its id). */
  updateField(
    accountId: number,
    entity: EntityType,
    fieldId: number,
    patch: {
      name?: string;
      code?: string | null;
      is_api_only?: boolean;
      required_statuses?: Array<{ status_id: number; pipeline_id: number }>;
      enums?: Array<string | { id?: number; value: string; sort?: number }>;
    },
  ): CustomField;
  removeField(accountId: number, entity: EntityType, fieldId: number): void;
  addTag(accountId: number, entity: EntityType, name: string, color?: string | null): Tag;
  updateTag(accountId: number, entity: EntityType, tagId: number, patch: { name?: string; color?: string | null }): Tag;
  removeTag(accountId: number, entity: EntityType, tagId: number): void;
}

/** What the control API hands out: a deep copy, so a caller's edits never reach the store. */
export const snapshot = <T>(v: T): T => structuredClone(v);

/** The item with that id (ids may come as strings over HTTP); throws for an unknown one. */
function byId<T extends { id: number }>(list: T[], id: number, what: string): T {
  const v = list.find((x) => x.id === Number(id));
  if (v === undefined) throw new Error(`amo-sim: unknown ${what} ${id}`);
  return v;
}

export function createAccountControl(state: SimState): AccountControl {
  const acc = (id: number) => state.account(Number(id));
  return {
    seedAccount: (opts = {}) => snapshot(generateAccount(state, opts)),
    account: (id) => snapshot(acc(id)),
    listAccounts: () => [...state.accounts.values()].map((a) => ({ id: a.id, subdomain: a.subdomain, name: a.name })),
    mutate: (id, fn) => fn(acc(id)),
    setAccountOptions(id, patch) {
      const a = acc(id);
      if (patch.name !== undefined) a.name = patch.name;
      if (patch.subdomain !== undefined) a.subdomain = patch.subdomain;
      if (patch.customersEnabled !== undefined) a.customersEnabled = patch.customersEnabled;
      if (patch.duplicateControl !== undefined) a.duplicateControl = patch.duplicateControl;
      for (const k of Object.keys(DEFAULT_ACCOUNT_OPTIONS) as Array<keyof AccountOptions>) {
        if (patch[k] !== undefined) (a as unknown as Record<string, unknown>)[k] = patch[k];
      }
      return snapshot(a);
    },
    removeAccount(id) {
      state.accounts.delete(Number(id));
    },

    addUser(id, user = {}) {
      const a = acc(id);
      const u = makeUser(state, a, user);
      a.users.push(u);
      return snapshot(u);
    },
    updateUser(id, userId, patch) {
      const u = byId(acc(id).users, userId, 'user');
      const { rights, ...rest } = patch;
      Object.assign(u, rest);
      if (rights) Object.assign(u.rights, rights);
      return snapshot(u);
    },
    removeUser(id, userId) {
      const a = acc(id);
      a.users = a.users.filter((u) => u.id !== Number(userId));
    },
    addPipeline(id, p = {}) {
      const a = acc(id);
      const made = makePipeline(state, a, p);
      if (made.is_main) for (const x of a.pipelines) x.is_main = false;
      a.pipelines.push(made);
      return snapshot(made);
    },
    updatePipeline(id, pipelineId, patch) {
      const a = acc(id);
      const p = byId(a.pipelines, pipelineId, 'pipeline');
      if (patch.is_main) for (const x of a.pipelines) x.is_main = false;
      Object.assign(p, patch);
      return snapshot(p);
    },
    removePipeline(id, pipelineId) {
      const a = acc(id);
      const p = byId(a.pipelines, pipelineId, 'pipeline');
      a.pipelines = a.pipelines.filter((x) => x !== p);
      if (p.is_main && a.pipelines[0]) a.pipelines[0].is_main = true;
    },
    addStatus(id, pipelineId, s) {
      const a = acc(id);
      const p = byId(a.pipelines, pipelineId, 'pipeline');
      const regular = p.statuses.filter((x) => x.id !== STATUS_WON && x.id !== STATUS_LOST);
      const status = makeStatus(state, a, p.id, s, (regular.at(-1)?.sort ?? 10) + 10);
      p.statuses.splice(regular.length, 0, status);
      return snapshot(status);
    },
    updateStatus(id, pipelineId, statusId, patch) {
      const s = byId(byId(acc(id).pipelines, pipelineId, 'pipeline').statuses, statusId, 'status');
      Object.assign(s, patch);
      return snapshot(s);
    },
    removeStatus(id, pipelineId, statusId) {
      const p = byId(acc(id).pipelines, pipelineId, 'pipeline');
      p.statuses = p.statuses.filter((x) => x.id !== Number(statusId));
    },
    addField(id, entity, spec) {
      const a = acc(id);
      const f = makeField(state, a, entity, spec);
      a.fields[entity].push(f);
      return snapshot(f);
    },
    updateField(id, entity, fieldId, patch) {
      const f = byId(acc(id).fields[entity], fieldId, 'field');
      if (patch.name !== undefined) f.name = patch.name;
      if (patch.code !== undefined) f.code = patch.code;
      if (patch.is_api_only !== undefined) f.is_api_only = patch.is_api_only;
      if (patch.required_statuses !== undefined) f.required_statuses = requiredStatuses(patch.required_statuses);
      if (patch.enums) {
        f.enums = toEnums(patch.enums, (given) => given ?? state.nextId('enum'));
        if (f.type === 'category') f.nested = nestedOf(f.enums);
      }
      return snapshot(f);
    },
    removeField(id, entity, fieldId) {
      const a = acc(id);
      a.fields[entity] = a.fields[entity].filter((f) => f.id !== Number(fieldId));
    },
    addTag(id, entity, name, color) {
      const t = makeTag(state, name, color);
      acc(id).tags[entity].push(t);
      return snapshot(t);
    },
    updateTag(id, entity, tagId, patch) {
      const t = byId(acc(id).tags[entity], tagId, 'tag');
      Object.assign(t, patch);
      return snapshot(t);
    },
    removeTag(id, entity, tagId) {
      const a = acc(id);
      a.tags[entity] = a.tags[entity].filter((t) => t.id !== Number(tagId));
    },
  };
}
