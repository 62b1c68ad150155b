/** The amoCRM API v4 client: every amoCRM call of the product goes through here. */
export { AmoClient, MAX_BATCH_NOTES, MAX_COMPLEX_LEADS } from './client.ts';
export type { CallOptions, EntityListOptions, SearchOptions, SendOptions } from './client.ts';
export { MAX_TAG_UPDATES } from './client-tags-tasks.ts';
export type { AmoTagRef, AmoTagsToAdd } from './client-tags-tasks.ts';
export { createAmoClient, loggedRateLimiter } from './create-client.ts';
export type { AmoClientConfig, AmoClientOptions, AmoSession } from './create-client.ts';
export type { AmoRetryOptions, AmoTransportOptions, PaginateOptions, QueryValue, RequestOptions } from './transport.ts';
export type { AccountAccess, AccountState } from './account-access.ts';
export { normalizeRequestId, parseRetryAfter } from './answers.ts';
export { amoIdOfToken, createAmoSessionClient } from './session.ts';
export {
  AmoBlockedError,
  AmoError,
  AmoHttpError,
  AmoNetworkError,
  AmoNotConnectedError,
  AmoNotFoundError,
  AmoPaymentRequiredError,
  AmoRateLimitedError,
  AmoServerError,
  AmoStaleError,
  AmoTokenRefreshError,
  AmoUnauthorizedError,
  AmoValidationError,
  isAmoStaleError,
} from './errors.ts';
export type { AmoErrorOptions, AmoValidationIssue } from './errors.ts';
export { acceptableAmoHost, amoOrigin } from './host.ts';
export { createRateLimiter, grantSlot, memorySlotStore, pgSlotStore, slotSpacingMs } from './rate-limit.ts';
export type { RateLimiter, RateLimiterOptions, Reservation, SlotStore, SlotTicket } from './rate-limit.ts';
export { LEGACY_KEY_ID, TokenDecryptError, decryptSecret, encryptSecret, keyringOf, tokenAad, type TokenColumn, type TokenKeyring, type TokenKeys } from './token-crypto.ts';
export { ACCESS_TOKEN_SKEW_MS, markAccountStale, readAccessToken, refreshAccessToken, saveTokens, tokenKeysOf } from './tokens.ts';
export type { AmoAuthConfig, FetchLike, RefreshOptions, RefreshResult, SaveTokensOptions, StoredAccessToken, TokenContext, TokenPair } from './tokens.ts';
export { exchangeCode } from './token-endpoint.ts';
export type { TokenSlot } from './token-endpoint.ts';
export { refreshExpiring } from './token-refresher.ts';
export type { RefreshExpiringOptions, RefreshExpiringReport } from './token-refresher.ts';
export type * from './types.ts';
