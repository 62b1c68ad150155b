// Alert signatures, as Stripe and GitHub sign theirs: `X-Gateway-Signature: t=<unix seconds>,v1=<hex>`
// where <hex> is HMAC-SHA256(secret, "<t>.<raw body>"). The receiver recomputes it over the raw
// body, compares in constant time and refuses a `t` too far from its clock (replays).
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-gateway-signature';
export const ALERT_ID_HEADER = 'x-gateway-alert-id';
export const ALERT_KIND_HEADER = 'x-gateway-alert-kind';

export function signatureOf(secret: string, timestamp: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

/** The header value for `body` signed at `timestamp` (unix seconds). */
export function signAlert(secret: string, body: string, timestamp: number): string {
  return `t=${timestamp},v1=${signatureOf(secret, timestamp, body)}`;
}

/** What a receiver does: true when the header signs `body` with `secret` within `toleranceSec` of `now`. */
export function verifyAlertSignature(secret: string, body: string, header: string, options: { now?: number; toleranceSec?: number } = {}): boolean {
  const parts = new Map(header.split(',').map((p) => p.trim().split('=', 2) as [string, string]));
  const t = Number(parts.get('t'));
  const v1 = parts.get('v1') ?? '';
  if (!Number.isSafeInteger(t) || !/^[0-9a-f]{64}$/.test(v1)) return false;
  const now = options.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - t) > (options.toleranceSec ?? 300)) return false;
  return timingSafeEqual(Buffer.from(signatureOf(secret, t, body), 'hex'), Buffer.from(v1, 'hex'));
}
