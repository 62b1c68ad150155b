/** What became of a Delivery's lead, for the GraphQL layer. */
import type { Prisma } from '../../platform/db.ts';
import type { Db } from '../../platform/db.ts';

/** amoCRM's fixed statuses of every pipeline. */
export const WON_STATUS_ID = 142;
export const LOST_STATUS_ID = 143;

export type LeadOutcome = 'won' | 'lost' | 'open';

/**
 * `won` (status 142) / `lost` (143) / `open` (any other status); null while no webhook has told
 * the lead's status (no lead yet, or nothing happened to it since it was created).
 */
export function leadOutcome(delivery: { leadStatusAmoId: bigint | number | null }): LeadOutcome | null {
  if (delivery.leadStatusAmoId === null || delivery.leadStatusAmoId === undefined) return null;
  const s = Number(delivery.leadStatusAmoId);
  return s === WON_STATUS_ID ? 'won' : s === LOST_STATUS_ID ? 'lost' : 'open';
}

/** Deliveries whose lead is at that step now: a Step row's account, its pipeline's amoId and its own amoId. */
export function leadAtStepWhere(step: { accountId: string; pipelineAmoId: bigint | number; statusAmoId: bigint | number }): Prisma.DeliveryWhereInput {
  return { accountId: step.accountId, leadPipelineAmoId: step.pipelineAmoId, leadStatusAmoId: step.statusAmoId };
}

/**
 * The same for a Step row id (a decoded `Step` global id). A step that does not exist (or is
 * another tenant's) gives a filter that matches nothing; pass `quizAccountId` to scope it.
 */
export async function leadAtStepWhereById(db: Db, stepId: string, quizAccountId?: string): Promise<Prisma.DeliveryWhereInput> {
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(stepId) ? stepId : null;
  const step = uuid
    ? await db.step.findFirst({
        where: { id: uuid, ...(quizAccountId ? { account: { quizAccountId } } : {}) },
        select: { accountId: true, amoId: true, pipeline: { select: { amoId: true } } },
      })
    : null;
  if (!step) return { id: { in: [] } };
  return leadAtStepWhere({ accountId: step.accountId, pipelineAmoId: step.pipeline.amoId, statusAmoId: step.amoId });
}

/** Deliveries by their lead's outcome (`open`: a known status other than won/lost). */
export function leadOutcomeWhere(outcome: LeadOutcome): Prisma.DeliveryWhereInput {
  if (outcome === 'won') return { leadStatusAmoId: WON_STATUS_ID };
  if (outcome === 'lost') return { leadStatusAmoId: LOST_STATUS_ID };
  return { leadStatusAmoId: { not: null, notIn: [WON_STATUS_ID, LOST_STATUS_ID] } };
}
