/**
 * The control API's side of the traffic: consent and tokens, the clock, faults and blocks, reading
 * back what the simulator received, and sending amoCRM's webhooks.
 */
import type { SimState } from './state.ts';
import type {
  CustomFieldValue,
  Fault,
  LeadView,
  Note,
  Task,
  RequestLogEntry,
  StoredCompany,
  StoredContact,
  StoredCustomer,
  TokenRequestEntry,
  Webhook,
  WebhookDelivery,
} from './types.ts';
import { type AuthorizeParams, authorize } from './oauth.ts';
import { type TokenPair, expireAccessTokens, issueTokens, revoke } from './tokens.ts';
import { addFault, pendingFaults } from './limits.ts';
import * as hooks from './webhooks.ts';
import { snapshot } from './control-accounts.ts';

export interface TrafficControl {
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
  tasks(accountId: number): Task[];
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

/** Most of the given arrival times (ms) that fall within one 1-second window. */
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

export function createTrafficControl(state: SimState): TrafficControl {
  const acc = (id: number) => state.account(Number(id));
  return {
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
    tasks: (id) => snapshot(acc(id).tasks),
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
}
