/**
 * The delivery worker: quiz results (Delivery rows) → amoCRM leads, exactly once per result.
 *
 * ── Exactly once ──────────────────────────────────────────────────────────────────────────────
 * amoCRM's `POST /api/v4/leads/complex` does not deduplicate (its `request_id` is only echoed),
 * and the call may reach amoCRM while the process dies (or the answer is lost) before our commit.
 * So every Delivery walks an internal `stage`, each step committed before the next side effect:
 *
 *   QUEUED ──commit SENDING (+1 attempt)──▶ leads/complex ──commit LEAD_CREATED + ids──▶
 *   leads/notes ──commit DONE / DELIVERED
 *
 * Leads go out up to 50 per `POST /api/v4/leads/complex`, their notes up to 50 per
 * `POST /api/v4/leads/notes` (one note per lead, `request_id` = Delivery id); each Delivery is
 * committed DONE on its own once amoCRM's answer lists its note.
 *
 * - Each lead carries its result id in the account's result-id lead field (`QUIZ_RESULT_ID`,
 *   api-only, created once per account by `ensureResultField`, id in `AmoAccount.resultFieldId`).
 * - A Delivery found in SENDING (a crash, an expired lease, a timeout / reset / 5xx answer that
 *   `maybeProcessed`) is RECONCILED before anything is sent again: `GET /api/v4/leads?query=<id>`
 *   and a lead whose result-id field equals the result id exactly → its ids are adopted
 *   (LEAD_CREATED); none → it is sent again. A maybe-processed send is reconciled only after
 *   `reconcileDelayMs` (amoCRM's search index lags behind writes).
 * - A Delivery found in LEAD_CREATED at claim time may already have its note (crash after the
 *   note, before DONE): the lead's notes are read first and the note is posted only when none
 *   carries the "Quiz result ID: <id>" line.
 * - Work is claimed per account: a pass takes the accounts with the oldest due Deliveries, each
 *   with up to `batchSize` of its own oldest due ones, so batches stay full when the results of
 *   many accounts are mixed; accounts are then worked on in parallel (`accountConcurrency`).
 * - Work is claimed with a lease (`locked_until`, `FOR UPDATE SKIP LOCKED`), so one process at a
 *   time works on a Delivery. The lease value is also a fencing token: every later write says
 *   `WHERE locked_until = <my lease>`, and a process that lost its lease changes nothing. The
 *   lease is renewed before every amoCRM call, and a leads/complex call is aborted well before
 *   the lease can run out (`sendTimeoutMs`), so a lease only expires under a process that is
 *   gone or stuck: whoever takes the Delivery over reconciles first.
 * - The remaining window: a request that is still travelling towards amoCRM after both our abort
 *   and the reconcile delay would be missed by the search. The defaults keep that at minutes.
 *
 * ── Failures ──────────────────────────────────────────────────────────────────────────────────
 * - 429 / 5xx / network: retried with exponential backoff (`nextAttemptAt`); after
 *   `maxAttempts` sends the Delivery is FAILED with the last error.
 * - Stale, blocked or disconnected account: results stay PENDING and no attempt is spent. The
 *   claim query only takes Deliveries whose account is live, not stale and not blocked, so they
 *   go out as soon as the account is connected again (tokens saved, stale = false).
 * - amoCRM validation error: the lead(s) amoCRM names (by `request_id` = Delivery id) are
 *   FAILED with amoCRM's reason; the rest of the batch is sent again. When amoCRM does not say
 *   which lead is bad, the batch is split in halves until it does.
 * - No rule for the quiz: FAILED "quiz has no rule" (nothing to build the lead from; create the
 *   rule and call `retryDelivery`). No account at all: PENDING with "no amoCRM account
 *   connected" until one is connected (accept.ts).
 * - A note that cannot be added after the retries does not undo the lead: DELIVERED with a
 *   warning.
 * - Notes: amoCRM rejects a whole leads/notes request when one note is bad (e.g. its lead was
 *   deleted meanwhile) and stores none. The notes it names (by `request_id`) are given up
 *   (DELIVERED with a warning, as above) and the others are posted again; when it names none,
 *   the batch is split in halves until it does. A 429 / 5xx / network error puts the batch's
 *   Deliveries back in LEAD_CREATED for a later pass, which reads each lead's notes for the
 *   marker before posting, so a note that did get in is not added twice.
 */
import type { Services } from '../services.ts';
import type { Delivery } from '../generated/prisma/client.ts';
import type { DeliveryStage, DeliveryStatus } from '../generated/prisma/enums.ts';
import { AppError, conflict, notFound } from '../errors.ts';
import { publishEvent } from '../events.ts';
import { TOPICS, type Subscription } from '../queue/index.ts';
import {
  AmoBlockedError,
  AmoError,
  AmoNotConnectedError,
  AmoNotFoundError,
  AmoRateLimitedError,
  AmoValidationError,
  createAmoClient,
  createRateLimiter,
  isAmoStaleError,
  MAX_COMPLEX_LEADS,
  type AmoClient,
  type AmoClientOptions,
  type AmoComplexLeadAnswer,
  type AmoComplexLeadInput,
  type AmoLead,
  type AmoValidationIssue,
  type RateLimiter,
} from '../amo/index.ts';
import { MAX_BATCH_NOTES, type AmoBatchNoteInput } from '../amo/api.ts';
import { abortableSleep } from '../amo/rate-limit.ts';
import type { AmoNoteCreated } from '../amo/types.ts';
import { DELIVERY_GROUP } from '../workers/groups.ts';
import { acceptResults } from './accept.ts';
import { nudgeDeliveryWorkers, onDeliveryNudge, publishDeliveryUpdated } from './events.ts';
import type { QuizResult } from './input.ts';
import { countAmoCalls } from '../http/metrics.ts';
import { buildLead, buildNote, loadPayloadContext, noteMarker, RESULT_FIELD_CODE, type PayloadContext } from './payload.ts';

export const NO_RULE_ERROR = 'quiz has no rule';
export { DELIVERY_GROUP };

