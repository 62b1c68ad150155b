/**
 * Typed errors of the amoCRM client. Every one extends `AmoError` and carries the HTTP status
 * (when there was an answer), the gateway's account id and a human message. None of them ever
 * holds a token, a client secret or a request body.
 */

export interface AmoErrorOptions {
  status?: number;
  accountId?: string;
  cause?: unknown;
  /**
   * The request may have reached amoCRM and been processed although no success answer came back
   * (timeout, reset, 5xx on a non-idempotent POST): reconcile before sending it again.
   */
  maybeProcessed?: boolean;
}

export class AmoError extends Error {
  /** HTTP status of amoCRM's answer, when there was one. */
  readonly status?: number;
  /** The gateway's `AmoAccount.id`. */
  readonly accountId?: string;
  readonly maybeProcessed: boolean;
  /** Whether trying again later can succeed (rate limit, 5xx, network, non-definitive refresh failure). */
  get retryable(): boolean {
    return false;
  }

  constructor(message: string, options: AmoErrorOptions = {}) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = new.target.name;
    this.status = options.status;
    this.accountId = options.accountId;
    this.maybeProcessed = options.maybeProcessed ?? false;
  }
}

/** 401 even after one refresh: amoCRM no longer accepts the account's tokens. The account is now stale. */
export class AmoUnauthorizedError extends AmoError {}

/** The account is already marked stale (its owner must connect it again): no call was made. */
export class AmoStaleError extends AmoError {}

/** The account has no tokens, or was disconnected (deleted): no call was made. */
export class AmoNotConnectedError extends AmoError {}

/** amoCRM answered 403 with its HTML block page (API abuse); calls stop until the account is reconnected. */
export class AmoBlockedError extends AmoError {}

/** 402: the account is not paid or the feature (e.g. customers) is off. Callers treat it as "none". */
export class AmoPaymentRequiredError extends AmoError {}

/** 404 from the API. */
export class AmoNotFoundError extends AmoError {}

export interface AmoValidationIssue {
  path: string;
  code: string;
  detail: string;
  /** the `request_id` of the entity the error belongs to (amoCRM: the request_id sent, or the index) */
  requestId: string | null;
}

/** 400/422 with `validation-errors` (or another 400 problem): the request itself is wrong; do not retry it. */
export class AmoValidationError extends AmoError {
  readonly errors: AmoValidationIssue[];
  /** `title`/`detail` of the problem+json body */
  readonly detail?: string;

  constructor(message: string, errors: AmoValidationIssue[], options: AmoErrorOptions & { detail?: string } = {}) {
    super(message, options);
    this.errors = errors;
    this.detail = options.detail;
  }
}

/** 429 still after the retries. `retryAfterMs` when amoCRM said how long to wait. */
export class AmoRateLimitedError extends AmoError {
  readonly retryAfterMs?: number;
  override get retryable(): boolean {
    return true;
  }
  constructor(message: string, options: AmoErrorOptions & { retryAfterMs?: number } = {}) {
    super(message, options);
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** 5xx after the retries (or at once for a non-idempotent request). */
export class AmoServerError extends AmoError {
  override get retryable(): boolean {
    return true;
  }
}

/** Timeout, connection reset or refused after the retries (or at once for a non-idempotent request). */
export class AmoNetworkError extends AmoError {
  override get retryable(): boolean {
    return true;
  }
}

/**
 * The token endpoint refused or failed a refresh. `definitive`: amoCRM answered 400/401
 * (invalid_grant, "Token has been revoked", …): the refresh token is dead and the account was
 * marked stale. Not definitive (network, timeout, 5xx): the stored tokens are kept; try later.
 */
export class AmoTokenRefreshError extends AmoError {
  readonly definitive: boolean;
  /** OAuth `error` code of the answer (invalid_grant, invalid_client, …) when there was one */
  readonly oauthError?: string;
  override get retryable(): boolean {
    return !this.definitive;
  }
  constructor(message: string, definitive: boolean, options: AmoErrorOptions & { oauthError?: string } = {}) {
    super(message, options);
    this.definitive = definitive;
    this.oauthError = options.oauthError;
  }
}

/** Any other unexpected answer (403 JSON without a block page, 405, 409, …). */
export class AmoHttpError extends AmoError {}

/** True when the error means "the owner has to connect the account again". */
export function isAmoStaleError(e: unknown): boolean {
  return e instanceof AmoUnauthorizedError || e instanceof AmoStaleError || (e instanceof AmoTokenRefreshError && e.definitive);
}
