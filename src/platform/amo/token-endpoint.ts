/**
 * amoCRM's OAuth token endpoint (`/oauth2/access_token` on the account's host, through
 * openid-client): the authorization-code grant, the refresh grant, and their failures sorted into
 * definitive (400/401) or not. Each request takes a slot of the account's limiter when it is known.
 */
import {
  ClientError,
  ClientSecretPost,
  Configuration,
  ResponseBodyError,
  WWWAuthenticateChallengeError,
  allowInsecureRequests,
  customFetch,
  genericGrantRequest,
  refreshTokenGrant,
  type TokenEndpointResponse,
} from 'openid-client';
import type { Db } from '../db.ts';
import { AmoError, AmoTokenRefreshError } from './errors.ts';
import { amoOrigin } from './host.ts';
import { createRateLimiter, type RateLimiter, type SlotTicket } from './rate-limit.ts';
import type { AmoAuthConfig, TokenContext, TokenPair } from './tokens.ts';

/** Token endpoint timeout, ms, unless `TokenContext.timeoutMs` says otherwise. */
export const TOKEN_TIMEOUT_MS = 15_000;

/** What a token endpoint call needs to take a slot of its amoCRM account. */
export interface TokenSlot {
  db: Db;
  rateLimiter?: RateLimiter;
  /** the amoCRM account id; none: no slot (an account the gateway has never stored) */
  amoId?: number | null;
}

/** The slot's ticket (call `arrived()` once the token request is answered, `unanswered()` when it failed), or undefined: no slot taken. */
export async function takeSlot(ctx: { config: AmoAuthConfig }, slot: TokenSlot | undefined): Promise<SlotTicket | undefined> {
  if (!slot || slot.amoId === undefined || slot.amoId === null) return undefined;
  const limiter = slot.rateLimiter ?? createRateLimiter(slot.db, { rps: ctx.config.amo.rateLimitRps ?? 7 });
  return limiter.acquire(slot.amoId);
}

function tokenConfiguration(ctx: Pick<TokenContext, 'config' | 'fetch' | 'timeoutMs'>, host: string): Configuration {
  const origin = amoOrigin(host, ctx.config.amo);
  const cfg = new Configuration(
    { issuer: origin, token_endpoint: `${origin}/oauth2/access_token` },
    ctx.config.amo.clientId,
    { client_secret: ctx.config.amo.clientSecret },
    ClientSecretPost(ctx.config.amo.clientSecret),
  );
  if (origin.startsWith('http:')) allowInsecureRequests(cfg);
  cfg.timeout = (ctx.timeoutMs ?? TOKEN_TIMEOUT_MS) / 1000;
  if (ctx.fetch) {
    const f = ctx.fetch;
    cfg[customFetch] = (url, options) => f(url, options as RequestInit);
  }
  return cfg;
}

function toPair(res: TokenEndpointResponse): TokenPair {
  if (typeof res.access_token !== 'string' || !res.access_token) throw new AmoError('amoCRM answered the token request without an access token');
  if (typeof res.refresh_token !== 'string' || !res.refresh_token) throw new AmoError('amoCRM answered the token request without a refresh token');
  const expiresIn = typeof res.expires_in === 'number' && res.expires_in > 0 ? res.expires_in : 86_400;
  return { accessToken: res.access_token, refreshToken: res.refresh_token, expiresIn, accessExpiresAt: new Date(Date.now() + expiresIn * 1000) };
}

export interface GrantFailure {
  definitive: boolean;
  status?: number;
  oauthError?: string;
  /** safe to log and store: never a token */
  message: string;
}

const short = (s: unknown, n = 200) => (typeof s === 'string' ? s.slice(0, n) : undefined);

/** Sorts a token endpoint failure: a 400/401 answer is definitive; network, timeouts, 5xx are not. */
export async function classifyGrantError(err: unknown): Promise<GrantFailure> {
  let status: number | undefined;
  let oauthError: string | undefined;
  let hint: string | undefined;
  if (err instanceof ResponseBodyError) {
    status = err.status;
    oauthError = err.error;
    hint = short(err.error_description ?? err.cause?.hint);
  } else if (err instanceof WWWAuthenticateChallengeError) {
    status = err.status;
  } else if (err instanceof ClientError && err.cause instanceof Response) {
    // amoCRM answers OAuth errors as application/problem+json, which the library does not parse
    const res = err.cause;
    status = res.status;
    try {
      const body = (await res.clone().json()) as Record<string, unknown>;
      oauthError = short(body.error, 60);
      hint = short(body.hint ?? body.error_description ?? body.detail);
    } catch {
      /* HTML or empty body */
    }
  } else if (err instanceof AmoError) {
    return { definitive: false, message: err.message };
  }
  if (status === undefined) {
    const code = err instanceof ClientError ? err.code : undefined;
    const what = code === 'OAUTH_TIMEOUT' || (err as Error)?.name === 'TimeoutError' ? 'timed out' : 'failed (network)';
    return { definitive: false, message: `token request ${what}` };
  }
  const definitive = status === 400 || status === 401;
  const parts = [`token endpoint answered ${status}`, oauthError, hint].filter(Boolean);
  return { definitive, status, oauthError, message: parts.join(': ') };
}

/**
 * The authorization-code grant (the OAuth callback). `host` is the redirect's `referer`. With
 * `slot` (the amoId of an account already stored on that host: a reconnect) the request takes a
 * slot of that account's limiter. Throws `AmoTokenRefreshError` (definitive for a 400/401
 * answer: a bad, used or expired code).
 */
export async function exchangeCode(ctx: Pick<TokenContext, 'config' | 'fetch' | 'timeoutMs'>, host: string, code: string, slot?: TokenSlot): Promise<TokenPair> {
  const cfg = tokenConfiguration(ctx, host);
  const ticket = await takeSlot(ctx, slot);
  try {
    const pair = toPair(await genericGrantRequest(cfg, 'authorization_code', { code, redirect_uri: ctx.config.amo.redirectUri }));
    ticket?.arrived();
    return pair;
  } catch (err) {
    // answered with a refusal or not at all: counted as possibly still on its way (rate-limit.ts)
    ticket?.unanswered();
    const f = await classifyGrantError(err);
    throw new AmoTokenRefreshError(`amoCRM refused the authorization code: ${f.message}`, f.definitive, { status: f.status, oauthError: f.oauthError });
  }
}

export async function refreshGrant(ctx: TokenContext, host: string, refreshToken: string): Promise<TokenPair> {
  const cfg = tokenConfiguration(ctx, host);
  return toPair(await refreshTokenGrant(cfg, refreshToken, { redirect_uri: ctx.config.amo.redirectUri }));
}
