/**
 * OAuth 2.0 as amoCRM does it: the authorize page (/oauth), the token endpoint
 * (/oauth2/access_token) with one-shot codes and one-shot refresh tokens, JWT access
 * tokens, revoke and forced expiry.
 */
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SimState } from './state.ts';
import { HttpError, escapeHtml, isRecord, problemError, sendJson, sendText } from './http.ts';

export interface AuthorizeParams {
  accountId: number;
  clientId?: string;
  state?: string;
  consent: 'allow' | 'deny';
  /** the granting user (must be an active admin); default: the account's first admin */
  userId?: number;
  /** adds `from_widget=1` to the redirect */
  fromWidget?: boolean;
}

export interface TokenPair {
  token_type: 'Bearer';
  expires_in: number;
  access_token: string;
  refresh_token: string;
}

export interface AuthContext {
  accountId: number;
  clientId: string;
  userId: number;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

export function signJwt(secret: string, payload: Record<string, unknown>): string {
  const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'HS256' }));
  const body = b64url(JSON.stringify(payload));
  const sig = createHmac('sha256', secret).update(`${header}.${body}`).digest('base64url');
  return `${header}.${body}.${sig}`;
}

/** Verifies an HS256 JWT's signature and returns its payload (null when malformed or forged). */
export function verifyJwt(secret: string, token: string): Record<string, unknown> | null {
  const [header, body, sig, ...rest] = token.split('.');
  if (header === undefined || body === undefined || sig === undefined || rest.length) return null;
  const expected = Buffer.from(createHmac('sha256', secret).update(`${header}.${body}`).digest('base64url'));
  const got = Buffer.from(sig);
  if (expected.length !== got.length || !timingSafeEqual(expected, got)) return null;
  try {
    const payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    return isRecord(payload) ? payload : null;
  } catch {
    return null;
  }
}

/** amoCRM-looking opaque token ("def50200…", several hundred characters). */
function opaqueToken(bytes: number): string {
  return 'def50200' + randomBytes(bytes).toString('hex');
}

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

/** Grants or refuses consent and returns the URL amoCRM would redirect the browser to. */
export function authorize(state: SimState, p: AuthorizeParams): string {
  const integration = state.integrations.get(p.clientId ?? state.mainIntegration().clientId);
  if (!integration) throw new Error(`amo-sim: unknown client_id ${p.clientId}`);
  const target = new URL(integration.redirectUri);
  if (p.consent === 'deny') {
    target.searchParams.set('error', 'access_denied');
    if (p.state !== undefined) target.searchParams.set('state', p.state);
    return target.toString();
  }
  const acc = state.account(p.accountId);
  const user = p.userId !== undefined ? acc.users.find((u) => u.id === p.userId) : acc.users.find((u) => u.rights.is_admin && u.rights.is_active);
  if (!user || !user.rights.is_admin || !user.rights.is_active) throw new Error('amo-sim: only an active account admin can grant access');
  const code = opaqueToken(160);
  state.codes.set(code, {
    code,
    accountId: acc.id,
    clientId: integration.clientId,
    userId: user.id,
    expiresAt: state.now() + state.opts.codeTtlSec * 1000,
    used: false,
  });
  target.searchParams.set('code', code);
  target.searchParams.set('referer', state.host);
  if (p.state !== undefined) target.searchParams.set('state', p.state);
  target.searchParams.set('platform', '1');
  target.searchParams.set('client_id', integration.clientId);
  if (p.fromWidget) target.searchParams.set('from_widget', '1');
  return target.toString();
}