/** Test seams: each runs between two steps; a throw there is a crash at that point. */
export interface DeliveryHooks {
  /** SENDING is committed; leads/complex not yet called */
  beforeSend?(deliveryIds: string[]): void | Promise<void>;
  /** amoCRM answered leads/complex; LEAD_CREATED not yet committed */
  afterSend?(deliveryIds: string[]): void | Promise<void>;
  /** LEAD_CREATED is committed; the note not yet posted */
  afterLeadCreated?(deliveryIds: string[]): void | Promise<void>;
  /** the note is posted; DONE not yet committed */
  afterNote?(deliveryId: string): void | Promise<void>;
}

export interface DeliveryWorkerOptions {
  /** consume `quiz.results` (default true) */
  consume?: boolean;
  /** consumer group of `quiz.results` (default `gateway-deliveries`) */
  group?: string;
  /** partitions handled at once by the consumer (default 4) */
  consumeConcurrency?: number;
  /** idle poll of due Deliveries, ms (default 2 000); a new result wakes the loop at once */
  pollMs?: number;
  /**
   * accounts claimed per pass (default `accountConcurrency`, so no claimed batch waits for a lane
   * while its lease runs); each gets up to `batchSize` of its oldest due Deliveries
   */
  claimAccounts?: number;
  /** Deliveries claimed per pass at most (default `claimAccounts` × `batchSize`, i.e. no extra bound) */
  claimLimit?: number;
  /** leads per leads/complex call (default and maximum 50) */
  batchSize?: number;
  /** lease of claimed Deliveries, ms (default 120 000) */
  leaseMs?: number;
  /** a leads/complex call is aborted after this, ms (default leaseMs / 2; never beyond the lease) */
  sendTimeoutMs?: number;
  /** sends before a retryable failure is final (default 10) */
  maxAttempts?: number;
  /** first retry delay, ms (default 5 000, doubled per attempt) */
  backoffMs?: number;
  /** longest retry delay, ms (default 600 000) */
  maxBackoffMs?: number;
  /** wait before reconciling a send that may have reached amoCRM, ms (default 30 000) */
  reconcileDelayMs?: number;
  /**
   * accounts worked on at once in one pass (default 16). One account's calls are spaced by the
   * shared per-account rate limiter (7 requests/s), so a lane spends most of its time waiting for
   * its account's next slot or amoCRM's answer: throughput grows with accounts in parallel, up to
   * what the database pool (10 connections) and the CPU take.
   */
  accountConcurrency?: number;
  /** options of the amoCRM clients (timeouts, retries, fetch) */
  amoClient?: Partial<Omit<AmoClientOptions, 'db' | 'config' | 'accountId'>>;
  hooks?: DeliveryHooks;
}

type Resolved = Required<Omit<DeliveryWorkerOptions, 'amoClient' | 'hooks' | 'sendTimeoutMs'>> & {
  sendTimeoutMs: number;
  amoClient: NonNullable<DeliveryWorkerOptions['amoClient']>;
  hooks: DeliveryHooks;
};

export function resolveOptions(o: DeliveryWorkerOptions = {}): Resolved {
  const leaseMs = o.leaseMs ?? 120_000;
  const batchSize = Math.max(1, Math.min(MAX_COMPLEX_LEADS, o.batchSize ?? MAX_COMPLEX_LEADS));
  const accountConcurrency = Math.max(1, o.accountConcurrency ?? 16);
  const claimAccounts = Math.max(1, o.claimAccounts ?? accountConcurrency);
  return {
    consume: o.consume ?? true,
    group: o.group ?? DELIVERY_GROUP,
    consumeConcurrency: o.consumeConcurrency ?? 4,
    pollMs: o.pollMs ?? 2_000,
    claimAccounts,
    claimLimit: Math.max(1, o.claimLimit ?? claimAccounts * batchSize),
    batchSize,
    leaseMs,
    sendTimeoutMs: Math.min(o.sendTimeoutMs ?? leaseMs / 2, leaseMs * 0.75),
    maxAttempts: o.maxAttempts ?? 10,
    backoffMs: o.backoffMs ?? 5_000,
    maxBackoffMs: o.maxBackoffMs ?? 600_000,
    reconcileDelayMs: o.reconcileDelayMs ?? 30_000,
    accountConcurrency,
    amoClient: o.amoClient ?? {},
    hooks: o.hooks ?? {},
  };
}

/** Shared by one worker: options, amoCRM clients (one rate limiter), the stop signal. */
export interface DeliveryRuntime {
  services: Services;
  options: Resolved;
  client(accountId: string): AmoClient;
  signal?: AbortSignal;
}

export function createDeliveryRuntime(services: Services, options: DeliveryWorkerOptions = {}, signal?: AbortSignal): DeliveryRuntime {
  const resolved = resolveOptions(options);
  let limiter: RateLimiter | undefined = resolved.amoClient.rateLimiter;
  const onStale = async (accountId: string) => {
    const acc = await services.db.amoAccount.findUnique({ where: { id: accountId }, select: { quizAccountId: true } });
    if (acc) await publishEvent(services.queue, { type: 'token.stale', quizAccountId: acc.quizAccountId, accountId });
  };
  return {
    services,
    options: resolved,
    signal,
    client(accountId) {
      limiter ??= createRateLimiter(services.db, { rps: services.config.amo.rateLimitRps });
      return createAmoClient({
        db: services.db,
        config: services.config,
        logger: services.logger,
        onStale,
        ...resolved.amoClient,
        fetch: countAmoCalls(services.metrics, resolved.amoClient?.fetch),
        rateLimiter: limiter,
        accountId,
      });
    },
  };
}

// ---- claiming -----------------------------------------------------------------------------------

export interface ClaimedBatch {
  accountId: string;
  /** the lease (fencing token) shared by the claimed rows */
  lease: Date;
  /** local time (ms) the claim was sent: the lease runs from about then */
  claimedAt: number;
  deliveries: Delivery[];
}

