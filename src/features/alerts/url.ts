// Where the gateway may post a tenant's alerts. The URL is the tenant's choice, so in production
// it must be https and must not reach the gateway's own network (loopback, private, link-local
// and other special ranges): checked when it is set, and again on the resolved addresses at
// each post (a name that resolved publicly when set may not any more).
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { isPrivateAddress } from '../../platform/http/outbound.ts';

export { isPrivateAddress };

const LOCAL_NAME = /(^|\.)(localhost|local|internal|localdomain|home\.arpa)$/i;

/** The reason a URL is refused as the alert webhook, or null when it is acceptable. */
export function alertUrlProblem(raw: string, production: boolean): string | null {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    return 'not a valid URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must be an http(s) URL';
  if (url.username || url.password) return 'must not carry credentials';
  if (raw.length > 2048) return 'is longer than 2048 characters';
  if (!production) return null;
  if (url.protocol !== 'https:') return 'must be https';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (LOCAL_NAME.test(host) || (!host.includes('.') && isIP(host) === 0)) return 'must name a public host';
  if (isIP(host) !== 0 && isPrivateAddress(host)) return 'must not be a loopback, private or link-local address';
  return null;
}

export type Lookup = (host: string) => Promise<{ address: string }[]>;
const defaultLookup: Lookup = (host) => dnsLookup(host, { all: true, verbatim: true });

/** At post time in production: every address the host resolves to must be public. Throws when one is not. */
export async function assertPublicDestination(raw: string, production: boolean, lookup: Lookup = defaultLookup): Promise<void> {
  const problem = alertUrlProblem(raw, production);
  if (problem) throw new Error(`the alert webhook URL ${problem}`);
  if (!production) return;
  const host = new URL(raw).hostname.replace(/^\[|\]$/g, '');
  const addresses = isIP(host) !== 0 ? [{ address: host }] : await lookup(host);
  if (addresses.length === 0 || addresses.some((a) => isPrivateAddress(a.address))) {
    throw new Error('the alert webhook host resolves to a loopback, private or link-local address');
  }
}
