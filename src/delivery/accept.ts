/**
 * Taking a quiz result in: one Delivery per (quiz account, result id), however many times the
 * result is produced, consumed or submitted. The same entry point serves the `submitQuizResult`
 * mutation and the `quiz.results` consumer.
 */
import type { Services } from '../services.ts';
import type { Delivery } from '../generated/prisma/client.ts';
import { badInput } from '../errors.ts';
import { nudgeDeliveryWorkers, publishDeliveryUpdated } from './events.ts';
import { quizResultSchema, toPayloadJson, type QuizResult } from './input.ts';

export const NO_ACCOUNT_ERROR = 'no amoCRM account connected';

/** Validates a result; a bad one is a BAD_USER_INPUT error naming the offending input. */
export function parseQuizResult(input: unknown): QuizResult {
  const parsed = quizResultSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
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
    INSERT INTO delivery (quiz_account_id, account_id, quiz_id, result_id, payload, last_error)
    VALUES (${quizAccountId}, ${accountId}::uuid, ${result.quizId}, ${result.resultId}, ${JSON.stringify(result)}::jsonb, ${lastError})
    ON CONFLICT (quiz_account_id, result_id) DO NOTHING
    RETURNING id`;

  const delivery = await db.delivery.findUniqueOrThrow({ where: { quizAccountId_resultId: { quizAccountId, resultId: result.resultId } } });
  if (inserted.length > 0) {
    services.logger.debug({ deliveryId: delivery.id, quizAccountId, resultId: result.resultId }, 'quiz result accepted');
    await publishDeliveryUpdated(services, delivery);
    nudgeDeliveryWorkers();
  }
  return delivery;
}