export interface ClaimOptions {
  /** accounts claimed at most */
  accounts: number;
  /** Deliveries per account at most (its oldest due ones) */
  batchSize: number;
  /** Deliveries in all at most (default accounts × batchSize) */
  limit?: number;
  leaseMs: number;
  /**
   * how many of the oldest due, claimable Deliveries are looked at to pick the accounts and their
   * batches (default max(10 000, 4 × accounts × batchSize)): bounds the cost of a claim under a
   * large backlog. An account whose due rows fall beyond the window gets them in a later pass.
   */
  scan?: number;
}

/**
 * Claims due PENDING Deliveries per account: the `accounts` accounts with the oldest due
 * Delivery, each with up to `batchSize` of its oldest due Deliveries, so one pass fills whole
 * leads/complex batches even when the results of many accounts are mixed. Only accounts that are
 * live, not stale and not blocked are claimed (a QUEUED Delivery goes to the quiz account's
 * current live account, also when its `account_id` is null; one past QUEUED stays with the
 * account its lead may already be in). Rows are taken `FOR UPDATE SKIP LOCKED` and leased for
 * `leaseMs`; the lease value is the fencing token of every later write. Grouped per account,
 * accounts in the order of their oldest due Delivery, each batch oldest first.
 */
export async function claimDueDeliveries(services: Pick<Services, 'db'>, options: ClaimOptions): Promise<ClaimedBatch[]> {
  const accounts = Math.max(1, Math.floor(options.accounts));
  const batchSize = Math.max(1, Math.floor(options.batchSize));
  const limit = Math.max(1, Math.floor(options.limit ?? accounts * batchSize));
  const scan = Math.max(limit, Math.floor(options.scan ?? Math.max(10_000, 4 * accounts * batchSize)));
  const claimedAt = Date.now();
  // A window function cannot be used with FOR UPDATE in one SELECT: the batches are picked from
  // the statement's snapshot first, then locked with SKIP LOCKED, re-checking on the current row
  // that it is still due, unleased and bound to the same account (a row another process took
  // meanwhile is skipped; its account's batch is just smaller this pass).
  const rows = await services.db.$queryRaw<{ id: string; account_id: string; locked_until: Date; account_rank: number; rn: number }[]>`
    WITH scan AS (
      SELECT d.id, acc.id AS account_id, d.next_attempt_at, d.created_at
      FROM delivery d
      JOIN LATERAL (
        SELECT a.id FROM amo_account a
        WHERE a.deleted_at IS NULL AND a.stale = false AND a.blocked_at IS NULL
          AND ((d.stage = 'QUEUED' AND a.quiz_account_id = d.quiz_account_id)
            OR (d.stage <> 'QUEUED' AND a.id = d.account_id))
        LIMIT 1
      ) acc ON true
      WHERE d.status = 'PENDING' AND d.next_attempt_at <= now()
        AND (d.locked_until IS NULL OR d.locked_until <= now())
      ORDER BY d.next_attempt_at, d.created_at, d.id
      LIMIT ${scan}
    ),
    ranked AS (
      SELECT s.*, row_number() OVER (PARTITION BY s.account_id ORDER BY s.next_attempt_at, s.created_at, s.id) AS rn
      FROM scan s
    ),
    accounts AS (
      SELECT r.account_id, row_number() OVER (ORDER BY r.next_attempt_at, r.created_at, r.id) AS account_rank
      FROM ranked r WHERE r.rn = 1
      ORDER BY r.next_attempt_at, r.created_at, r.id
      LIMIT ${accounts}
    ),
    picked AS (
      SELECT r.id, r.account_id, a.account_rank, r.rn
      FROM ranked r JOIN accounts a ON a.account_id = r.account_id
      WHERE r.rn <= ${batchSize}
      ORDER BY a.account_rank, r.rn
      LIMIT ${limit}
    ),
    claimed AS (
      SELECT d.id, p.account_id, p.account_rank, p.rn
      FROM delivery d JOIN picked p ON p.id = d.id
      WHERE d.status = 'PENDING' AND d.next_attempt_at <= now()
        AND (d.locked_until IS NULL OR d.locked_until <= now())
        AND (d.stage = 'QUEUED' OR d.account_id = p.account_id)
      FOR UPDATE OF d SKIP LOCKED
    )
    UPDATE delivery SET locked_until = now() + (${options.leaseMs}::int * interval '1 millisecond'), account_id = claimed.account_id
    FROM claimed WHERE delivery.id = claimed.id
    RETURNING delivery.id, delivery.account_id, delivery.locked_until, claimed.account_rank::int AS account_rank, claimed.rn::int AS rn`;
  if (rows.length === 0) return [];
  const full = new Map((await services.db.delivery.findMany({ where: { id: { in: rows.map((r) => r.id) } } })).map((d) => [d.id, d]));
  rows.sort((a, b) => a.account_rank - b.account_rank || a.rn - b.rn);
  const byAccount = new Map<string, ClaimedBatch>();
  for (const r of rows) {
    const d = full.get(r.id);
    if (!d) continue;
    let b = byAccount.get(r.account_id);
    if (!b) byAccount.set(r.account_id, (b = { accountId: r.account_id, lease: r.locked_until, claimedAt, deliveries: [] }));
    b.deliveries.push(d);
  }
  return [...byAccount.values()];
}

// ---- one account's batch ------------------------------------------------------------------------

type Outcome = 'paused' | 'validation' | 'maybe' | 'retry';

function classify(err: unknown, signal?: AbortSignal): Outcome {
  if (isAmoStaleError(err) || err instanceof AmoNotConnectedError || err instanceof AmoBlockedError) return 'paused';
  if (err instanceof AmoValidationError) return 'validation';
  if (err instanceof AmoError) return err.maybeProcessed ? 'maybe' : 'retry';
  if (signal?.aborted) return 'maybe';
  return 'retry';
}

const errMessage = (err: unknown) => (err instanceof Error ? err.message : String(err)).slice(0, 2000);

