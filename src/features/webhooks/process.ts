/**
 * One stored webhook event → its effect on the gateway's Deliveries (the `webhook.event` task).
 *
 * - Exactly once in the database: the event is claimed (`processed_at` set where it was null) in
 *   the same transaction that updates the Deliveries, so a redelivered task, the sweep and
 *   another replica all find it processed and do nothing.
 * - Lead events that carry the lead's status (`lead.status`, and `lead.added` / `lead.updated`,
 *   which carry the lead's current status and pipeline) update the Deliveries of that lead in
 *   that account (`account_id` + `amo_lead_id`): `leadPipelineAmoId`, `leadStatusAmoId`,
 *   `leadStatusChangedAt`. The time is the event's own (`updated_at` / `last_modified`, unix
 *   seconds) when the payload has one, else when it was received. A Delivery whose recorded
 *   change is newer than the event is left alone (an old event arriving late); at the same
 *   second the later arrival wins (amoCRM sends in order and amo.tasks keeps an account's order).
 *   A Delivery already at that status and pipeline is left alone too (so the `lead.updated` that
 *   comes with every `lead.status` changes nothing twice).
 * - Every Delivery that changed gets `delivery.updated` on amo.events (every replica's
 *   `deliveryUpdated` subscribers), after the commit. A crash between the commit and the publish
 *   loses that one live push; the Delivery itself is right.
 * - `lead.deleted` sets `leadDeletedAt` on the Deliveries of that lead (once: the first report stays).
 * - Other kinds (contacts, notes, unknown) are only marked processed for now.
 */
import type { DeliveryStatus } from '../../generated/prisma/enums.ts';
import type { Services } from '../../platform/services.ts';
import type { ParsedWebhookEvent } from './parse.ts';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

type Changed = { id: string; quizAccountId: string; quizId: string; status: DeliveryStatus };

/**
 * Processes one stored event. Returns true when this call processed it, false when it was
 * already processed (or does not exist). Throws on database errors (the task is retried).
 */
export async function processWebhookEvent(services: Services, eventId: string): Promise<boolean> {
  if (!UUID_RE.test(eventId)) return false;
  const result = await services.db.$transaction(async (tx) => {
    const claimed = await tx.$queryRaw<{ account_id: string; payload: ParsedWebhookEvent; received_at: Date }[]>`
      UPDATE webhook_event SET processed_at = now()
      WHERE id = ${eventId}::uuid AND processed_at IS NULL
      RETURNING account_id::text AS account_id, payload, received_at`;
    const row = claimed[0];
    if (!row) return null;
    const { account_id: accountId, payload: ev, received_at: receivedAt } = row;
    const changed: Changed[] = [];
    const carriesStatus = ev.kind === 'lead.status' || ev.kind === 'lead.added' || ev.kind === 'lead.updated';
    if (carriesStatus && Number.isSafeInteger(ev.leadId) && Number.isSafeInteger(ev.statusId) && Number.isSafeInteger(ev.pipelineId)) {
      const at = typeof ev.occurredAt === 'number' && ev.occurredAt > 0 ? new Date(ev.occurredAt * 1000) : receivedAt;
      const rows = await tx.$queryRaw<Changed[]>`
        UPDATE delivery SET
          lead_pipeline_amo_id = ${ev.pipelineId},
          lead_status_amo_id = ${ev.statusId},
          lead_status_changed_at = ${at}::timestamptz,
          updated_at = now()
        WHERE account_id = ${accountId}::uuid AND amo_lead_id = ${ev.leadId}
          AND (lead_status_changed_at IS NULL OR lead_status_changed_at <= ${at}::timestamptz)
          AND (lead_status_amo_id IS DISTINCT FROM ${ev.statusId} OR lead_pipeline_amo_id IS DISTINCT FROM ${ev.pipelineId})
        RETURNING id::text AS id, quiz_account_id AS "quizAccountId", quiz_id AS "quizId", status::text AS status`;
      changed.push(...rows);
    }
    if (ev.kind === 'lead.deleted' && Number.isSafeInteger(ev.leadId)) {
      const at = typeof ev.occurredAt === 'number' && ev.occurredAt > 0 ? new Date(ev.occurredAt * 1000) : receivedAt;
      const rows = await tx.$queryRaw<Changed[]>`
        UPDATE delivery SET lead_deleted_at = ${at}::timestamptz, updated_at = now()
        WHERE account_id = ${accountId}::uuid AND amo_lead_id = ${ev.leadId} AND lead_deleted_at IS NULL
        RETURNING id::text AS id, quiz_account_id AS "quizAccountId", quiz_id AS "quizId", status::text AS status`;
      changed.push(...rows);
    }
    return { ev, accountId, changed };
  });
  if (!result) return false;
  for (const d of result.changed) await services.events.deliveryUpdated(d);
  services.logger.debug({ eventId, kind: result.ev.kind, accountId: result.accountId, deliveries: result.changed.length }, 'webhook event processed');
  return true;
}

/**
 * The amo.tasks handler of `webhook.event` tasks (`{ type: 'webhook.event', quizAccountId, eventId }`).
 * Same shape as `AmoTaskHandler` in src/features/catalogue/worker.ts.
 */
export function webhookEventTaskHandler(services: Services): (task: { type: string; [k: string]: unknown }) => Promise<void> {
  return async (task) => {
    const eventId = task.eventId;
    if (typeof eventId !== 'string' || !eventId) {
      services.logger.warn({ task }, 'webhook.event task without an eventId; ignored');
      return;
    }
    await processWebhookEvent(services, eventId);
  };
}
