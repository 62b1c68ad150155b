/**
 * Taking a quiz result in: one Delivery per (quiz account, result id), however many times the
 * result is produced, consumed or submitted. The same entry point serves the `submitQuizResult`
 * mutation and the `quiz.results` consumer.
 */
import type { Services } from '../../platform/services.ts';
import type { Delivery } from '../../generated/prisma/client.ts';
import { AppError, badInput } from '../../platform/errors.ts';
import { currentTraceparent } from '../../platform/tracing.ts';
import { quizResultSchema, toPayloadJson, type QuizResult } from './input.ts';
import { waitText } from './reasons.ts';

export const NO_ACCOUNT_ERROR = waitText('NO_ACCOUNT');

/** Validates a result; a bad one is a BAD_USER_INPUT error naming the offending input. */
export function parseQuizResult(input: unknown): QuizResult {
  const parsed = quizResultSchema.safeParse(input);
  if (!parsed.success) {
    // a failed parse reports at least one issue; the fallback only keeps the error meaningful
    const issue = parsed.error.issues[0] ?? { path: [], message: 'invalid input' };
    const path = ['input', ...issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))];
    throw badInput(`Invalid quiz result: ${path.slice(1).join('.') || '(input)'}: ${issue.message}`, path);
  }
  return toPayloadJson(parsed.data);
}

/**
 * Records a quiz result for delivery and returns its Delivery. The first call for a (quiz
 * account, result id) creates it (`INSERT … ON CONFLICT DO NOTHING`), publishes
 * `delivery.updated` and wakes the delivery loop; every later call returns the same row and
 * changes nothing (the first payload wins). Without a live amoCRM account the Delivery is still
 * created, PENDING with `lastError` "no amoCRM account connected": it goes out once one is
 * connected. A bad input throws BAD_USER_INPUT and writes nothing.
 */
export async function acceptResult(services: Services, quizAccountId: string, input: unknown): Promise<Delivery> {
  if (typeof quizAccountId !== 'string' || quizAccountId.trim() === '') throw badInput('quizAccountId is required', ['quizAccountId']);
  const result = parseQuizResult(input);
  const { db } = services;

  const account = await db.amoAccount.findFirst({ where: { quizAccountId, deletedAt: null }, select: { id: true } });
  const accountId = account?.id ?? null;
  const lastError = account ? null : NO_ACCOUNT_ERROR;

  const inserted = await db.$queryRaw<{ id: string }[]>`
    INSERT INTO delivery (quiz_account_id, account_id, quiz_id, result_id, payload, last_error, reason, trace_parent)
    VALUES (${quizAccountId}, ${accountId}::uuid, ${result.quizId}, ${result.resultId}, ${JSON.stringify(result)}::jsonb, ${lastError},
      ${account ? 'QUEUED' : 'NO_ACCOUNT'}::"DeliveryReason", ${currentTraceparent() ?? null})
    ON CONFLICT (quiz_account_id, result_id) DO NOTHING
    RETURNING id`;

  const delivery = await db.delivery.findUniqueOrThrow({ where: { quizAccountId_resultId: { quizAccountId, resultId: result.resultId } } });
  if (inserted.length > 0) {
    services.logger.debug({ deliveryId: delivery.id, quizAccountId, resultId: result.resultId }, 'quiz result accepted');
    await services.events.deliveryUpdated(delivery);
    services.deliveryWaker.wake();
  }
  return delivery;
}

/** What became of one item of `acceptResults`. */
export type AcceptOutcome =
  /** Valid: `inserted` when this call created its Delivery (false: it existed, nothing changed). */
  | { ok: true; inserted: boolean; deliveryId?: string }
  /** Invalid (BAD_USER_INPUT): nothing written for this item. */
  | { ok: false; error: AppError };

/**
 * `acceptResult` for many results at once, with the same effect as calling it for each in
 * order: one query for the live accounts, ONE `INSERT … ON CONFLICT DO NOTHING` for every valid
 * item, one `publishBatch` of `delivery.updated` for the rows it created, one nudge. A bad item
 * is reported in its own outcome and never blocks the others. A database error throws (nothing
 * published; a retry is harmless: what was inserted is then a duplicate). Outcomes are in the
 * order of `items`; the first payload of a (quiz account, result id) wins, also within a batch.
 */