/** A lease held over some Deliveries of one account; every write is fenced by it. */
class Lease {
  until: Date;
  /** local time the lease runs out (for deadlines) */
  private localDeadline: number;
  readonly held: Set<string>;
  constructor(
    private readonly rt: DeliveryRuntime,
    until: Date,
    ids: string[],
    /** local time the lease was taken (ms) */
    takenAt = Date.now(),
  ) {
    this.until = until;
    this.held = new Set(ids);
    this.localDeadline = takenAt + rt.options.leaseMs;
  }

  remainingMs(): number {
    return this.localDeadline - Date.now();
  }

  /** Extends the lease of every row still held; rows lost to someone else drop out. */
  async renew(): Promise<void> {
    if (this.held.size === 0) return;
    const ids = [...this.held];
    const started = Date.now();
    const rows = await this.rt.services.db.$queryRaw<{ id: string; locked_until: Date }[]>`
      UPDATE delivery SET locked_until = now() + (${this.rt.options.leaseMs}::int * interval '1 millisecond')
      WHERE id = ANY(${ids}::uuid[]) AND locked_until = ${this.until.toISOString()}::timestamptz AND status = 'PENDING'
      RETURNING id, locked_until`;
    this.held.clear();
    for (const r of rows) this.held.add(r.id);
    if (rows.length) {
      this.until = rows[0].locked_until;
      this.localDeadline = started + this.rt.options.leaseMs;
    }
  }

  /** A fenced update of one held row; false (and nothing written) when the lease was lost. */
  async update(id: string, data: Parameters<DeliveryRuntime['services']['db']['delivery']['updateMany']>[0]['data'], release: boolean): Promise<boolean> {
    if (!this.held.has(id)) return false;
    const res = await this.rt.services.db.delivery.updateMany({
      where: { id, lockedUntil: this.until, status: 'PENDING' },
      data: release ? { ...data, lockedUntil: null } : data,
    });
    if (res.count === 0 || release) this.held.delete(id);
    return res.count > 0;
  }

  /** Gives back every row still held (they become due again at their next_attempt_at). */
  async releaseAll(): Promise<void> {
    if (this.held.size === 0) return;
    await this.rt.services.db.delivery.updateMany({ where: { id: { in: [...this.held] }, lockedUntil: this.until }, data: { lockedUntil: null } });
    this.held.clear();
  }
}

interface Item {
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
}

function backoff(rt: DeliveryRuntime, attempts: number, atLeastMs = 0): number {
  const o = rt.options;
  const base = Math.min(o.maxBackoffMs, o.backoffMs * 2 ** Math.max(0, attempts - 1));
  return Math.max(atLeastMs, Math.round(base * (0.8 + Math.random() * 0.4)));
}

const at = (ms: number) => new Date(Date.now() + ms);

class AccountRun {
  private readonly contexts = new Map<string, Promise<PayloadContext | null>>();
  private resultFieldId: number | null = null;

  constructor(
    private readonly rt: DeliveryRuntime,
    private readonly accountId: string,
    private readonly lease: Lease,
    private readonly client: AmoClient,
  ) {}

  private get log() {
    return this.rt.services.logger;
  }

  private async publish(d: Delivery, status: DeliveryStatus): Promise<void> {
    await publishDeliveryUpdated(this.rt.services, { id: d.id, quizAccountId: d.quizAccountId, quizId: d.quizId, status });
  }

  private context(quizId: string): Promise<PayloadContext | null> {
    let p = this.contexts.get(quizId);
    if (!p) {
      p = loadPayloadContext(this.rt.services.db, this.accountId, quizId).then((ctx) => (ctx ? { ...ctx, resultFieldId: this.resultFieldId } : null));
      this.contexts.set(quizId, p);
    }
    return p;
  }

  async fail(item: Item, reason: string, stage?: DeliveryStage): Promise<void> {
    const ok = await this.lease.update(item.d.id, { status: 'FAILED', lastError: reason, ...(stage ? { stage } : {}), ...(item.warnings ? { warnings: item.warnings } : {}) }, true);
    if (ok) {
      this.log.warn({ deliveryId: item.d.id, reason }, 'delivery failed');
      await this.publish(item.d, 'FAILED');
    }
  }

  /** Puts items back to wait: `attempts` is the count after this try (for the max-attempts check). */
  private async reschedule(items: Item[], err: unknown, outcome: Outcome, opts: { stage?: DeliveryStage; attemptsSpent: boolean }): Promise<void> {
    const message = errMessage(err);
    for (const item of items) {
      const attempts = item.d.attempts + (opts.attemptsSpent ? 1 : 0);
      if (outcome === 'paused') {
        await this.lease.update(item.d.id, { lastError: message, ...(opts.stage ? { stage: opts.stage } : {}), attempts: item.d.attempts, nextAttemptAt: new Date() }, true);
        continue;
      }
      if (opts.attemptsSpent && attempts >= this.rt.options.maxAttempts) {
        await this.fail({ ...item, d: { ...item.d, attempts } }, `gave up after ${attempts} attempts: ${message}`, opts.stage);
        continue;
      }
      const retryAfter = err instanceof AmoRateLimitedError ? (err.retryAfterMs ?? 0) : 0;
      const delay = outcome === 'maybe' ? Math.max(this.rt.options.reconcileDelayMs, backoff(this.rt, attempts)) : backoff(this.rt, attempts, retryAfter);
      await this.lease.update(
        item.d.id,
        { lastError: message, attempts, nextAttemptAt: at(delay), ...(opts.stage ? { stage: opts.stage } : {}) },
        true,
      );
    }
  }

  /** Everything that stops the whole account's batch (stale, blocked, …) before a send. */
  private async pauseAll(items: Item[], err: unknown): Promise<void> {
    const outcome = classify(err, this.rt.signal);
    this.log.warn({ accountId: this.accountId, err: errMessage(err), outcome }, 'delivery batch interrupted');
    if (outcome === 'paused') await this.reschedule(items, err, 'paused', { attemptsSpent: false });
    else await this.reschedule(items, err, outcome === 'maybe' ? 'retry' : outcome, { attemptsSpent: true });
  }

