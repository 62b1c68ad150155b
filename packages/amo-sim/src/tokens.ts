/**
 * Tokens as amoCRM issues them: HS256 JWT access tokens, opaque one-shot refresh tokens; checking
 * a Bearer header, revoke and forced expiry.
 */
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { SimState } from './state.ts';
import { isRecord, problemError } from './http.ts';

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
  if (!safeEqual(createHmac('sha256', secret).update(`${header}.${body}`).digest('base64url'), sig)) return null;
  try {
    const payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    return isRecord(payload) ? payload : null;
  } catch {
    return null;
  }
}

/** Compares in constant time (secrets, signatures). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The token of an `Authorization: Bearer …` header, if it is one. */
export function bearerToken(header: string | undefined): string | undefined {
  return /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1];
}

/** amoCRM-looking opaque token ("def50200…", several hundred characters). */
export function opaqueToken(bytes: number): string {
  return 'def50200' + randomBytes(bytes).toString('hex');
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

/** Resolves a `Bearer` header to the account; throws a 401 problem otherwise. */
export function authenticate(state: SimState, header: string | undefined): AuthContext {
  const token = bearerToken(header);
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
