/**
 * The token endpoint (POST /oauth2/access_token) with one-shot codes and one-shot refresh tokens,
 * its amoCRM-shaped errors, and GET /oauth2/account/current/subdomain.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SimState } from './state.ts';
import { HttpError, isRecord, sendJson } from './http.ts';
import { type TokenPair, issueTokens, safeEqual } from './tokens.ts';

/** The OAuth error body amoCRM answers, plus the RFC 6749 `error` field. */
export function oauthError(status: number, error: string, hint: string, detail?: string): HttpError {
  return new HttpError(
    status,
    {
      hint,
      title: 'Некорректный запрос',
      type: 'https://developers.amocrm.ru/v3/errors/OAuthProblemJson',
      status,
      detail: detail ?? (error === 'invalid_client' ? 'Клиент не авторизован' : 'В запросе отсутствует ряд параметров или параметры невалидны'),
      error,
      error_description: hint,
    },
    'application/problem+json',
  );
}

/**
 * POST /oauth2/access_token. `beforeGrant` runs once the account is known (injected faults
 * with an explicit path); a status (0 = socket reset) means the fault already answered.
 */
export async function handleTokenRequest(state: SimState, body: unknown, res: ServerResponse, beforeGrant: (accountId: number) => Promise<number | null>): Promise<void> {
  const b = isRecord(body) ? body : {};
  const grantType = String(b.grant_type ?? '');
  const clientId = String(b.client_id ?? '');
  let accountId: number | null = null;
  if (grantType === 'authorization_code') accountId = state.codes.get(String(b.code ?? ''))?.accountId ?? null;
  if (grantType === 'refresh_token') accountId = state.refreshTokens.get(String(b.refresh_token ?? ''))?.accountId ?? null;
  if (accountId !== null) {
    const faulted = await beforeGrant(accountId);
    if (faulted !== null) {
      state.logTokenRequest(accountId, { at: Date.now(), grantType, clientId, status: faulted, error: 'injected_fault' });
      return;
    }
  }
  let status = 200;
  let out: Record<string, unknown>;
  try {
    out = { ...grant(state, b, grantType, clientId) };
  } catch (e) {
    if (!(e instanceof HttpError)) throw e;
    status = e.status;
    out = e.body;
  }
  state.logTokenRequest(accountId ?? 0, {
    at: Date.now(),
    grantType,
    clientId,
    status,
    ...(status !== 200 ? { error: String(out.error), hint: String(out.hint) } : {}),
  });
  sendJson(res, status, out, status === 200 ? 'application/json' : 'application/problem+json');
}

function grant(state: SimState, b: Record<string, unknown>, grantType: string, clientId: string): TokenPair {
  if (grantType !== 'authorization_code' && grantType !== 'refresh_token') {
    throw oauthError(400, 'unsupported_grant_type', 'The authorization grant type is not supported by the authorization server.');
  }
  const integration = state.integrations.get(clientId);
  if (!integration || typeof b.client_secret !== 'string' || !safeEqual(b.client_secret, integration.clientSecret)) {
    throw oauthError(401, 'invalid_client', 'Client authentication failed');
  }
  if (grantType === 'authorization_code') {
    if (typeof b.code !== 'string' || !b.code) throw oauthError(400, 'invalid_request', 'Check the `code` parameter');
    const rec = state.codes.get(b.code);
    if (!rec) throw oauthError(400, 'invalid_grant', 'Cannot decrypt the authorization code');
    if (rec.clientId !== clientId) throw oauthError(400, 'invalid_grant', 'Authorization code was not issued to this client');
    if (rec.used) throw oauthError(400, 'invalid_grant', 'Authorization code has been revoked');
    if (state.now() > rec.expiresAt) throw oauthError(400, 'invalid_grant', 'Authorization code has expired');
    if (b.redirect_uri !== integration.redirectUri) throw oauthError(400, 'invalid_grant', 'Invalid redirect URI');
    if (!state.accounts.has(rec.accountId)) throw oauthError(400, 'invalid_grant', 'Authorization code has been revoked');
    rec.used = true;
    return issueTokens(state, rec.accountId, clientId, rec.userId);
  }
  if (typeof b.refresh_token !== 'string' || !b.refresh_token) throw oauthError(400, 'invalid_request', 'Check the `refresh_token` parameter');
  const rec = state.refreshTokens.get(b.refresh_token);
  if (!rec) throw oauthError(400, 'invalid_grant', 'Cannot decrypt the refresh token');
  if (rec.clientId !== clientId) throw oauthError(400, 'invalid_grant', 'Token is not linked to client');
  if (rec.used || rec.dead) throw oauthError(400, 'invalid_grant', 'Token has been revoked');
  if (state.now() > rec.expiresAt) throw oauthError(400, 'invalid_grant', 'Token has expired');
  if (b.redirect_uri !== undefined && b.redirect_uri !== integration.redirectUri) throw oauthError(400, 'invalid_grant', 'Invalid redirect URI');
  rec.used = true;
  // each refresh kills every earlier refresh token of this account + integration
  for (const r of state.refreshTokens.values()) {
    if (r.accountId === rec.accountId && r.clientId === rec.clientId) r.dead = true;
  }
  return issueTokens(state, rec.accountId, clientId, rec.userId);
}

/** GET /oauth2/account/current/subdomain with `X-Refresh-Token`. */
export function handleCurrentSubdomain(state: SimState, req: IncomingMessage, res: ServerResponse): void {
  const token = req.headers['x-refresh-token'];
  const rec = typeof token === 'string' ? state.refreshTokens.get(token) : undefined;
  if (!rec || rec.dead || rec.used || !state.accounts.has(rec.accountId)) {
    sendJson(res, 401, oauthError(401, 'invalid_grant', 'Refresh token is invalid').body, 'application/problem+json');
    return;
  }
  const acc = state.account(rec.accountId);
  sendJson(res, 200, { id: acc.id, subdomain: acc.subdomain, domain: `${acc.subdomain}.amocrm.ru`, top_level_domain: 'ru' }, 'application/json');
}