  async run(rows: Delivery[]): Promise<void> {
    const items: Item[] = rows.map((d) => ({ d, result: d.payload as unknown as QuizResult }));
    try {
      this.resultFieldId = await ensureResultField(this.rt.services, this.client, this.accountId);
    } catch (err) {
      await this.pauseAll(items, err);
      return;
    }

    const toSend: Item[] = [];
    const toNote: Item[] = [];
    for (const item of items) {
      if (item.d.stage === 'QUEUED') toSend.push(item);
      else if (item.d.stage === 'LEAD_CREATED' && item.d.amoLeadId) toNote.push({ ...item, leadId: item.d.amoLeadId, checkNote: true });
      else if (item.d.stage === 'SENDING' || item.d.stage === 'LEAD_CREATED') {
        // reconcile before any resend
        let found: AmoLead | null;
        try {
          await this.lease.renew();
          found = await findLeadByResult(this.client, this.resultFieldId, item.result.resultId);
        } catch (err) {
          await this.pauseAll([item], err);
          continue;
        }
        if (found) {
          const contactId = found._embedded?.contacts?.[0]?.id ?? null;
          const companyId = found._embedded?.companies?.[0]?.id ?? null;
          this.log.info({ deliveryId: item.d.id, leadId: found.id }, 'reconciled: the lead already exists in amoCRM');
          const ok = await this.lease.update(item.d.id, { stage: 'LEAD_CREATED', amoLeadId: found.id, amoContactId: contactId, amoCompanyId: companyId, lastError: null }, false);
          if (ok) toNote.push({ ...item, leadId: found.id, contactId, companyId });
        } else toSend.push(item);
      } else {
        // DONE but still PENDING cannot normally happen: finish it
        await this.lease.update(item.d.id, { status: 'DELIVERED', deliveredAt: new Date() }, true);
        await this.publish(item.d, 'DELIVERED');
      }
    }

    // build the leads
    const ready: Item[] = [];
    for (const item of toSend) {
      const ctx = await this.context(item.d.quizId);
      if (!ctx) {
        await this.fail(item, NO_RULE_ERROR, 'QUEUED');
        continue;
      }
      try {
        const built = buildLead(item.result, ctx, { requestId: item.d.id, now: item.result.submittedAt ? undefined : item.d.createdAt });
        ready.push({ ...item, lead: built.lead, note: built.note, warnings: built.warnings });
      } catch (err) {
        await this.fail(item, `could not build the lead: ${errMessage(err)}`, 'QUEUED');
      }
    }

    for (let i = 0; i < ready.length; i += this.rt.options.batchSize) {
      const created = await this.send(ready.slice(i, i + this.rt.options.batchSize));
      toNote.push(...created);
    }
    if (toNote.length && this.rt.options.hooks.afterLeadCreated) await this.rt.options.hooks.afterLeadCreated(toNote.map((i) => i.d.id));
    await this.addNotes(toNote);
  }

  /** One leads/complex call for `chunk`; returns the items whose lead now exists. */
  private async send(chunk: Item[]): Promise<Item[]> {
    if (chunk.length === 0) return [];
    await this.lease.renew();
    const mine = chunk.filter((i) => this.lease.held.has(i.d.id));
    if (mine.length === 0) return [];
    // commit SENDING (+1 attempt) for the whole chunk at once
    const db = this.rt.services.db;
    const counts = await db.$transaction(
      mine.map((i) =>
        db.delivery.updateMany({
          where: { id: i.d.id, lockedUntil: this.lease.until, status: 'PENDING', stage: { in: ['QUEUED', 'SENDING'] } },
          data: { stage: 'SENDING', attempts: { increment: 1 }, warnings: i.warnings ?? [] },
        }),
      ),
    );
    const sending = mine.filter((_, k) => counts[k].count > 0);
    for (const i of mine.filter((_, k) => counts[k].count === 0)) this.lease.held.delete(i.d.id);
    if (sending.length === 0) return [];
    if (this.rt.options.hooks.beforeSend) await this.rt.options.hooks.beforeSend(sending.map((i) => i.d.id));

    const timeout = Math.max(1, Math.min(this.rt.options.sendTimeoutMs, this.lease.remainingMs() - this.rt.options.leaseMs * 0.2));
    const signals = [AbortSignal.timeout(timeout), ...(this.rt.signal ? [this.rt.signal] : [])];
    const signal = AbortSignal.any(signals);
    let answer: AmoComplexLeadAnswer[] | null;
    try {
      answer = await this.client.request<AmoComplexLeadAnswer[]>('POST', 'leads/complex', {
        body: sending.map((i) => i.lead),
        idempotent: false,
        signal,
      });
    } catch (err) {
      const outcome = classify(err, signal);
      if (outcome === 'validation') return this.onValidation(sending, err as AmoValidationError);
      this.log.warn({ accountId: this.accountId, n: sending.length, err: errMessage(err), outcome }, 'leads/complex failed');
      // not processed → back to QUEUED; maybe processed → stays SENDING (reconciled next time)
      if (outcome === 'paused') await this.reschedule(sending, err, 'paused', { stage: 'QUEUED', attemptsSpent: false });
      else if (outcome === 'maybe') await this.reschedule(sending, err, 'maybe', { stage: 'SENDING', attemptsSpent: true });
      else await this.reschedule(sending, err, 'retry', { stage: 'QUEUED', attemptsSpent: true });
      return [];
    }
    if (this.rt.options.hooks.afterSend) await this.rt.options.hooks.afterSend(sending.map((i) => i.d.id));

    const list = Array.isArray(answer) ? answer : [];
    const byRequest = new Map<string, AmoComplexLeadAnswer>();
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
    // commit LEAD_CREATED + ids
    const done = await db.$transaction(
      created.map((i) =>
        db.delivery.updateMany({
          where: { id: i.d.id, lockedUntil: this.lease.until, status: 'PENDING' },
          data: { stage: 'LEAD_CREATED', amoLeadId: i.leadId, amoContactId: i.contactId, amoCompanyId: i.companyId, lastError: null },
        }),
      ),
    );
    if (missing.length) {
      // amoCRM answered without these: they may exist; reconcile later
      await this.reschedule(missing, new Error('amoCRM\'s answer did not list this lead'), 'maybe', { stage: 'SENDING', attemptsSpent: true });
    }
    return created.filter((i, k) => {
      if (done[k].count > 0) return true;
      this.lease.held.delete(i.d.id);
      return false;
    });
  }

