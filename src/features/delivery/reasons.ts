/**
 * Why a delivery is not delivered: one reason code (counted on the account, filtered on the admin
 * page) and one sentence for the owner in `lastError`. Every place that leaves a Delivery PENDING
 * or FAILED says why through here, so no result ever waits without a word.
 *
 * Account-wide waits (no account, stale tokens, blocked) are not written by the worker (it never
 * claims such deliveries): `sweepAccountReasons` brings every waiting delivery's reason in line with
 * its account's state and publishes `delivery.updated` for each one it changed.
 */
import { randomBytes } from 'node:crypto';
import type { DeliveryReason } from '../../generated/prisma/enums.ts';
import type { Logger } from '../../platform/logger.ts';
import type { Services } from '../../platform/services.ts';
import {
  AmoBlockedError,
  AmoError,
  AmoNotConnectedError,
  AmoRateLimitedError,
  AmoServerError,
  AmoNetworkError,
  AmoValidationError,
  isAmoStaleError,
  type AmoValidationIssue,
} from '../../platform/amo/index.ts';

export type { DeliveryReason };

/** What an error means for the Deliveries it hit. */
export type Outcome = 'paused' | 'validation' | 'maybe' | 'retry';

export function classify(err: unknown, signal?: AbortSignal): Outcome {
  if (isAmoStaleError(err) || err instanceof AmoNotConnectedError || err instanceof AmoBlockedError) return 'paused';
  if (err instanceof AmoValidationError) return 'validation';
  if (err instanceof AmoError) return err.maybeProcessed ? 'maybe' : 'retry';
  if (signal?.aborted) return 'maybe';
  return 'retry';
}

export const errMessage = (err: unknown) => (err instanceof Error ? err.message : String(err)).slice(0, 2000);

export function describeIssues(issues: AmoValidationIssue[]): string {
  return issues
    .slice(0, 5)
    .map((i) => `${i.path || '(lead)'}: ${i.detail || i.code}${i.code ? ` [${i.code}]` : ''}`)
    .join('; ');
}

const WAIT_TEXT: Record<'NO_ACCOUNT' | 'RECONNECT_NEEDED' | 'ACCOUNT_BLOCKED', string> = {
  NO_ACCOUNT: 'Waiting for an amoCRM account: connect one and the result is sent at once.',
  RECONNECT_NEEDED: 'Waiting for you to connect amoCRM again: its tokens no longer work. The result is sent as soon as you reconnect.',
  ACCOUNT_BLOCKED: 'amoCRM has blocked this integration for exceeding its request limits. Ask amoCRM support to lift the block, then reconnect; the result is sent then.',
};

/** The owner's sentence for an account-wide wait. */
export const waitText = (reason: keyof typeof WAIT_TEXT) => WAIT_TEXT[reason];

const time = (at: Date) => at.toISOString().replace(/\.\d+Z$/, 'Z');

/** The sentence for a retry: what happened and when the next try is. */
export function retryText(reason: DeliveryReason, detail: string, nextAt: Date): string {
  switch (reason) {
    case 'RATE_LIMITED':
      return `Waiting for amoCRM's request limit (7 per second); next try at ${time(nextAt)}.`;
    case 'CONFIRMING':
      return `amoCRM may have received the lead (${detail}); it is checked in amoCRM before anything is sent again, at ${time(nextAt)}.`;
    case 'ADDING_NOTE':
      return `The lead is in amoCRM; its note with the answers could not be added yet (${detail}); next try at ${time(nextAt)}.`;
    default:
      return `amoCRM did not take the lead (${detail}); next try at ${time(nextAt)}.`;
  }
}

/** The reason of an error that makes a delivery wait or retry (not a validation error). */
export function reasonOfError(err: unknown, maybeSent: boolean): DeliveryReason {
  if (isAmoStaleError(err)) return 'RECONNECT_NEEDED';
  if (err instanceof AmoBlockedError) return 'ACCOUNT_BLOCKED';
  if (err instanceof AmoNotConnectedError) return 'NO_ACCOUNT';
  if (maybeSent) return 'CONFIRMING';
  if (err instanceof AmoRateLimitedError) return 'RATE_LIMITED';
  return 'AMO_UNAVAILABLE';
}

/** A short, owner-readable account of an amoCRM error (no SQL, no stack, no token). */
export function describeError(err: unknown): string {
  if (err instanceof AmoRateLimitedError) return 'amoCRM answered 429: too many requests';
  if (err instanceof AmoServerError) return `amoCRM answered ${err.status ?? 'a server error'}`;
  if (err instanceof AmoNetworkError) return 'amoCRM did not answer in time or the connection broke';
  if (err instanceof AmoError) return err.message.slice(0, 300);
  if (err instanceof Error && err.name === 'AbortError') return 'the call to amoCRM was cut short';
  return 'an internal error (logged)';
}