/** GET /oauth — the authorize page, or the redirect once consent is given by query flags. */
export function handleAuthorizePage(state: SimState, url: URL, res: ServerResponse): void {
  const q = url.searchParams;
  const clientId = q.get('client_id') ?? '';
  if (!state.integrations.has(clientId)) {
    sendText(res, 400, page('Ошибка', '<p>Интеграция не найдена (неверный client_id).</p>'));
    return;
  }
  const consent = q.get('consent');
  if (consent === 'allow' || consent === 'deny') {
    const accountId = Number(q.get('account_id'));
    if (consent === 'allow' && !state.accounts.has(accountId)) {
      sendText(res, 404, page('Ошибка', '<p>Аккаунт не найден.</p>'));
      return;
    }
    try {
      const location = authorize(state, {
        accountId,
        clientId,
        state: q.get('state') ?? undefined,
        consent,
        userId: q.has('user_id') ? Number(q.get('user_id')) : undefined,
        fromWidget: q.get('from_widget') === '1',
      });
      res.writeHead(302, { location, 'content-length': 0 });
      res.end();
    } catch (e) {
      sendText(res, 403, page('Доступ запрещён', `<p>${escapeHtml((e as Error).message)}</p>`));
    }
    return;
  }
  const hidden = ['client_id', 'state', 'mode', 'from_widget']
    .filter((k) => q.has(k))
    .map((k) => `<input type="hidden" name="${k}" value="${escapeHtml(q.get(k) as string)}">`)
    .join('');
  const options = [...state.accounts.values()].map((a) => `<option value="${a.id}">${escapeHtml(a.name)} (${escapeHtml(a.subdomain)})</option>`).join('');
  sendText(
    res,
    200,
    page(
      'Предоставить доступ',
      `<form method="get" action="/oauth">${hidden}
<p>Интеграция <b>${escapeHtml(clientId)}</b> запрашивает доступ к аккаунту:</p>
<select name="account_id">${options}</select>
<p><button name="consent" value="allow">Разрешить</button> <button name="consent" value="deny">Отказать</button></p>
</form>`,
    ),
  );
}

function page(title: string, body: string): string {
  return `<!doctype html><html lang="ru"><head><meta charset="utf-8"><title>${escapeHtml(title)} — amoCRM simulator</title></head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}

export function issueTokens(state: SimState, accountId: number, clientId: string, userId: number): TokenPair {
  const nowMs = state.now();
  const iat = Math.floor(nowMs / 1000);
  const exp = iat + state.opts.accessTokenTtlSec;
  const jti = randomUUID();
  const access = signJwt(state.opts.jwtSecret, {
    aud: clientId,
    jti,
    iat,
    nbf: iat,
    exp,
    sub: String(userId),
    grant_type: '',
    account_id: accountId,
    base_domain: 'amocrm.ru',
    version: 2,
    scopes: ['push_notifications', 'files', 'crm', 'files_delete', 'notifications'],
    api_domain: state.host,
    hash_uuid: randomUUID(),
    user_flags: 0,
  });
  state.accessTokens.set(jti, { jti, accountId, clientId, expiresAt: exp * 1000, revoked: false });
  const refresh = opaqueToken(320);
  state.refreshTokens.set(refresh, {
    token: refresh,
    accountId,
    clientId,
    userId,
    issuedAt: nowMs,
    expiresAt: nowMs + state.opts.refreshTokenTtlSec * 1000,
    used: false,
    dead: false,
  });
  return { token_type: 'Bearer', expires_in: state.opts.accessTokenTtlSec, access_token: access, refresh_token: refresh };
}

export interface TokenRequestOutcome {
  accountId: number | null;
  status: number;
  body: Record<string, unknown>;
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

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Resolves a `Bearer` header to the account; throws a 401 problem otherwise. */
export function authenticate(state: SimState, header: string | undefined): AuthContext {
  const token = /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1];
  if (!token) throw problemError(401, 'Authorization header is missing or is not a Bearer token');
  const payload = verifyJwt(state.opts.jwtSecret, token);
  const rec = payload && typeof payload.jti === 'string' ? state.accessTokens.get(payload.jti) : undefined;
  if (!payload || !rec) throw problemError(401, 'Access token is invalid');
  if (rec.revoked || !state.accounts.has(rec.accountId)) throw problemError(401, 'Access token has been revoked');
  if (state.now() >= rec.expiresAt) throw problemError(401, 'Access token has expired');
  return { accountId: rec.accountId, clientId: rec.clientId, userId: Number(payload.sub) };
}

/** The integration is removed on amoCRM's side: every token and pending code of the account dies. */
export function revoke(state: SimState, accountId: number, clientId?: string): void {
  const match = (r: { accountId: number; clientId: string }) => r.accountId === accountId && (!clientId || r.clientId === clientId);
  for (const t of state.accessTokens.values()) if (match(t)) t.revoked = true;
  for (const t of state.refreshTokens.values()) if (match(t)) t.dead = true;
  for (const c of state.codes.values()) if (match(c)) c.used = true;
}

/** Makes every live access token of the account expired (API → 401; refresh still works). */
export function expireAccessTokens(state: SimState, accountId: number): void {
  const now = state.now();
  for (const t of state.accessTokens.values()) if (t.accountId === accountId && t.expiresAt > now) t.expiresAt = now - 1;
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