  private async onValidation(chunk: Item[], err: AmoValidationError): Promise<Item[]> {
    // the result-id field itself was deleted in amoCRM: forget it, create it again next time
    if (this.resultFieldId !== null && err.errors.some((e) => e.path === 'custom_fields_values.0.field_id' && e.code === 'NotSupportedChoice')) {
      await this.rt.services.db.amoAccount.updateMany({ where: { id: this.accountId, resultFieldId: this.resultFieldId }, data: { resultFieldId: null } });
      this.log.warn({ accountId: this.accountId }, 'the result-id field is gone in amoCRM: it will be created again');
      await this.reschedule(chunk, err, 'paused', { stage: 'QUEUED', attemptsSpent: false });
      return [];
    }
    const ids = new Set(chunk.map((i) => i.d.id));
    const named = new Map<string, AmoValidationIssue[]>();
    for (const e of err.errors) {
      if (e.requestId !== null && ids.has(e.requestId)) named.set(e.requestId, [...(named.get(e.requestId) ?? []), e]);
    }
    if (named.size > 0) {
      const bad = chunk.filter((i) => named.has(i.d.id));
      const good = chunk.filter((i) => !named.has(i.d.id));
      for (const item of bad) await this.fail(item, `amoCRM rejected the lead: ${describeIssues(named.get(item.d.id) ?? [])}`, 'QUEUED');
      // nothing of the request was stored: the others go again (their attempt is given back)
      await this.rollbackAttempt(good);
      return this.send(good.map((i) => ({ ...i, d: { ...i.d } })));
    }
    if (chunk.length === 1) {
      await this.fail(chunk[0], `amoCRM rejected the lead: ${err.errors.length ? describeIssues(err.errors) : (err.detail ?? err.message)}`, 'QUEUED');
      return [];
    }
    await this.rollbackAttempt(chunk);
    const half = Math.ceil(chunk.length / 2);
    return [...(await this.send(chunk.slice(0, half))), ...(await this.send(chunk.slice(half)))];
  }

  private async rollbackAttempt(items: Item[]): Promise<void> {
    for (const i of items) await this.lease.update(i.d.id, { stage: 'QUEUED', attempts: i.d.attempts }, false);
  }

  /**
   * The notes of `items` (leads that exist): those found in LEAD_CREATED at claim time are
   * checked for the marker first (one lead at a time: the rare crash-recovery path), then the
   * notes still missing go out in batches of `POST /api/v4/leads/notes`. Each Delivery is
   * committed DONE right after its note is known to be in (`afterNote` in between).
   */
  private async addNotes(items: Item[]): Promise<void> {
    const toPost: Item[] = [];
    for (const item of items) {
      const ready = await this.prepareNote(item);
      if (ready) toPost.push(ready);
    }
    const size = Math.min(MAX_BATCH_NOTES, this.rt.options.batchSize);
    for (let i = 0; i < toPost.length; i += size) await this.postNotes(toPost.slice(i, i + size));
  }

  /** The item with its note text, or null when it needs no post (already there, failed, lease lost). */
  private async prepareNote(item: Item): Promise<Item | null> {
    let note = item.note;
    let present = false;
    try {
      if (note === undefined) {
        const ctx = await this.context(item.d.quizId);
        note = ctx ? buildLead(item.result, ctx, { now: item.d.createdAt }).note : buildNote(item.result, { problems: [], now: item.d.createdAt });
      }
      if (item.checkNote) {
        await this.lease.renew();
        if (!this.lease.held.has(item.d.id)) return null;
        const marker = noteMarker(item.result.resultId);
        const notes = await this.client.listAll<{ params?: { text?: string } }>(`leads/${item.leadId as number}/notes`, 'notes');
        present = notes.some((n) => typeof n.params?.text === 'string' && n.params.text.split('\n').includes(marker));
      }
    } catch (err) {
      await this.notesFailed([item], err);
      return null;
    }
    if (present) {
      await this.noteIn(item);
      return null;
    }
    return { ...item, note };
  }

  /** One `POST /api/v4/leads/notes` for `chunk` (whole request rejected on a validation error). */
  private async postNotes(chunk: Item[]): Promise<void> {
    if (chunk.length === 0) return;
    let mine: Item[] = chunk;
    let answer: AmoNoteCreated[];
    try {
      await this.lease.renew();
      mine = chunk.filter((i) => this.lease.held.has(i.d.id));
      if (mine.length === 0) return;
      const body: AmoBatchNoteInput[] = mine.map((i) => ({ entity_id: i.leadId as number, note_type: 'common', params: { text: i.note as string }, request_id: i.d.id }));
      answer = await this.client.addNotesBatch('leads', body);
    } catch (err) {
      if (err instanceof AmoValidationError) return this.onNoteValidation(mine, err);
      if (err instanceof AmoNotFoundError && mine.length > 1) return this.splitNotes(mine);
      return this.notesFailed(mine, err);
    }
    const byRequest = new Map<string, AmoNoteCreated>();
    for (const n of answer) if (n.request_id !== undefined) byRequest.set(n.request_id, n);
    const added: Item[] = [];
    const missing: Item[] = [];
    mine.forEach((item, k) => {
      // by request_id; an answer without them is read in order (amoCRM keeps the request's order)
      const n = byRequest.get(item.d.id) ?? (byRequest.size === 0 && answer.length === mine.length ? answer[k] : undefined);
      if (n && Number.isFinite(n.id) && (byRequest.has(item.d.id) || n.entity_id === item.leadId)) added.push(item);
      else missing.push(item);
    });
    for (const item of added) await this.noteIn(item);
    if (missing.length) {
      // the note may be there or not: the next pass reads the lead's notes before posting again
      this.log.warn({ accountId: this.accountId, n: missing.length }, 'leads/notes answer did not list every note');
      await this.reschedule(missing, new Error('amoCRM\'s answer did not list this note'), 'retry', { attemptsSpent: true });
    }
  }

