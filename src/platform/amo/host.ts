/**
 * Which hosts the gateway sends an account's tokens and the client secret to, and the API
 * origin of an account's stored host (the OAuth redirect's `referer`, which the tenant's
 * browser carries and so anyone can choose).
 *
 * - amoCRM's own domains (`*.amocrm.ru`, `*.amocrm.com`, `*.kommo.com`) → `https://…`;
 * - outside production with `allowHttp` (AMO_ALLOW_HTTP), a host whose name is listed in
 *   `allowedHosts` (AMO_ALLOWED_HOSTS: local simulators, `127.0.0.1:PORT`) → `http://…`;
 * - anything else is refused, as is anything with a path, credentials, query or fragment:
 *   the bearer token must go to the account's host and nowhere else.
 */
import { AmoError } from './errors.ts';

export interface AmoHostPolicy {
  allowHttp: boolean;
  /** host names (no port) reachable over http when `allowHttp` is on; default 127.0.0.1, localhost */
  allowedHosts?: readonly string[];
}

export const DEFAULT_SIMULATOR_HOSTS = ['127.0.0.1', 'localhost'] as const;

const AMO_DOMAIN = /^[a-z0-9-]+(\.[a-z0-9-]+)*\.(amocrm\.ru|amocrm\.com|kommo\.com)$/i;

function simulatorHost(hostname: string, policy: AmoHostPolicy): boolean {
  if (!policy.allowHttp) return false;
  const name = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return (policy.allowedHosts ?? DEFAULT_SIMULATOR_HOSTS).some((h) => h.toLowerCase() === name);
}

export function amoOrigin(host: string, policy: AmoHostPolicy): string {
  const raw = host.trim();
  const explicit = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw);
  if (!explicit && raw.includes('/')) throw new AmoError('The amoCRM account host must be a bare host name');
  let url: URL;
  try {
    url = new URL(explicit ? raw : `https://${raw}`);
  } catch {
    throw new AmoError('The amoCRM account host is not a valid host name');
  }
  if (url.username || url.password || url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) {
    throw new AmoError('The amoCRM account host must be a bare host name (no path, credentials or query)');
  }
  if (AMO_DOMAIN.test(url.hostname) && !url.port) {
    if (url.protocol !== 'https:') throw new AmoError(`amoCRM is reached over https, not ${url.protocol.replace(':', '')}`);
    return url.origin;
  }
  if (simulatorHost(url.hostname, policy)) {
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new AmoError('The amoCRM account host must be http or https');
    return explicit ? url.origin : `http://${url.host}`;
  }
  throw new AmoError('The amoCRM account host is not an amoCRM domain (nor a simulator host listed in AMO_ALLOWED_HOSTS)');
}

/** The OAuth callback's `referer`: a bare host (`example.amocrm.ru`, or a listed simulator's `host:port`). */
export function acceptableAmoHost(referer: string, policy: AmoHostPolicy): boolean {
  if (!/^[a-z0-9.-]+(:\d{1,5})?$/i.test(referer)) return false;
  try {
    amoOrigin(referer, policy);
    return true;
  } catch {
    return false;
  }
}
