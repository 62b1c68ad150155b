import { DeliveryStatus, EntityType, JobStatus, SyncScope } from '../generated/prisma/enums.ts';
import { builder } from './builder.ts';

export const EntityTypeEnum = builder.enumType(EntityType, { name: 'EntityType' });
export const SyncScopeEnum = builder.enumType(SyncScope, { name: 'SyncScope' });
export const JobStatusEnum = builder.enumType(JobStatus, { name: 'JobStatus' });
export const DeliveryStatusEnum = builder.enumType(DeliveryStatus, { name: 'DeliveryStatus' });

/** amoCRM field types the gateway knows; anything else is OTHER (rawType tells which). */
export const FIELD_TYPES = [
  'TEXT', 'NUMERIC', 'CHECKBOX', 'SELECT', 'MULTISELECT', 'MULTITEXT', 'DATE', 'DATE_TIME', 'BIRTHDAY',
  'URL', 'TEXTAREA', 'RADIOBUTTON', 'STREETADDRESS', 'SMART_ADDRESS', 'LEGAL_ENTITY', 'TRACKING_DATA',
  'MONETARY', 'PRICE', 'CATEGORY', 'ITEMS', 'LINKED_ENTITY', 'CHAINED_LIST', 'FILE', 'OTHER',
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