  /** amoCRM refused the batch: the notes it names are given up (their leads stay), the rest go again. */
  private async onNoteValidation(chunk: Item[], err: AmoValidationError): Promise<void> {
    const ids = new Set(chunk.map((i) => i.d.id));
    const named = new Map<string, AmoValidationIssue[]>();
    for (const e of err.errors) {
      if (e.requestId !== null && ids.has(e.requestId)) named.set(e.requestId, [...(named.get(e.requestId) ?? []), e]);
    }
    if (named.size > 0) {
      for (const item of chunk.filter((i) => named.has(i.d.id))) {
        await this.finish(item, [...(item.warnings ?? item.d.warnings), `note not added: amoCRM rejected the note: ${describeIssues(named.get(item.d.id) ?? [])}`]);
      }
      // nothing of the request was stored: the others go again
      return this.postNotes(chunk.filter((i) => !named.has(i.d.id)));
    }
    if (chunk.length === 1) return this.notesFailed(chunk, err);
    return this.splitNotes(chunk);
  }

  /** amoCRM refused the batch without saying which note: halves until it does. */
  private async splitNotes(chunk: Item[]): Promise<void> {
    const half = Math.ceil(chunk.length / 2);
    await this.postNotes(chunk.slice(0, half));
    await this.postNotes(chunk.slice(half));
  }

  /** Notes that could not be added (checked or posted): given up, paused or retried. */
  private async notesFailed(items: Item[], err: unknown): Promise<void> {
    if (err instanceof AmoValidationError || err instanceof AmoNotFoundError) {
      // the lead is in amoCRM: a note it refuses does not undo that
      for (const item of items) await this.finish(item, [...(item.warnings ?? item.d.warnings), `note not added: ${errMessage(err)}`]);
      return;
    }
    const outcome = classify(err, this.rt.signal);
    if (outcome === 'paused') {
      await this.reschedule(items, err, 'paused', { attemptsSpent: false });
      return;
    }
    this.log.warn({ accountId: this.accountId, n: items.length, err: errMessage(err), outcome }, 'notes not added');
    const retry: Item[] = [];
    for (const item of items) {
      const attempts = item.d.attempts + 1;
      if (attempts >= this.rt.options.maxAttempts) {
        await this.finish(item, [...(item.warnings ?? item.d.warnings), `note not added after ${attempts} attempts: ${errMessage(err)}`]);
      } else retry.push(item);
    }
    // stays LEAD_CREATED: the next pass reads the lead's notes before posting (no second note)
    await this.reschedule(retry, err, 'retry', { attemptsSpent: true });
  }

  /** The note is in amoCRM: DONE. */
  private async noteIn(item: Item): Promise<void> {
    if (this.rt.options.hooks.afterNote) await this.rt.options.hooks.afterNote(item.d.id);
    await this.finish(item, item.warnings);
  }

  private async finish(item: Item, warnings?: string[]): Promise<void> {
    const ok = await this.lease.update(
      item.d.id,
      { stage: 'DONE', status: 'DELIVERED', deliveredAt: new Date(), lastError: null, ...(warnings ? { warnings } : {}) },
      true,
    );
    if (ok) await this.publish(item.d, 'DELIVERED');
  }
}

function describeIssues(issues: AmoValidationIssue[]): string {
  return issues
    .slice(0, 5)
    .map((i) => `${i.path || '(lead)'}: ${i.detail || i.code}${i.code ? ` [${i.code}]` : ''}`)
    .join('; ');
}

/**
 * The lead in amoCRM that carries `resultId` in the result-id field (exact match), or null.
 * When several do (duplicates made before this gateway reconciled), the oldest is taken.
 */
export async function findLeadByResult(client: AmoClient, resultFieldId: number | null, resultId: string): Promise<AmoLead | null> {
  if (resultFieldId === null) return null;
  let best: AmoLead | null = null;
  for await (const lead of client.paginate<AmoLead>('leads', 'leads', { query: { query: resultId, with: 'contacts' } })) {
    const carries = (lead.custom_fields_values ?? []).some((f) => Number(f.field_id) === resultFieldId && (f.values ?? []).some((v) => String(v.value) === resultId));
    if (carries && (!best || lead.id < best.id)) best = lead;
  }
  return best;
}

/**
 * The id of the account's result-id lead field (`QUIZ_RESULT_ID`): `AmoAccount.resultFieldId`,
 * else a field with that code found in amoCRM, else one created now. No lock is held while
 * amoCRM answers: the first id written with `result_field_id IS NULL` wins, and every process
 * uses the stored one, so leads never carry two different result fields. A field a losing
 * process created in the same moment stays unused (it is api-only and empty).
 */
export async function ensureResultField(services: Pick<Services, 'db'>, client: AmoClient, accountId: string): Promise<number> {
  const stored = async () =>
    (await services.db.amoAccount.findUnique({ where: { id: accountId }, select: { resultFieldId: true } }))?.resultFieldId ?? null;
  const known = await stored();
  if (known) return known;
  const existing = (await client.listCustomFields('leads'))
    .filter((f) => f.code === RESULT_FIELD_CODE)
    .sort((a, b) => a.id - b.id)[0];
  let id = existing?.id;
  if (!id) {
    const created = await client.createCustomFields('leads', [{ name: 'Quiz result ID', type: 'text', code: RESULT_FIELD_CODE, is_api_only: true }]);
    id = created[0]?.id;
  }
  if (!id) throw new AmoError('amoCRM did not answer the id of the created result-id field', { accountId });
  await services.db.$executeRaw`UPDATE amo_account SET result_field_id = ${id} WHERE id = ${accountId}::uuid AND result_field_id IS NULL`;
  const winner = await stored();
  if (!winner) throw new AmoError('the result-id field could not be stored', { accountId });
  return winner;
}