/** Whether `describeError` has words of its own for it (amoCRM's errors, a cut-short call). */
const isDescribed = (err: unknown) => err instanceof AmoError || (err instanceof Error && err.name === 'AbortError');

/**
 * What the owner reads of any error (lastError, warnings, the lead's note): `describeError`'s
 * words for amoCRM's errors; anything else (a database error's SQL, a bug's TypeError) only as
 * "an internal error" with an error id, logged here in full under that id for the operator.
 */
export function ownerError(err: unknown, log: Pick<Logger, 'error'>): string {
  if (isDescribed(err)) return describeError(err);
  const errorId = randomBytes(4).toString('hex');
  log.error({ errorId, err }, 'delivery: internal error (its id is in the owner-visible message)');
  return `an internal error of the gateway, error id ${errorId} (its details are in the gateway's log)`;
}

/** The retry sentence for an error that is not amoCRM's: the gateway's, not "amoCRM did not take it". */
export const internalRetryText = (detail: string, nextAt: Date) => `Not sent yet: ${detail}; next try at ${time(nextAt)}.`;

export { isDescribed as isAmoSideError };

/**
 * Brings `reason`/`lastError` of every PENDING delivery in line with its account: NO_ACCOUNT
 * without a live account, RECONNECT_NEEDED when it is stale, ACCOUNT_BLOCKED when blocked, and
 * back to QUEUED once the account works again. One statement; rows already right are untouched,
 * so concurrent sweeps of two replicas publish each change once. Also ends deliveries that have
 * waited longer than `maxWaitMs` (FAILED, EXPIRED): nothing stays PENDING forever.
 */
export async function sweepAccountReasons(services: Pick<Services, 'db' | 'events' | 'logger'>, options: { maxWaitMs: number; quizAccountId?: string }): Promise<number> {
  const only = options.quizAccountId ?? null;
  const rows = await services.db.$queryRaw<{ id: string; quiz_account_id: string; quiz_id: string; status: 'PENDING' | 'FAILED' }[]>`
    WITH waiting AS (
      SELECT d.id,
        CASE
          WHEN d.created_at < now() - (${options.maxWaitMs}::bigint * interval '1 millisecond') THEN 'EXPIRED'
          WHEN acc.id IS NULL THEN 'NO_ACCOUNT'
          WHEN acc.stale THEN 'RECONNECT_NEEDED'
          WHEN acc.blocked_at IS NOT NULL THEN 'ACCOUNT_BLOCKED'
          WHEN d.reason IN ('NO_ACCOUNT', 'RECONNECT_NEEDED', 'ACCOUNT_BLOCKED') OR d.reason IS NULL THEN 'QUEUED'
          ELSE d.reason::text
        END::"DeliveryReason" AS reason
      FROM delivery d
      LEFT JOIN LATERAL (
        SELECT a.id, a.stale, a.blocked_at FROM amo_account a
        WHERE a.deleted_at IS NULL
          AND ((d.stage = 'QUEUED' AND a.quiz_account_id = d.quiz_account_id) OR (d.stage <> 'QUEUED' AND a.id = d.account_id))
        LIMIT 1
      ) acc ON true
      WHERE d.status = 'PENDING' AND (d.locked_until IS NULL OR d.locked_until <= now())
        AND (${only}::text IS NULL OR d.quiz_account_id = ${only}::text)
    )
    UPDATE delivery d SET
      reason = w.reason,
      status = CASE WHEN w.reason = 'EXPIRED' THEN 'FAILED'::"DeliveryStatus" ELSE d.status END,
      last_error = CASE w.reason
        WHEN 'EXPIRED' THEN 'Not delivered: it waited longer than the gateway keeps results (' || coalesce(d.last_error, 'no amoCRM account could take it') || '). Retry it once the account works.'
        WHEN 'NO_ACCOUNT' THEN ${WAIT_TEXT.NO_ACCOUNT}
        WHEN 'RECONNECT_NEEDED' THEN ${WAIT_TEXT.RECONNECT_NEEDED}
        WHEN 'ACCOUNT_BLOCKED' THEN ${WAIT_TEXT.ACCOUNT_BLOCKED}
        WHEN 'QUEUED' THEN NULL
        ELSE d.last_error END,
      next_attempt_at = CASE WHEN w.reason = 'QUEUED' AND d.reason IS DISTINCT FROM 'QUEUED' THEN least(d.next_attempt_at, now()) ELSE d.next_attempt_at END
    FROM waiting w
    WHERE d.id = w.id AND d.status = 'PENDING' AND d.reason IS DISTINCT FROM w.reason
      AND (d.locked_until IS NULL OR d.locked_until <= now())
    RETURNING d.id, d.quiz_account_id, d.quiz_id, d.status`;
  for (const r of rows) await services.events.deliveryUpdated({ id: r.id, quizAccountId: r.quiz_account_id, quizId: r.quiz_id, status: r.status });
  if (rows.length) services.logger.info({ changed: rows.length }, 'delivery reasons follow their accounts');
  return rows.length;
}
