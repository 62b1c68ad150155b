// Delivery: a quiz result → exactly one amoCRM lead (docs/delivery.md). The only way in.
export { acceptResult, acceptResults } from './accept.ts';
export { retryDelivery, startDeliveryWorker } from './worker.ts';
export type { DeliveryWorkerOptions } from './options.ts';
export { deliveryHealth, type DeliveryHealth } from './health.ts';
export { parseLeadNameTemplate } from './lead-name.ts';
export { tagNamesOf } from './tag-names.ts';
export { SUPPORTED_TYPES as SUPPORTED_FIELD_TYPES } from './convert.ts';
export { PAUSED_RECHECK_MS, RULE_PAUSED_TEXT } from './rule-state.ts';
