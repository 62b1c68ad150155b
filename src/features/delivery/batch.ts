/**
 * One account's claimed batch: confirm what may already be in amoCRM, build the leads, send them
 * up to 50 per `leads/complex`, repair what amoCRM refuses, then add the notes (notes.ts). The
 * protocol (stages, leases, reconcile, failures) is described in docs/delivery.md.
 */
import type { Delivery } from '../../generated/prisma/client.ts';
import type { DeliveryReason, DeliveryStage, DeliveryStatus } from '../../generated/prisma/enums.ts';
import { AmoRateLimitedError, type AmoClient, type AmoComplexLeadInput } from '../../platform/amo/index.ts';
import { amoId } from '../../platform/amo-ids.ts';
import type { QuizResult } from './input.ts';
import type { Lease } from './lease.ts';
import { addNotes } from './notes.ts';
import type { DeliveryRuntime } from './options.ts';
import { ensureCustomers } from './customers.ts';
import { attachDuplicates } from './duplicates.ts';
import { addMergedTags } from './merged-tags.ts';
import type { CustomerInput, PayloadContext } from './payload.ts';
import { payloadContextOf } from './payload-context.ts';
import { loadRuleRow, type RuleRow } from './rule-row.ts';
import { classify, errMessage, internalRetryText, isAmoSideError, ownerError, reasonOfError, retryText, waitText, type Outcome } from './reasons.ts';
import { reconcileSetupOf, type ReconcileSetup } from './reconcile.ts';
import { confirmSent } from './confirm.ts';
import { buildLeads } from './build.ts';
import { sendLeads } from './send.ts';
import { ensureTasks } from './tasks.ts';
import { resolveTagNames } from './tag-names.ts';

export { NO_RULE_ERROR } from './build.ts';

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

export class AccountRun {
  /** each quiz's rule, read once per run (rule-row.ts): the context, the assignment, the task and the paused state come from it */
  private readonly rules = new Map<string, Promise<RuleRow | null>>();
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

  rule(quizId: string): Promise<RuleRow | null> {
    let p = this.rules.get(quizId);
    if (!p) this.rules.set(quizId, (p = loadRuleRow(this.rt.services.db, this.accountId, quizId)));
    return p;
  }

  context(quizId: string): Promise<PayloadContext | null> {
    let p = this.contexts.get(quizId);
    if (!p) {
      p = this.rule(quizId).then((row) => (row ? { ...payloadContextOf(row, quizId), resultFieldId: this.setup.resultFieldId } : null));
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

    const ready = await buildLeads(this, toSend);
    await attachDuplicates(this, ready);
    for (let i = 0; i < ready.length; i += this.rt.options.batchSize) {
      const created = await this.send(ready.slice(i, i + this.rt.options.batchSize));
      toNote.push(...created);
    }
    if (toNote.length && this.rt.options.hooks.afterLeadCreated) await this.rt.options.hooks.afterLeadCreated(toNote.map((i) => i.d.id));
    await addNotes(this, await ensureTasks(this, await ensureCustomers(this, await addMergedTags(this, toNote))));
  }

  /** One leads/complex call for `chunk`; returns the items whose lead now exists (send.ts; refusals.ts sends again through it). */
  send(chunk: Item[]): Promise<Item[]> {
    return sendLeads(this, chunk);
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
}
