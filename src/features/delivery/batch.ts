/**
 * One account's claimed batch: confirm what may already be in amoCRM, build the leads, send them
 * up to 50 per `leads/complex`, repair what amoCRM refuses, then add the notes (notes.ts). The
 * protocol (stages, leases, reconcile, failures) is described in docs/delivery.md.
 */
import type { Delivery } from '../../generated/prisma/client.ts';
import type { DeliveryReason, DeliveryStage, DeliveryStatus } from '../../generated/prisma/enums.ts';
import { AmoError, AmoRateLimitedError, AmoValidationError, type AmoClient, type AmoComplexLeadInput, type AmoComplexLeadResult } from '../../platform/amo/index.ts';
import { amoId } from '../../platform/amo-ids.ts';
import type { QuizResult } from './input.ts';
import type { Lease } from './lease.ts';
import { addNotes } from './notes.ts';
import type { DeliveryRuntime } from './options.ts';
import { ensureCustomers } from './customers.ts';
import { attachDuplicates } from './duplicates.ts';
import { buildLead, loadPayloadContext, type CustomerInput, type PayloadContext } from './payload.ts';
import { classify, errMessage, internalRetryText, isAmoSideError, ownerError, reasonOfError, retryText, waitText, type Outcome } from './reasons.ts';
import { ensureReconcileSetup, type ReconcileSetup } from './reconcile.ts';
import { onRefused } from './refusals.ts';
import { confirmSent } from './confirm.ts';
import { assignUsers } from './assign.ts';
import { ensureTasks } from './tasks.ts';
import { applyRuleState } from './rule-state.ts';
import { resolveTagNames } from './tag-names.ts';

export const NO_RULE_ERROR = 'Not delivered: the quiz has no rule in the gateway. Create the rule, then retry.';

export interface Item {
  d: Delivery;
  result: QuizResult;
  lead?: AmoComplexLeadInput;
  note?: string;
  warnings?: string[];
  /** ids once the lead exists */
  leadId?: number;
  contactId?: number | null;
  companyId?: number | null;
  /** the note may already be there (found in LEAD_CREATED) */
  checkNote?: boolean;
  /** how many times amoCRM's refusals were repaired (bounded: a refusal past that is final) */
  repairs?: number;
  /** the customer to create once the lead exists (built with the lead; customers.ts) */
  customer?: CustomerInput | null;
  customerAnswers?: string[];
  /** the lead as built, before duplicates.ts attached it to an existing contact or company */
  unmerged?: AmoComplexLeadInput;
}

export function backoff(rt: DeliveryRuntime, attempts: number, atLeastMs = 0): number {
  const o = rt.options;
  const base = Math.min(o.maxBackoffMs, o.backoffMs * 2 ** Math.max(0, attempts - 1));
  // jitter within the cap: maxBackoffMs is the longest wait, as its name says
  return Math.max(atLeastMs, Math.min(o.maxBackoffMs, Math.round(base * (0.8 + Math.random() * 0.4))));
}

const at = (ms: number) => new Date(Date.now() + ms);

/** Setups in flight per runtime and account: the passes of one worker run them one after another. */
const setups = new WeakMap<DeliveryRuntime, Map<string, Promise<unknown>>>();

/**
 * `ensureReconcileSetup` of the account, one at a time within this worker: passes side by side
 * (passesInFlight) would otherwise both create the result-id field of a new account, and the
 * one amoCRM refuses as a duplicate would fall back to LEAD_CONTENT. The next one reads the field stored.
 */
export function reconcileSetupOf(rt: DeliveryRuntime, client: AmoClient, accountId: string): Promise<ReconcileSetup> {
  let inFlight = setups.get(rt);
  if (!inFlight) setups.set(rt, (inFlight = new Map()));
  const map = inFlight;
  const before = map.get(accountId) ?? Promise.resolve();
  const mine = before.catch(() => {}).then(() => ensureReconcileSetup(rt.services, client, accountId, rt.signal));
  map.set(accountId, mine);
  void mine
    .catch(() => {})
    .then(() => {
      if (map.get(accountId) === mine) map.delete(accountId);
    });
  return mine;
}

