/** The amoCRM catalogue sync: jobs behind the `syncAccount` mutation and the amo.tasks worker. */
export { ALL_SYNC_SCOPES, DEFAULT_SYNC_MAX_ATTEMPTS, SYNC_ERRORS, SyncAccountNotFoundError, normalizeScopes, publishSyncTask, requestSync } from './jobs.ts';
export type { SyncCounts, SyncJob, SyncScope, SyncTask } from './jobs.ts';
export { definitiveSyncError, runSyncJob, syncCatalogue } from './run.ts';
export type { RunSyncOptions } from './run.ts';
export { recoverStuckJobs } from './recover.ts';
export { CATALOGUE_ROOT_FIELDS, createResponseCache } from './response-cache.ts';
export type { ResponseCache, ResponseCacheOptions } from './response-cache.ts';
export { isDue, lastPhaseMoment, phaseOf, pickDue, startCatalogueResync, startResyncScheduler } from './resync.ts';
export type { ResyncAccount, ResyncDeps } from './resync.ts';
export type { RecoverOptions, RecoverReport } from './recover.ts';
export { AMO_TASKS_GROUP, handleAmoTask, startSyncWorker, syncTaskHandler } from './worker.ts';
export type { AmoTask, AmoTaskHandler, AmoTaskHandlers, AmoTaskOptions, SyncWorker, SyncWorkerOptions } from './worker.ts';
// GraphQL types other features' fields point at (the rule's fields and tags)
export { FieldRef } from './graphql/field.ts';
export { TagRef } from './graphql/tag.ts';
