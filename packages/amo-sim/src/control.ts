/**
 * The control API: seeding and mutating accounts, consent, revoke, faults, and reading back
 * what the simulator received. Used in-process, and over HTTP as `POST /_sim/<method>`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SimState } from './state.ts';
import type {
  Account,
  AccountOptions,
  CustomField,
  CustomFieldValue,
  EntityType,
  Fault,
  LeadView,
  Note,
  Pipeline,
  RequestLogEntry,
  SeedAccountOptions,
  Status,
  StoredCompany,
  StoredContact,
  StoredCustomer,
  Tag,
  TokenRequestEntry,
  User,
  Webhook,
  WebhookDelivery,
} from './types.ts';
import { DEFAULT_ACCOUNT_OPTIONS } from './types.ts';
import { STATUS_LOST, STATUS_WON, generateAccount, makePipeline, makeStatus, makeTag, makeUser } from './generator.ts';
import { type FieldSpec, makeField, nestedOf, requiredStatuses, toEnums } from './field-factory.ts';
import { type AuthorizeParams, authorize } from './oauth.ts';
import { type TokenPair, expireAccessTokens, issueTokens, revoke } from './tokens.ts';
import { addFault, pendingFaults } from './limits.ts';
import * as hooks from './webhooks.ts';
import { sendJson, sendEmpty } from './http.ts';

export interface AccountSummary {
  id: number;
  subdomain: string;
  name: string;
}

export interface ControlApi {
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

  /** Answers the consent screen; returns the redirect URL (to the integration's redirect URI). */
  authorize(params: AuthorizeParams): string;
  /** Issues a token pair directly, skipping the OAuth dance (tests that only need API access). */
  issueTokens(accountId: number, clientId?: string): TokenPair;
  /** The integration is removed on amoCRM's side: every token of the account dies. */
  revoke(accountId: number, clientId?: string): void;
  expireAccessTokens(accountId: number): void;
  /** Moves the simulated clock (code / token expiry) forward. */
  advanceClock(ms: number): number;
  tokenRequests(accountId: number): TokenRequestEntry[];
  /** refresh_token grants requested for the account, failed ones (reused token) included. */
  refreshCount(accountId: number): number;

  injectFault(accountId: number, fault: Fault): void;
  faults(accountId: number): Array<Fault & { remaining: number }>;
  clearFaults(accountId: number): void;
  block(accountId: number): void;
  unblock(accountId: number): void;
  isBlocked(accountId: number): boolean;

  requestLog(accountId: number): RequestLogEntry[];
  clearRequestLog(accountId: number): void;
  /** Most requests (any outcome) that arrived within any 1-second window. */
  maxRequestsInAnySecond(accountId: number): number;
  leads(accountId: number): LeadView[];
  contacts(accountId: number): StoredContact[];
  companies(accountId: number): StoredCompany[];
  /** stored customers with their linked contact/lead/company ids and `raw` as sent */
  customers(accountId: number): StoredCustomer[];
  notes(accountId: number): Note[];
  webhooks(accountId: number): Webhook[];

  sendDisconnectHook(accountId: number, url: string, opts?: hooks.DisconnectHookOptions): Promise<number>;
  changeLeadStatus(accountId: number, leadId: number, statusId: number, pipelineId?: number): Promise<WebhookDelivery[]>;
  deleteLead(accountId: number, leadId: number): Promise<WebhookDelivery[]>;
  updateContact(
    accountId: number,
    contactId: number,
    patch?: { name?: string; first_name?: string; last_name?: string; responsible_user_id?: number; custom_fields_values?: CustomFieldValue[] | null },
  ): Promise<WebhookDelivery[]>;
  /** Adds a common note to a lead and sends `note_lead`. */
  addNote(accountId: number, leadId: number, text: string): Promise<WebhookDelivery[]>;
  replayLastWebhook(accountId: number): Promise<WebhookDelivery>;
  webhookDeliveries(accountId: number): WebhookDelivery[];
  /** Forgets every account, token, log and fault. */
  reset(): void;
}

function findOr<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`amo-sim: unknown ${what}`);
  return v;
}