export class AccountRun {
  private readonly contexts = new Map<string, Promise<PayloadContext | null>>();
  /** the contexts with their tag names resolved (created in amoCRM when missing), for the leads sent now */
  private readonly sendContexts = new Map<string, Promise<PayloadContext | null>>();
  setup: ReconcileSetup = { mode: 'RESULT_FIELD', resultFieldId: null };

  constructor(
    readonly rt: DeliveryRuntime,
    readonly accountId: string,
    readonly lease: Lease,
    readonly client: AmoClient,
  ) {}

  get log() {
    return this.rt.services.logger;
  }

  async publish(d: Delivery, status: DeliveryStatus): Promise<void> {
    await this.rt.services.events.deliveryUpdated({ id: d.id, quizAccountId: d.quizAccountId, quizId: d.quizId, status });
  }

  context(quizId: string): Promise<PayloadContext | null> {
    let p = this.contexts.get(quizId);
    if (!p) {
      p = loadPayloadContext(this.rt.services.db, this.accountId, quizId).then((ctx) => (ctx ? { ...ctx, resultFieldId: this.setup.resultFieldId } : null));
      this.contexts.set(quizId, p);
    }
    return p;
  }

  /** `context(quizId)` with the rule's tag names resolved to ids (tag-names.ts): only for leads about to be sent. */
  sendContext(quizId: string): Promise<PayloadContext | null> {
    let p = this.sendContexts.get(quizId);
    if (!p) {
      const deps = { db: this.rt.services.db, client: this.client, accountId: this.accountId, signal: this.rt.signal, log: this.log };
      p = this.context(quizId).then((ctx) => (ctx ? resolveTagNames(deps, ctx) : null));
      this.sendContexts.set(quizId, p);
    }
    return p;
  }

  /** `attempts`: the count to record when this failure spent one the database does not know of yet. */
  async fail(item: Item, text: string, reason: DeliveryReason, stage?: DeliveryStage, attempts?: number): Promise<void> {
    const data = {
      status: 'FAILED' as const,
      reason,
      lastError: text,
      ...(attempts !== undefined ? { attempts } : {}),
      ...(stage ? { stage } : {}),
      ...(item.warnings ? { warnings: item.warnings } : {}),
    };
    if (await this.lease.update(item.d.id, data, true)) {
      this.log.warn({ deliveryId: item.d.id, reason }, 'delivery failed');
      await this.publish(item.d, 'FAILED');
    }
  }

  /**
   * Puts items back to wait, saying why: an account-wide wait (stale, blocked) spends no attempt;
   * anything else spends one, and the last allowed attempt ends FAILED with the reason.
   * `delivery.updated` fires when the reason changes.
   */
  async reschedule(
    items: Item[],
    err: unknown,
    outcome: Outcome,
    opts: { stage?: DeliveryStage; attemptsSpent: boolean; reason?: DeliveryReason; text?: (detail: string, nextAt: Date) => string },
  ): Promise<void> {
    const detail = ownerError(err, this.log);
    for (const item of items) {
      const stage = opts.stage ? { stage: opts.stage } : {};
      if (outcome === 'paused') {
        const reason = reasonOfError(err, false) as 'NO_ACCOUNT' | 'RECONNECT_NEEDED' | 'ACCOUNT_BLOCKED';
        const written = await this.lease.update(item.d.id, { ...stage, reason, lastError: waitText(reason), attempts: item.d.attempts, nextAttemptAt: new Date() }, true);
        // a row whose lease was lost is another process's to announce
        if (written && item.d.reason !== reason) await this.publish(item.d, 'PENDING');
        continue;
      }
      const attempts = item.d.attempts + (opts.attemptsSpent ? 1 : 0);
      if (opts.attemptsSpent && attempts >= this.rt.options.maxAttempts) {
        await this.fail(
          item,
          `Not delivered: amoCRM did not take it after ${attempts} attempts (last: ${detail}). Retry it when amoCRM works again.`,
          'RETRIES_EXHAUSTED',
          opts.stage,
          attempts,
        );
        continue;
      }
      const reason = opts.reason ?? reasonOfError(err, outcome === 'maybe');
      const retryAfter = err instanceof AmoRateLimitedError ? (err.retryAfterMs ?? 0) : 0;
      const delay = outcome === 'maybe' ? Math.max(this.rt.options.reconcileDelayMs, backoff(this.rt, attempts)) : backoff(this.rt, attempts, retryAfter);
      const nextAttemptAt = at(delay);
      const lastError = opts.text ? opts.text(detail, nextAttemptAt) : isAmoSideError(err) ? retryText(reason, detail, nextAttemptAt) : internalRetryText(detail, nextAttemptAt);
      const written = await this.lease.update(item.d.id, { ...stage, reason, lastError, attempts, nextAttemptAt }, true);
      if (written && item.d.reason !== reason) await this.publish(item.d, 'PENDING');
    }
  }

