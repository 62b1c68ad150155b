/** amoCRM's own outgoing webhooks → what became of each lead the gateway created. */
export { WEBHOOK_EVENTS, webhookDestination, subscribeAccountWebhook, unsubscribeAccountWebhook } from './subscribe.ts';
export type { SubscribeOptions } from './subscribe.ts';
export { parseAmoWebhook, eventHash, formToTree, WebhookParseError } from './parse.ts';
export type { ParsedWebhook, ParsedWebhookEvent, WebhookEventKind, WebhookTree } from './parse.ts';
export { receiveWebhook, sweepUnprocessedEvents, startWebhookSweeper, WEBHOOK_TASK_TYPE } from './receive.ts';
export type { ReceiveOptions, SweepOptions, WebhookAnswer, WebhookEventTask } from './receive.ts';
export { processWebhookEvent, webhookEventTaskHandler } from './process.ts';
export { checkDeletedLeads, leadCheckTaskHandler, LEAD_CHECK_TASK_TYPE } from './lead-check.ts';
export { handleAmoWebhookRequest, webhookSecretFromPath, MAX_WEBHOOK_BODY_BYTES } from './http.ts';
export { leadOutcome, leadAtStepWhere, leadAtStepWhereById, leadOutcomeWhere, WON_STATUS_ID, LOST_STATUS_ID } from './outcome.ts';
export type { LeadOutcome } from './outcome.ts';
