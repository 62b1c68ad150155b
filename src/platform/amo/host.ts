/**
 * The account's API origin from its stored host (the OAuth redirect's `referer`).
 *
 * - `example.amocrm.ru` → `https://example.amocrm.ru`, or `http://…` when `allowHttp` is on
 *   (local simulators send `referer=127.0.0.1:PORT` and serve plain http);
 * - an explicit `https://host` / `http://host` is kept (http only with `allowHttp`);
 * - anything with a path, credentials, query or fragment is refused: the bearer token must go
 *   to the account's host and nowhere else.
 */
import { AmoError } from './errors.ts';

export function amoOrigin(host: string, allowHttp: boolean): string {
  const raw = host.trim();
  const explicit = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw);
  let url: URL;
  try {
    url = new URL(explicit ? raw : `${allowHttp ? 'http' : 'https'}://${raw}`);
  } catch {
    throw new AmoError('The amoCRM account host is not a valid host name');
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && allowHttp)) {
    throw new AmoError(`The amoCRM account host uses ${url.protocol.replace(':', '')}, which is not allowed (AMO_ALLOW_HTTP is off)`);
  }
  if (url.username || url.password || url.search || url.hash || (url.pathname !== '/' && url.pathname !== '')) {
    throw new AmoError('The amoCRM account host must be a bare host name (no path, credentials or query)');
  }
  if (!explicit && raw.includes('/')) throw new AmoError('The amoCRM account host must be a bare host name');
  return url.origin;
}