  /** Everything that stops the whole account's batch (stale, blocked, …) before a send. */
  async pauseAll(items: Item[], err: unknown): Promise<void> {
    const outcome = classify(err, this.rt.signal);
    this.log.warn({ accountId: this.accountId, err: errMessage(err), outcome }, 'delivery batch interrupted');
    if (outcome === 'paused') await this.reschedule(items, err, 'paused', { attemptsSpent: false });
    else await this.reschedule(items, err, outcome === 'maybe' ? 'retry' : outcome, { attemptsSpent: true });
  }

  async run(rows: Delivery[]): Promise<void> {
    const items: Item[] = rows.map((d) => ({ d, result: d.payload as unknown as QuizResult }));
    try {
      this.setup = await reconcileSetupOf(this.rt, this.client, this.accountId);
    } catch (err) {
      await this.pauseAll(items, err);
      return;
    }

    const toSend: Item[] = [];
    const toNote: Item[] = [];
    const toConfirm: Item[] = [];
    for (const item of items) {
      if (item.d.stage === 'QUEUED') toSend.push(item);
      else if (item.d.stage === 'LEAD_CREATED' && item.d.amoLeadId) toNote.push({ ...item, leadId: amoId(item.d.amoLeadId), checkNote: true });
      else if (item.d.stage === 'SENDING' || item.d.stage === 'LEAD_CREATED') toConfirm.push(item);
      else {
        // DONE but still PENDING cannot normally happen: finish it
        await this.lease.update(item.d.id, { status: 'DELIVERED', reason: null, lastError: null, deliveredAt: new Date() }, true);
        await this.publish(item.d, 'DELIVERED');
      }
    }
    const confirmed = await confirmSent(this, toConfirm);
    toSend.push(...confirmed.resend);
    toNote.push(...confirmed.found);

    toSend.splice(0, toSend.length, ...(await applyRuleState(this, toSend))); // a paused rule's wait, a deleted rule's are refused
    // build the leads, each with its responsible user (chosen once: assign.ts)
    const ready: Item[] = [];
    const assigned = await assignUsers(this, toSend);
    for (const item of toSend) {
      const who = assigned.get(item.d.id);
      if (!who) continue; // the lease was lost
      const base = await this.sendContext(item.d.quizId);
      const ctx = base && who.amoId !== undefined ? { ...base, rule: { ...base.rule, performerAmoId: who.amoId } } : base;
      if (!ctx) {
        await this.fail(item, NO_RULE_ERROR, 'NO_RULE', 'QUEUED');
        continue;
      }
      try {
        const built = buildLead(item.result, ctx, { requestId: item.d.id, now: item.result.submittedAt ? undefined : item.d.createdAt });
        const warnings = who.warning ? [...built.warnings, who.warning] : built.warnings;
        ready.push({ ...item, lead: built.lead, note: built.note, warnings, customer: built.customer, customerAnswers: built.customerAnswers });
      } catch (err) {
        await this.fail(item, `Not delivered: the lead could not be built (${ownerError(err, this.log)}).`, 'AMO_REJECTED', 'QUEUED');
      }
    }

    await attachDuplicates(this, ready);
    for (let i = 0; i < ready.length; i += this.rt.options.batchSize) {
      const created = await this.send(ready.slice(i, i + this.rt.options.batchSize));
      toNote.push(...created);
    }
    if (toNote.length && this.rt.options.hooks.afterLeadCreated) await this.rt.options.hooks.afterLeadCreated(toNote.map((i) => i.d.id));
    await addNotes(this, await ensureTasks(this, await ensureCustomers(this, toNote)));
  }

