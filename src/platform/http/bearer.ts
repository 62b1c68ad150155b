// A bearer token of the gateway's own (METRICS_TOKEN) checked against a request's authorization header.
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** True when `authorization` is `Bearer <expected>`; compared in constant time (by digest, so lengths don't leak either). */
export function bearerMatches(authorization: string | undefined, expected: string): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  return match !== null && timingSafeEqual(digest(match[1]!), digest(expected));
}
