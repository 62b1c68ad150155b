/** The simulator itself: its options, integrations, faults, and the logs it keeps of requests, tokens and webhooks. */

export interface Integration {
  clientId: string;
  clientSecret: string;
  redirectUri: string;
}

export type Fault =
  /** `after: true`: the request is processed (a lead is stored), then the 5xx replaces the answer */
  | { kind: '5xx'; status?: number; count?: number; path?: string | RegExp; after?: boolean }
  | { kind: 'slow'; delayMs: number; count?: number; path?: string | RegExp }
  /** processed, then the answer waits delayMs */
  | { kind: 'slowAfter'; delayMs: number; count?: number; path?: string | RegExp }
  /** processed, then the socket is destroyed without an answer */
  | { kind: 'resetAfter'; count?: number; path?: string | RegExp }
  | { kind: '429'; count?: number; retryAfterSec?: number; path?: string | RegExp }
  | { kind: 'block'; path?: string | RegExp }
  | { kind: 'reset'; count?: number; path?: string | RegExp };

export interface RequestLogEntry {
  method: string;
  /** path with query string */
  path: string;
  status: number;
  /** epoch ms (real clock) when the request arrived */
  at: number;
  /** time the simulator took to answer, ms */
  durationMs: number;
  /** parsed JSON (or form) body of the request, if any */
  body?: unknown;
  /** what produced the status: the handler, the rate limiter, or an injected fault */
  via: 'api' | 'rate-limit' | 'fault' | 'blocked';
}

export interface TokenRequestEntry {
  at: number;
  grantType: string;
  clientId: string;
  status: number;
  /** OAuth error (invalid_grant, …) when it failed */
  error?: string;
  hint?: string;
}

export interface WebhookAttempt {
  at: number;
  status?: number;
  error?: string;
  durationMs: number;
}

export interface WebhookDelivery {
  id: number;
  accountId: number;
  destination: string;
  events: string[];
  body: string;
  attempts: WebhookAttempt[];
  ok: boolean;
}

export interface SimulatorOptions {
  clientId?: string;
  clientSecret?: string;
  redirectUri?: string;
  /** extra integrations (each with its own client id/secret/redirect URI) */
  integrations?: Integration[];
  rateLimitRps?: number;
  /** the limiter counts rejected requests too (default false: a request is refused when `rateLimitRps` were served in the last second) */
  rateLimitCountsRejected?: boolean;
  /** block the account after this many 429s in a row (default: off) */
  blockAfter429s?: number;
  /** body of a rate-limit 429: JSON, HTML or alternating (default 'alternate') */
  rateLimitBody?: 'json' | 'html' | 'alternate';
  accessTokenTtlSec?: number;
  refreshTokenTtlSec?: number;
  codeTtlSec?: number;
  /** clock (epoch ms) for code / token expiry; default Date.now (plus `advanceClock`) */
  now?: () => number;
  /** the HMAC secret of access-token JWTs (default: random) */
  jwtSecret?: string;
  /** outgoing webhooks: retries after the first failed attempt (default 3) */
  webhookRetries?: number;
  /** outgoing webhooks: delay before the first retry, doubled each time (default 200 ms) */
  webhookBackoffMs?: number;
  /** outgoing webhooks: an attempt slower than this fails (default 2000 ms) */
  webhookTimeoutMs?: number;
  /** listen host (default 127.0.0.1) */
  listenHost?: string;
  /**
   * added to every generated id (accounts, users, pipelines, statuses, fields, enums, tags, leads, contacts, …;
   * default 0): `2 ** 31` makes every id too large for a 32-bit integer, as amoCRM's may be
   */
  idOffset?: number;
}
