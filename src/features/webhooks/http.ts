/** The node:http side of `POST /webhook/amo/{secret}` (the route calls `handleAmoWebhookRequest`). */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Services } from '../../platform/services.ts';
import { receiveWebhook, UNKNOWN_WEBHOOK, webhookAccount, type ReceiveOptions } from './receive.ts';
import { BodyTooLargeError, readBody } from '../../platform/http/body.ts';

/** amoCRM's bodies are a few KB; anything past this is refused (413) without being read further. */
export const MAX_WEBHOOK_BODY_BYTES = 1 << 20;

/** The secret of a `/webhook/amo/{secret}` path, else null. */
export function webhookSecretFromPath(pathname: string): string | null {
  const m = /^\/webhook\/amo\/([^/]+)\/?$/.exec(pathname);
  if (!m) return null;
  try {
    return decodeURIComponent(m[1]!); // the pattern's only group is not optional
  } catch {
    return null;
  }
}

function send(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}

/**
 * Checks the secret first (an unknown one is answered 404 without reading the body), then reads
 * the body (at most MAX_WEBHOOK_BODY_BYTES), calls `receiveWebhook` and answers. POST only (else 405).
 */
export async function handleAmoWebhookRequest(services: Services, req: IncomingMessage, res: ServerResponse, secret: string, options: ReceiveOptions = {}): Promise<void> {
  if (req.method !== 'POST') {
    res.setHeader('allow', 'POST');
    return send(res, 405, { error: 'method not allowed' });
  }
  const account = await webhookAccount(services, secret);
  if (!account) {
    // the body is not read: close the connection rather than drain it
    res.setHeader('connection', 'close');
    return send(res, UNKNOWN_WEBHOOK.status, UNKNOWN_WEBHOOK.body);
  }
  let body: Buffer;
  try {
    body = await readBody(req, MAX_WEBHOOK_BODY_BYTES);
  } catch (err) {
    if (err instanceof BodyTooLargeError) return send(res, 413, { error: 'body too large' });
    throw err;
  }
  const answer = await receiveWebhook(services, account, req.headers['content-type'], body, options);
  send(res, answer.status, answer.body);
}
