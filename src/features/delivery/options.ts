/** Options of the delivery worker and the runtime one worker shares (clients, the stop signal). */
import type { Services } from '../../platform/services.ts';
import { MAX_COMPLEX_LEADS, type AmoClient } from '../../platform/amo/index.ts';
import type { AmoClientOverrides } from '../../platform/amo/clients.ts';
import { DELIVERY_GROUP } from '../../platform/queue/groups.ts';
import { storedAccountAccess } from '../../platform/amo/account-store.ts';
import { cachedAccountAccess } from './account-cache.ts';

export { DELIVERY_GROUP };

/** Test seams: each runs between two steps; a throw there is a crash at that point. */
export interface DeliveryHooks {
  /** SENDING is committed; leads/complex not yet called */
  beforeSend?(deliveryIds: string[]): void | Promise<void>;
  /** amoCRM answered leads/complex; LEAD_CREATED not yet committed */
  afterSend?(deliveryIds: string[]): void | Promise<void>;
  /** LEAD_CREATED is committed; the note not yet posted */
  afterLeadCreated?(deliveryIds: string[]): void | Promise<void>;
  /** amoCRM answered POST customers; the customer ids not yet committed */
  afterCustomer?(deliveryIds: string[]): void | Promise<void>;
  /** amoCRM answered POST tasks; the task ids not yet committed */
  afterTask?(deliveryIds: string[]): void | Promise<void>;
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
  /**
   * delivery passes running side by side (default 4): while one pass commits what amoCRM answered,
   * the others' calls already take the account's next slots (rows are leased one by one: none is in two passes)
   */
  passesInFlight?: number;
  /** a result still not delivered this long after it came in ends FAILED (EXPIRED), ms (default 7 days) */
  maxWaitMs?: number;
  /** how often waiting deliveries' reasons are brought in line with their accounts, ms (default 5 000) */
  reasonSweepMs?: number;
  /** options of the amoCRM clients on top of `services.amo`'s (timeouts, retries, fetch) */
  amoClient?: AmoClientOverrides;
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
    maxWaitMs: o.maxWaitMs ?? 7 * 24 * 60 * 60_000,
    reasonSweepMs: o.reasonSweepMs ?? 5_000,
    accountConcurrency,
    passesInFlight: Math.max(1, o.passesInFlight ?? 4),
    amoClient: o.amoClient ?? {},
    hooks: o.hooks ?? {},
  };
}

/** Shared by one worker: options, amoCRM clients (from `services.amo`: the process's one rate limiter), the stop signal. */
export interface DeliveryRuntime {
  services: Services;
  options: Resolved;
  client(accountId: string): AmoClient;
  signal?: AbortSignal;
}

export function createDeliveryRuntime(services: Services, options: DeliveryWorkerOptions = {}, signal?: AbortSignal): DeliveryRuntime {
  const resolved = resolveOptions(options);
  return {
    services,
    options: resolved,
    signal,
    // one client per claimed batch (worker.ts): its account read is kept for the batch (account-cache.ts)
    client: (accountId) => services.amo.client(accountId, { access: cachedAccountAccess(storedAccountAccess(services.amo.tokens, accountId)), ...resolved.amoClient }),
  };
}