/** Works on one claimed batch (one account). Throws only when a hook throws (a simulated crash). */
export async function processBatch(rt: DeliveryRuntime, batch: ClaimedBatch): Promise<void> {
  const lease = new Lease(rt, batch.lease, batch.deliveries.map((d) => d.id), batch.claimedAt);
  const run = new AccountRun(rt, batch.accountId, lease, rt.client(batch.accountId));
  await run.run(batch.deliveries);
  await lease.releaseAll();
}

/** Claims due Deliveries and works on them, accounts in parallel. Returns how many were claimed. */
export async function runDeliveryPass(rt: DeliveryRuntime): Promise<number> {
  return (await deliveryPass(rt)).claimed;
}

/** One pass; `full` when the claim hit one of its bounds, so more may be due right now. */
async function deliveryPass(rt: DeliveryRuntime): Promise<{ claimed: number; full: boolean }> {
  const o = rt.options;
  const batches = await claimDueDeliveries(rt.services, { accounts: o.claimAccounts, batchSize: o.batchSize, limit: o.claimLimit, leaseMs: o.leaseMs });
  const claimed = batches.reduce((n, b) => n + b.deliveries.length, 0);
  const full = claimed >= o.claimLimit || batches.length >= o.claimAccounts || batches.some((b) => b.deliveries.length >= o.batchSize);
  const queue = [...batches];
  const errors: unknown[] = [];
  const lanes = Array.from({ length: Math.min(o.accountConcurrency, queue.length) }, async () => {
    for (let b = queue.shift(); b; b = queue.shift()) {
      try {
        await processBatch(rt, b);
      } catch (err) {
        errors.push(err);
      }
    }
  });
  await Promise.all(lanes);
  if (errors.length) throw errors[0];
  return { claimed, full };
}

/**
 * Starts the delivery worker: the `quiz.results` consumer (→ `acceptResults`, a batch at a time) and the loop that
 * delivers due Deliveries. `stop()` stops consuming, aborts amoCRM calls in flight (a send cut
 * short is reconciled later) and waits for the loop.
 */
export async function startDeliveryWorker(services: Services, options: DeliveryWorkerOptions = {}): Promise<{ stop(): Promise<void> }> {
  const abort = new AbortController();
  const rt = createDeliveryRuntime(services, options, abort.signal);
  const log = services.logger.child({ worker: 'delivery' });

  let sub: Subscription | null = null;
  if (rt.options.consume) {
    sub = await services.queue.consumeBatch(
      TOPICS.quizResults,
      rt.options.group,
      async (messages) => {
        const items = messages.map((message) => {
          const value = (message.value ?? {}) as Record<string, unknown>;
          const quizAccountId = typeof value.quizAccountId === 'string' && value.quizAccountId ? value.quizAccountId : message.key;
          return { quizAccountId, input: value as unknown };
        });
        // A bad result throws (after the good ones of its batch are in): the queue then handles the
        // batch one message at a time, so the bad one alone is retried and parked in the
        // dead-letter topic (the good ones are duplicates by then, nothing changes).
        // Anything else (the database restarting, a full pool) is waited out here, however long:
        // a result parked for a passing outage would be a lost lead.
        for (let attempt = 0; ; attempt++) {
          try {
            const bad = (await acceptResults(services, items)).find((o) => !o.ok);
            if (bad) throw bad.error;
            return;
          } catch (err) {
            if (err instanceof AppError || abort.signal.aborted) throw err;
            const quizAccountId = items.length === 1 ? items[0].quizAccountId : undefined;
            services.logger.warn({ err: errMessage(err), quizAccountId, count: items.length, attempt }, 'quiz results not taken in yet; retrying');
            await abortableSleep(Math.min(30_000, 500 * 2 ** Math.min(attempt, 6)), abort.signal).catch(() => {});
          }
        }
      },
      { concurrency: rt.options.consumeConcurrency },
    );
  }

  let stopped = false;
  let wake: (() => void) | null = null;
  const unregister = onDeliveryNudge(() => wake?.());
  let nudged = false;
  const unregisterFlag = onDeliveryNudge(() => {
    nudged = true;
  });

  const loop = (async () => {
    while (!stopped) {
      nudged = false;
      let full = false;
      try {
        ({ full } = await deliveryPass(rt));
      } catch (err) {
        log.error({ err: errMessage(err) }, 'delivery pass failed');
      }
      if (stopped) break;
      if (full || nudged) continue;
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, rt.options.pollMs);
        function done() {
          clearTimeout(t);
          wake = null;
          resolve();
        }
        wake = done;
      });
    }
  })();

  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      await sub?.stop();
      abort.abort(new Error('delivery worker stopping'));
      wake?.();
      await loop;
      unregister();
      unregisterFlag();
    },
  };
}

/**
 * Puts a FAILED Delivery of `quizAccountId` back to PENDING (attempts start again from 0; the
 * stage is kept, so one that may have reached amoCRM is reconciled first). NOT_FOUND for a
 * missing one or another tenant's; CONFLICT when it is not FAILED.
 */
export async function retryDelivery(services: Services, quizAccountId: string, deliveryId: string): Promise<Delivery> {
  const isUuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(deliveryId);
  if (!isUuid) throw notFound('Delivery');
  const res = await services.db.delivery.updateMany({
    where: { id: deliveryId, quizAccountId, status: 'FAILED' },
    data: { status: 'PENDING', attempts: 0, nextAttemptAt: new Date(), lockedUntil: null },
  });
  const row = await services.db.delivery.findFirst({ where: { id: deliveryId, quizAccountId } });
  if (!row) throw notFound('Delivery');
  if (res.count === 0) throw conflict(`Only a FAILED delivery can be retried; this one is ${row.status}`);
  await publishDeliveryUpdated(services, row);
  nudgeDeliveryWorkers();
  return row;
}