  /** One leads/complex call for `chunk`; returns the items whose lead now exists. (refusals.ts sends again through it.) */
  async send(chunk: Item[]): Promise<Item[]> {
    if (chunk.length === 0) return [];
    await this.lease.renew();
    const mine = chunk.filter((i) => this.lease.held.has(i.d.id));
    if (mine.length === 0) return [];
    // commit SENDING (+1 attempt) with what is sent, for the whole chunk at once: one statement
    const db = this.rt.services.db;
    const lease = this.lease.until.toISOString();
    const toMark = mine.map((i) => ({ id: i.d.id, warnings: i.warnings ?? [], lead: i.lead }));
    const marked = await db.$queryRaw<{ id: string }[]>`
      UPDATE delivery d SET stage = 'SENDING', attempts = d.attempts + 1, warnings = r.warnings,
        first_sent_at = coalesce(d.first_sent_at, now()), sent_lead = r.lead, updated_at = now()
      FROM jsonb_to_recordset(${JSON.stringify(toMark)}::jsonb) AS r(id uuid, warnings text[], lead jsonb)
      WHERE d.id = r.id AND d.locked_until = ${lease}::timestamptz AND d.status = 'PENDING' AND d.stage IN ('QUEUED', 'SENDING')
      RETURNING d.id`;
    const markedIds = new Set(marked.map((r) => r.id));
    const sending = this.lease.keepWritten(
      mine,
      mine.map((i) => (markedIds.has(i.d.id) ? 1 : 0)),
      (i) => i.d.id,
    );
    if (sending.length === 0) return [];
    if (this.rt.options.hooks.beforeSend) await this.rt.options.hooks.beforeSend(sending.map((i) => i.d.id));

    const timeout = Math.max(1, Math.min(this.rt.options.sendTimeoutMs, this.lease.remainingMs() - this.rt.options.leaseMs * 0.2));
    const signal = AbortSignal.any([AbortSignal.timeout(timeout), ...(this.rt.signal ? [this.rt.signal] : [])]);
    let answer: AmoComplexLeadResult[];
    try {
      answer = await this.client.createLeadsComplex(
        sending.map((i) => i.lead as AmoComplexLeadInput),
        { signal },
      );
    } catch (err) {
      const outcome = classify(err, signal);
      if (outcome === 'validation') return onRefused(this, sending, err as AmoValidationError);
      this.log.warn({ accountId: this.accountId, n: sending.length, err: errMessage(err), outcome }, 'leads/complex failed');
      // not processed → back to QUEUED; maybe processed → stays SENDING (reconciled next time)
      if (outcome === 'paused') await this.reschedule(sending, err, 'paused', { stage: 'QUEUED', attemptsSpent: false });
      else if (outcome === 'maybe') await this.reschedule(sending, err, 'maybe', { stage: 'SENDING', attemptsSpent: true });
      else await this.reschedule(sending, err, 'retry', { stage: 'QUEUED', attemptsSpent: true });
      return [];
    }
    if (this.rt.options.hooks.afterSend) await this.rt.options.hooks.afterSend(sending.map((i) => i.d.id));

    const list = Array.isArray(answer) ? answer : [];
    const byRequest = new Map<string, AmoComplexLeadResult>();
    for (const r of list) {
      const rid = Array.isArray(r.request_id) ? r.request_id[0] : r.request_id;
      if (rid !== undefined && rid !== null) byRequest.set(String(rid), r);
    }
    const created: Item[] = [];
    const missing: Item[] = [];
    sending.forEach((item, k) => {
      const r = byRequest.get(item.d.id) ?? (list.length === sending.length ? list[k] : undefined);
      if (!r || !Number.isFinite(Number(r.id))) missing.push(item);
      else created.push({ ...item, leadId: Number(r.id), contactId: r.contact_id ?? null, companyId: r.company_id ?? null });
    });
    // commit LEAD_CREATED + ids, one statement for the chunk
    const toCreate = created.map((i) => ({ id: i.d.id, lead_id: i.leadId, contact_id: i.contactId, company_id: i.companyId, warnings: i.warnings ?? [] }));
    const stored =
      created.length === 0
        ? []
        : await db.$queryRaw<{ id: string }[]>`
      UPDATE delivery d SET stage = 'LEAD_CREATED', amo_lead_id = r.lead_id, amo_contact_id = r.contact_id, amo_company_id = r.company_id,
        reason = 'ADDING_NOTE', last_error = NULL, warnings = r.warnings, updated_at = now()
      FROM jsonb_to_recordset(${JSON.stringify(toCreate)}::jsonb) AS r(id uuid, lead_id bigint, contact_id bigint, company_id bigint, warnings text[])
      WHERE d.id = r.id AND d.locked_until = ${lease}::timestamptz AND d.status = 'PENDING'
      RETURNING d.id`;
    const storedIds = new Set(stored.map((r) => r.id));
    if (missing.length) {
      // amoCRM answered without these: they may exist; reconcile later
      await this.reschedule(missing, new AmoError("amoCRM's answer did not list this lead"), 'maybe', { stage: 'SENDING', attemptsSpent: true });
    }
    return created.filter((i) => {
      if (storedIds.has(i.d.id)) return true;
      this.lease.held.delete(i.d.id);
      return false;
    });
  }

