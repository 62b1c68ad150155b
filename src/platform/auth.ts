// Who is calling: the quiz platform's JWT, verified as the contract says.
import { createRemoteJWKSet, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { Config } from './config.ts';

export interface Caller {
  /** The quiz account id: the tenant. */
  quizAccountId: string;
  /** Seconds since epoch when the token expires. */
  expiresAt: number;
}

export class AuthError extends Error {}

export type Authenticator = (authorization: string | null | undefined) => Promise<Caller>;

export function createAuthenticator(auth: Config['auth']): Authenticator {
  const secret = auth.jwtSecret ? new TextEncoder().encode(auth.jwtSecret) : undefined;
  const jwks: JWTVerifyGetKey | undefined = auth.jwksUrl ? createRemoteJWKSet(new URL(auth.jwksUrl)) : undefined;
  return async (authorization) => {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization?.trim() ?? '');
    if (!match) throw new AuthError('missing bearer token');
    let payload: JWTPayload;
    try {
      const options = {
        issuer: auth.issuer,
        audience: auth.audience,
        requiredClaims: ['exp'],
      };
      const token = match[1]!; // the pattern's only group is not optional
      payload = jwks
        ? (await jwtVerify(token, jwks, { ...options, algorithms: ['RS256', 'ES256'] })).payload
        : (await jwtVerify(token, secret!, { ...options, algorithms: ['HS256'] })).payload;
    } catch {
      throw new AuthError('invalid token');
    }
    const claim = payload[auth.accountClaim] ?? payload.sub;
    if ((typeof claim !== 'string' && typeof claim !== 'number') || String(claim) === '') {
      throw new AuthError(`token names no ${auth.accountClaim} or sub`);
    }
    return { quizAccountId: String(claim), expiresAt: payload.exp! };
  };
}