export async function acceptResults(services: Services, items: { quizAccountId: string; input: unknown; traceparent?: string }[]): Promise<AcceptOutcome[]> {
  const outcomes: AcceptOutcome[] = new Array(items.length);
  const valid: { index: number; quizAccountId: string; result: QuizResult; traceparent?: string }[] = [];
  items.forEach(({ quizAccountId, input, traceparent }, index) => {
    try {
      if (typeof quizAccountId !== 'string' || quizAccountId.trim() === '') throw badInput('quizAccountId is required', ['quizAccountId']);
      valid.push({ index, quizAccountId, result: parseQuizResult(input), traceparent });
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      outcomes[index] = { ok: false, error: err };
    }
  });
  if (valid.length === 0) return outcomes;
  const { db } = services;

  const quizAccountIds = [...new Set(valid.map((v) => v.quizAccountId))];
  const accounts = await db.amoAccount.findMany({ where: { quizAccountId: { in: quizAccountIds }, deletedAt: null }, select: { id: true, quizAccountId: true } });
  const accountOf = new Map(accounts.map((a) => [a.quizAccountId, a.id]));

  // First one of a (quiz account, result id) only: the first payload wins, and one row per key
  // in the statement keeps RETURNING unambiguous.
  const keyOf = (quizAccountId: string, resultId: string) => JSON.stringify([quizAccountId, resultId]);
  const firsts = new Map<string, (typeof valid)[number]>();
  for (const v of valid) if (!firsts.has(keyOf(v.quizAccountId, v.result.resultId))) firsts.set(keyOf(v.quizAccountId, v.result.resultId), v);
  const rows = [...firsts.values()].map((v, n) => {
    const accountId = accountOf.get(v.quizAccountId) ?? null;
    return {
      quiz_account_id: v.quizAccountId,
      account_id: accountId,
      quiz_id: v.result.quizId,
      result_id: v.result.resultId,
      payload: v.result,
      last_error: accountId ? null : NO_ACCOUNT_ERROR,
      trace_parent: v.traceparent ?? currentTraceparent() ?? null,
      n,
    };
  });

  const inserted = await db.$queryRaw<{ id: string; quiz_account_id: string; quiz_id: string; result_id: string; status: Delivery['status'] }[]>`
    INSERT INTO delivery (quiz_account_id, account_id, quiz_id, result_id, payload, last_error, reason, trace_parent)
    SELECT r.quiz_account_id, r.account_id, r.quiz_id, r.result_id, r.payload, r.last_error,
      (CASE WHEN r.account_id IS NULL THEN 'NO_ACCOUNT' ELSE 'QUEUED' END)::"DeliveryReason", r.trace_parent
    FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
      AS r(quiz_account_id text, account_id uuid, quiz_id text, result_id text, payload jsonb, last_error text, trace_parent text, n int)
    ORDER BY r.n
    ON CONFLICT (quiz_account_id, result_id) DO NOTHING
    RETURNING id, quiz_account_id, quiz_id, result_id, status::text AS status`;

  const created = new Map(inserted.map((row) => [keyOf(row.quiz_account_id, row.result_id), row]));
  for (const v of valid) {
    const key = keyOf(v.quizAccountId, v.result.resultId);
    const row = created.get(key);
    // Only the first item of a key created its row; a later duplicate in the batch did not.
    const isFirst = firsts.get(key) === v;
    outcomes[v.index] = row && isFirst ? { ok: true, inserted: true, deliveryId: row.id } : { ok: true, inserted: false };
  }

  if (inserted.length > 0) {
    services.logger.debug({ count: inserted.length, of: items.length }, 'quiz results accepted');
    // one publish for the batch; a failure is logged (the database is the truth)
    await services.events.deliveriesUpdated(inserted.map((row) => ({ id: row.id, quizAccountId: row.quiz_account_id, quizId: row.quiz_id, status: row.status })));
    services.deliveryWaker.wake();
  }
  return outcomes;
}
