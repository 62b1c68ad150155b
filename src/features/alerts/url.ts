// Where the gateway may post a tenant's alerts. The URL is the tenant's choice, so in production
// it must be https and must not reach the gateway's own network (loopback, private, link-local
// and other special ranges): checked when it is set, and again on the resolved addresses at
// each post (a name that resolved publicly when set may not any more).
import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  blocked.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b::', 96],
] as const)
  blocked.addSubnet(net, prefix, 'ipv6');

/** True for an address the gateway must not post to in production (loopback, private, link-local, special). */
export function isPrivateAddress(address: string): boolean {
  const ip = address.replace(/^\[|\]$/g, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return blocked.check(mapped[1]!, 'ipv4');
  const family = isIP(ip);
  if (family === 0) return false;
  return blocked.check(ip, family === 4 ? 'ipv4' : 'ipv6');
}

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
