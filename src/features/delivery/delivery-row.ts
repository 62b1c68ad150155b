/**
 * A Delivery row read by plain SQL on the hot path (the claim's `RETURNING`): the same shape as
 * Prisma's `Delivery` (camelCase, amoCRM ids as numbers as db.ts' extension reads them), without
 * a second, model-level read of the rows just locked.
 */
import { Prisma, type Delivery } from '../../generated/prisma/client.ts';
import { amoIdOrNull } from '../../platform/amo-ids.ts';

const COLUMNS: [string, keyof Delivery][] = [
  ['id', 'id'],
  ['quiz_account_id', 'quizAccountId'],
  ['account_id', 'accountId'],
  ['quiz_id', 'quizId'],
  ['result_id', 'resultId'],
  ['payload', 'payload'],
  ['trace_parent', 'traceParent'],
  ['status', 'status'],
  ['stage', 'stage'],
  ['attempts', 'attempts'],
  ['next_attempt_at', 'nextAttemptAt'],
  ['locked_until', 'lockedUntil'],
  ['amo_lead_id', 'amoLeadId'],
  ['amo_contact_id', 'amoContactId'],
  ['amo_company_id', 'amoCompanyId'],
  ['last_error', 'lastError'],
  ['reason', 'reason'],
  ['first_sent_at', 'firstSentAt'],
  ['sent_lead', 'sentLead'],
  ['amo_customer_id', 'amoCustomerId'],
  ['customer_sent_at', 'customerSentAt'],
  ['sent_customer', 'sentCustomer'],
  ['customer_linked_at', 'customerLinkedAt'],
  ['assigned_user_amo_id', 'assignedUserAmoId'],
  ['task_sent_at', 'taskSentAt'],
  ['sent_task', 'sentTask'],
  ['amo_task_id', 'amoTaskId'],
  ['warnings', 'warnings'],
  ['lead_pipeline_amo_id', 'leadPipelineAmoId'],
  ['lead_status_amo_id', 'leadStatusAmoId'],
  ['lead_status_changed_at', 'leadStatusChangedAt'],
  ['lead_deleted_at', 'leadDeletedAt'],
  ['created_at', 'createdAt'],
  ['updated_at', 'updatedAt'],
  ['delivered_at', 'deliveredAt'],
];

const AMO_IDS = ['amoLeadId', 'amoContactId', 'amoCompanyId', 'amoCustomerId', 'assignedUserAmoId', 'amoTaskId', 'leadPipelineAmoId', 'leadStatusAmoId'] as const;

/** `delivery.<column> AS "<field>"` for every column of `table` (an alias in the statement). */
export function deliveryColumns(table: string): Prisma.Sql {
  return Prisma.raw(COLUMNS.map(([col, field]) => `${table}.${col} AS "${field}"`).join(', '));
}

/** A row selected with `deliveryColumns`, its amoCRM ids as numbers (BIGINT arrives as bigint from raw SQL). */
export function toDelivery(row: Record<string, unknown>): Delivery {
  for (const k of AMO_IDS) row[k] = amoIdOrNull(row[k] as bigint | number | null);
  return row as unknown as Delivery;
}