export function maxInAnySecond(times: number[]): number {
  const t = [...times].sort((a, b) => a - b);
  let best = 0;
  let j = 0;
  for (const [i, ti] of t.entries()) {
    // j ≤ i, so t[j] is there; the fallback only ends the loop
    while (ti - (t[j] ?? ti) >= 1000) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

export function createControl(state: SimState): ControlApi {
  const acc = (id: number) => state.account(Number(id));
  const pipeline = (a: Account, id: number) =>
    findOr(
      a.pipelines.find((p) => p.id === Number(id)),
      `pipeline ${id}`,
    );
  const snapshot = <T>(v: T): T => structuredClone(v);

  const api: ControlApi = {
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
      const u = findOr(
        acc(id).users.find((x) => x.id === Number(userId)),
        `user ${userId}`,
      );
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
      const p = pipeline(a, pipelineId);
      if (patch.is_main) for (const x of a.pipelines) x.is_main = false;
      Object.assign(p, patch);
      return snapshot(p);
    },
    removePipeline(id, pipelineId) {
      const a = acc(id);
      const p = pipeline(a, pipelineId);
      a.pipelines = a.pipelines.filter((x) => x !== p);
      if (p.is_main && a.pipelines[0]) a.pipelines[0].is_main = true;
    },
    addStatus(id, pipelineId, s) {
      const a = acc(id);
      const p = pipeline(a, pipelineId);
      const regular = p.statuses.filter((x) => x.id !== STATUS_WON && x.id !== STATUS_LOST);
      const status = makeStatus(state, a, p.id, s, (regular.at(-1)?.sort ?? 10) + 10);
      p.statuses.splice(regular.length, 0, status);
      return snapshot(status);
    },
    updateStatus(id, pipelineId, statusId, patch) {
      const s = findOr(
        pipeline(acc(id), pipelineId).statuses.find((x) => x.id === Number(statusId)),
        `status ${statusId}`,
      );
      Object.assign(s, patch);
      return snapshot(s);
    },
    removeStatus(id, pipelineId, statusId) {
      const p = pipeline(acc(id), pipelineId);
      p.statuses = p.statuses.filter((x) => x.id !== Number(statusId));
    },
    addField(id, entity, spec) {
      const a = acc(id);
      const f = makeField(state, a, entity, spec);
      a.fields[entity].push(f);
      return snapshot(f);
    },
    updateField(id, entity, fieldId, patch) {
      const f = findOr(
        acc(id).fields[entity].find((x) => x.id === Number(fieldId)),
        `field ${fieldId}`,
      );
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
      const t = findOr(
        acc(id).tags[entity].find((x) => x.id === Number(tagId)),
        `tag ${tagId}`,
      );
      Object.assign(t, patch);
      return snapshot(t);
    },
    removeTag(id, entity, tagId) {
      const a = acc(id);
      a.tags[entity] = a.tags[entity].filter((t) => t.id !== Number(tagId));
    },

    authorize: (p) => authorize(state, { ...p, accountId: Number(p.accountId) }),
    issueTokens(id, clientId) {
      const a = acc(id);
      const user = a.users.find((u) => u.rights.is_admin) ?? a.users[0];
      if (!user) throw new Error(`amo-sim: account ${a.id} has no users`);
      return issueTokens(state, a.id, clientId ?? state.mainIntegration().clientId, user.id);
    },
    revoke: (id, clientId) => revoke(state, Number(id), clientId),
    expireAccessTokens: (id) => expireAccessTokens(state, Number(id)),
    advanceClock(ms) {
      state.clockOffsetMs += Number(ms);
      return state.now();
    },
    tokenRequests: (id) => snapshot(state.tokenRequests.get(Number(id)) ?? []),
    refreshCount: (id) => (state.tokenRequests.get(Number(id)) ?? []).filter((r) => r.grantType === 'refresh_token').length,

    injectFault: (id, fault) => addFault(state, Number(id), fault),
    faults: (id) => pendingFaults(state, Number(id)),
    clearFaults: (id) => void state.faults.delete(Number(id)),
    block: (id) => void state.blocked.add(Number(id)),
    unblock(id) {
      state.blocked.delete(Number(id));
      state.consecutive429.delete(Number(id));
    },
    isBlocked: (id) => state.blocked.has(Number(id)),

    requestLog: (id) => snapshot(state.requestLogs.get(Number(id)) ?? []),
    clearRequestLog: (id) => void state.requestLogs.delete(Number(id)),
    maxRequestsInAnySecond: (id) => maxInAnySecond((state.requestLogs.get(Number(id)) ?? []).map((e) => e.at)),
    leads(id) {
      const a = acc(id);
      return snapshot(
        a.leads.map((l) => ({
          ...l,
          contact: a.contacts.find((c) => c.id === l.contact_id) ?? null,
          company: a.companies.find((c) => c.id === l.company_id) ?? null,
          notes: a.notes.filter((n) => n.entity_type === 'leads' && n.entity_id === l.id),
        })),
      );
    },
    contacts: (id) => snapshot(acc(id).contacts),
    companies: (id) => snapshot(acc(id).companies),
    customers: (id) => snapshot(acc(id).customers),
    notes: (id) => snapshot(acc(id).notes),
    webhooks: (id) => snapshot(acc(id).webhooks),

    sendDisconnectHook: (id, url, opts) => hooks.sendDisconnectHook(state, Number(id), url, opts),
    changeLeadStatus: (id, leadId, statusId, pipelineId) =>
      hooks.changeLeadStatus(state, Number(id), Number(leadId), Number(statusId), pipelineId === undefined ? undefined : Number(pipelineId)),
    deleteLead: (id, leadId) => hooks.deleteLead(state, Number(id), Number(leadId)),
    updateContact: (id, contactId, patch) => hooks.updateContact(state, Number(id), Number(contactId), patch),
    addNote: (id, leadId, text) => hooks.addNote(state, Number(id), Number(leadId), text).deliveries,
    replayLastWebhook: (id) => hooks.replayLastWebhook(state, Number(id)),
    webhookDeliveries: (id) => snapshot(state.deliveries.get(Number(id)) ?? []),
    reset() {
      for (const m of [
        state.accounts,
        state.codes,
        state.accessTokens,
        state.refreshTokens,
        state.requestLogs,
        state.tokenRequests,
        state.faults,
        state.rateWindows,
        state.consecutive429,
        state.deliveries,
      ])
        m.clear();
      state.blocked.clear();
      state.clockOffsetMs = 0;
    },
  };
  return api;
}

/** Methods callable as `POST /_sim/<method>` (body: the arguments as a JSON array, or one object). */
const HTTP_METHODS = new Set<keyof ControlApi>([
  'seedAccount',
  'account',
  'listAccounts',
  'setAccountOptions',
  'removeAccount',
  'addUser',
  'updateUser',
  'removeUser',
  'addPipeline',
  'updatePipeline',
  'removePipeline',
  'addStatus',
  'updateStatus',
  'removeStatus',
  'addField',
  'updateField',
  'removeField',
  'addTag',
  'updateTag',
  'removeTag',
  'authorize',
  'issueTokens',
  'revoke',
  'expireAccessTokens',
  'advanceClock',
  'tokenRequests',
  'refreshCount',
  'injectFault',
  'faults',
  'clearFaults',
  'block',
  'unblock',
  'isBlocked',
  'requestLog',
  'clearRequestLog',
  'maxRequestsInAnySecond',
  'leads',
  'contacts',
  'companies',
  'customers',
  'notes',
  'webhooks',
  'sendDisconnectHook',
  'changeLeadStatus',
  'deleteLead',
  'updateContact',
  'addNote',
  'replayLastWebhook',
  'webhookDeliveries',
  'reset',
]);

/**
 * `/_sim/<method>`: POST with a JSON array of arguments (a non-array body is the single argument),
 * or GET with `?args=<json array>` or `?accountId=N`. Answers the result as JSON (204 when none);
 * 400 `{error}` when the call throws. `GET /_sim` lists the methods and the host.
 */
export async function handleControlHttp(control: ControlApi, state: SimState, req: IncomingMessage, res: ServerResponse, url: URL, body: unknown): Promise<void> {
  const name = url.pathname.replace(/^\/_sim\/?/, '');
  if (!name) {
    sendJson(
      res,
      200,
      {
        host: state.host,
        url: state.baseUrl,
        integrations: [...state.integrations.values()].map((i) => ({ clientId: i.clientId, redirectUri: i.redirectUri })),
        methods: [...HTTP_METHODS],
      },
      'application/json',
    );
    return;
  }
  if (!HTTP_METHODS.has(name as keyof ControlApi)) {
    sendJson(res, 404, { error: `unknown control method ${name}` }, 'application/json');
    return;
  }
  let args: unknown[];
  if (req.method === 'GET') {
    const a = url.searchParams.get('args');
    args = a ? JSON.parse(a) : url.searchParams.has('accountId') ? [Number(url.searchParams.get('accountId'))] : [];
  } else args = Array.isArray(body) ? body : body === undefined ? [] : [body];
  try {
    const fn = control[name as keyof ControlApi] as (...a: unknown[]) => unknown;
    const result = await fn(...args);
    if (result === undefined) sendEmpty(res, 204);
    else sendJson(res, 200, result, 'application/json');
  } catch (e) {
    sendJson(res, 400, { error: (e as Error).message }, 'application/json');
  }
}