  /** The note is in amoCRM (or given up with a warning): DONE, DELIVERED. */
  async finish(item: Item, warnings?: string[]): Promise<void> {
    const ok = await this.lease.update(
      item.d.id,
      { stage: 'DONE', status: 'DELIVERED', reason: null, deliveredAt: new Date(), lastError: null, ...(warnings ? { warnings } : {}) },
      true,
    );
    if (ok) await this.publish(item.d, 'DELIVERED');
  }

  /** `finish` for many items: one fenced statement (each item's own warnings, when it has them) and one publish. */
  async finishAll(items: Item[]): Promise<void> {
    const mine = items.filter((i) => this.lease.held.has(i.d.id));
    if (mine.length === 0) return;
    const rows = mine.map((i) => ({ id: i.d.id, warnings: i.warnings ?? null }));
    const done = await this.rt.services.db.$queryRaw<{ id: string }[]>`
      UPDATE delivery d SET stage = 'DONE', status = 'DELIVERED', reason = NULL, last_error = NULL, delivered_at = ${new Date().toISOString()}::timestamptz,
        warnings = coalesce(r.warnings, d.warnings), locked_until = NULL, updated_at = now()
      FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS r(id uuid, warnings text[])
      WHERE d.id = r.id AND d.locked_until = ${this.lease.until.toISOString()}::timestamptz AND d.status = 'PENDING'
      RETURNING d.id`;
    for (const i of mine) this.lease.held.delete(i.d.id);
    const delivered = new Set(done.map((r) => r.id));
    await this.rt.services.events.deliveriesUpdated(
      mine.filter((i) => delivered.has(i.d.id)).map((i) => ({ id: i.d.id, quizAccountId: i.d.quizAccountId, quizId: i.d.quizId, status: 'DELIVERED' as const })),
    );
  }
}
