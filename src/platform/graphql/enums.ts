import { DeliveryReason, DeliveryStatus, EntityType, JobStatus, ReconcileMode, SyncScope } from '../../generated/prisma/enums.ts';
import { builder } from './builder.ts';

export const EntityTypeEnum = builder.enumType(EntityType, { name: 'EntityType' });
export const SyncScopeEnum = builder.enumType(SyncScope, { name: 'SyncScope' });
export const JobStatusEnum = builder.enumType(JobStatus, { name: 'JobStatus' });
export const DeliveryStatusEnum = builder.enumType(DeliveryStatus, { name: 'DeliveryStatus' });

export const DeliveryReasonEnum = builder.enumType('DeliveryReason', {
  description: 'Why a delivery is not delivered yet (PENDING) or not at all (FAILED); `Delivery.lastError` says it in words.',
  values: {
    QUEUED: { value: DeliveryReason.QUEUED, description: 'Waiting for its turn: it goes out within seconds.' },
    NO_ACCOUNT: { value: DeliveryReason.NO_ACCOUNT, description: 'No amoCRM account is connected: it goes out once one is.' },
    RECONNECT_NEEDED: { value: DeliveryReason.RECONNECT_NEEDED, description: "The account's tokens no longer work: the owner must connect amoCRM again." },
    ACCOUNT_BLOCKED: { value: DeliveryReason.ACCOUNT_BLOCKED, description: 'amoCRM blocked the integration for exceeding its limits.' },
    RATE_LIMITED: { value: DeliveryReason.RATE_LIMITED, description: "Waiting for amoCRM's request limit; retried at nextAttemptAt." },
    AMO_UNAVAILABLE: { value: DeliveryReason.AMO_UNAVAILABLE, description: 'amoCRM answered an error or did not answer; retried at nextAttemptAt.' },
    CONFIRMING: { value: DeliveryReason.CONFIRMING, description: 'amoCRM may have the lead already: it is looked up there before anything is sent again.' },
    ADDING_NOTE: { value: DeliveryReason.ADDING_NOTE, description: 'The lead is in amoCRM; its note with the answers is being added.' },
    AMO_REJECTED: { value: DeliveryReason.AMO_REJECTED, description: 'FAILED: amoCRM refused the lead (lastError says what); fix it, then retry.' },
    NO_RULE: { value: DeliveryReason.NO_RULE, description: 'FAILED: the quiz has no rule; create one, then retry.' },
    RULE_PAUSED: { value: DeliveryReason.RULE_PAUSED, description: "Waiting: the quiz's rule is paused; it is sent when the rule is resumed." },
    RULE_DELETED: { value: DeliveryReason.RULE_DELETED, description: "FAILED: the quiz's rule was deleted; create a rule, then retry." },
    RETRIES_EXHAUSTED: { value: DeliveryReason.RETRIES_EXHAUSTED, description: 'FAILED: amoCRM kept failing through every retry; retry later.' },
    EXPIRED: { value: DeliveryReason.EXPIRED, description: 'FAILED: it waited longer than results are kept (e.g. the account was never reconnected).' },
  } as const,
});

export const ReconcileModeEnum = builder.enumType('ReconcileMode', {
  description: 'How the gateway recognises a lead it may already have sent, before it sends again (exactly once).',
  values: {
    RESULT_FIELD: { value: ReconcileMode.RESULT_FIELD, description: 'By the api-only lead field QUIZ_RESULT_ID, which carries the result id.' },
    LEAD_CONTENT: { value: ReconcileMode.LEAD_CONTENT, description: 'amoCRM refused to create that field (no admin rights, field limit): by the lead as it was sent.' },
  } as const,
});

/** amoCRM field types the gateway knows; anything else is OTHER (rawType tells which). */
export const FIELD_TYPES = [
  'TEXT',
  'NUMERIC',
  'CHECKBOX',
  'SELECT',
  'MULTISELECT',
  'MULTITEXT',
  'DATE',
  'DATE_TIME',
  'BIRTHDAY',
  'URL',
  'TEXTAREA',
  'RADIOBUTTON',
  'STREETADDRESS',
  'SMART_ADDRESS',
  'LEGAL_ENTITY',
  'TRACKING_DATA',
  'MONETARY',
  'PRICE',
  'CATEGORY',
  'ITEMS',
  'LINKED_ENTITY',
  'CHAINED_LIST',
  'FILE',
  'OTHER',
] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

export const FieldTypeEnum = builder.enumType('FieldType', {
  description: 'amoCRM custom field types; OTHER for a type this gateway does not know yet (rawType tells which).',
  values: FIELD_TYPES,
});

export function fieldTypeOf(rawType: string): FieldType {
  const upper = rawType.toUpperCase() as FieldType;
  return (FIELD_TYPES as readonly string[]).includes(upper) && upper !== 'OTHER' ? upper : 'OTHER';
}
