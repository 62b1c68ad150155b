// The development banner's token for the demo tenant. Signed only with the
// built-in development secret: a token signed with an operator's secret would
// be a working credential in whatever collects the logs.
import { SignJWT } from 'jose';
import type { Config } from '../platform/config.ts';

export async function devToken(config: Config, tenant: string): Promise<string | undefined> {
  if (!config.auth.devSecret || !config.auth.jwtSecret) return undefined;
  return new SignJWT({ [config.auth.accountClaim]: tenant })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime('30d')
    .sign(new TextEncoder().encode(config.auth.jwtSecret));
}
