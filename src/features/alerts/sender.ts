// The alert sender: posts each due outbox row to its tenant's webhook, signed, until the
// receiver answers 2xx; otherwise again after a doubling delay, FAILED after `maxAttempts`.
// Rows are claimed under a lease (store.ts), so replicas never post the same row at once; the
// receiver dedupes on `X-Gateway-Alert-Id` the rare repeat (a crash between its 2xx and our commit).
import { Buffer } from 'node:buffer';
import type { Logger } from '../../platform/logger.ts';
import { ALERT_ID_HEADER, ALERT_KIND_HEADER, SIGNATURE_HEADER, signAlert } from './sign.ts';

export interface ClaimedAlert {
  id: string;
  quizAccountId: string;
  kind: string;
  payload: Record<string, unknown>;
  /** tries so far, this one included */
  attempts: number;
  createdAt: Date;
  /** the tenant's webhook now; absent when it was removed */
  webhook?: { url: string; secret: string };
}

export interface AttemptInfo {
  statusCode: number | null;
  error: string | null;
}

export interface AlertStore {
  /** Claims up to `limit` due PENDING rows for `leaseMs` (attempts + 1). */
  claim(limit: number, leaseMs: number): Promise<ClaimedAlert[]>;
  delivered(id: string, info: AttemptInfo): Promise<void>;
  retryLater(id: string, delayMs: number, info: AttemptInfo): Promise<void>;
  giveUp(id: string, info: AttemptInfo): Promise<void>;
}

export type PostAlert = (url: string, body: string, headers: Record<string, string>, signal: AbortSignal) => Promise<{ status: number }>;

export interface AlertSenderOptions {
  store: AlertStore;
  post?: PostAlert;
  /** throws when the URL may not be posted to now (url.ts's assertPublicDestination) */
  checkDestination?: (url: string) => Promise<void>;
  maxAttempts: number;
  backoffMs: number;
  maxBackoffMs?: number;
  pollMs?: number;
  batch?: number;
  timeoutMs?: number;
  logger: Logger;
}

const relayId = (type: string, id: unknown) => (typeof id === 'string' ? Buffer.from(`${type}:${id}`).toString('base64') : id);

/** The JSON posted: ids as the GraphQL API gives them (node(id:) finds them). */
export function alertBody(alert: Pick<ClaimedAlert, 'id' | 'kind' | 'payload' | 'createdAt'>): string {
  const { deliveryId, ruleId, accountId, ...rest } = alert.payload;
  const data = {
    ...rest,
    ...(deliveryId !== undefined ? { deliveryId: relayId('Delivery', deliveryId) } : {}),
    ...(ruleId !== undefined ? { ruleId: relayId('Rule', ruleId) } : {}),
    ...(accountId !== undefined ? { accountId: relayId('Account', accountId) } : {}),
  };
  return JSON.stringify({ id: alert.id, kind: alert.kind, createdAt: alert.createdAt.toISOString(), data });
}

/** The delay before try `attempts + 1`: backoffMs, doubled per try, at most maxBackoffMs. */
export function alertBackoff(attempts: number, backoffMs: number, maxBackoffMs = 3_600_000): number {
  return Math.min(maxBackoffMs, backoffMs * 2 ** Math.max(0, attempts - 1));
}

const defaultPost: PostAlert = async (url, body, headers, signal) => {
  // redirect: manual: a 3xx is an answer, never a hop to a host nobody checked
  const res = await fetch(url, { method: 'POST', body, headers, redirect: 'manual', signal });
  await res.body?.cancel().catch(() => {});
  return { status: res.status };
};

export interface AlertSender {
  /** One pass over the due rows (the loop calls it; tests may too). */
  sendDue(): Promise<number>;
  stop(): Promise<void>;
}

export function startAlertSender(options: AlertSenderOptions): AlertSender {
  const { store, logger, maxAttempts, backoffMs } = options;
  const post = options.post ?? defaultPost;
  const pollMs = options.pollMs ?? 1_000;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const stopping = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;

  async function sendOne(alert: ClaimedAlert): Promise<void> {
    let info: AttemptInfo;
    if (!alert.webhook) {
      await store.giveUp(alert.id, { statusCode: null, error: 'no alert webhook is set' });
      return;
    }
    try {
      await options.checkDestination?.(alert.webhook.url);
      const body = alertBody(alert);
      const headers = {
        'content-type': 'application/json',
        'user-agent': 'quiz-amocrm-gateway-alerts',
        [SIGNATURE_HEADER]: signAlert(alert.webhook.secret, body, Math.floor(Date.now() / 1000)),
        [ALERT_ID_HEADER]: alert.id,
        [ALERT_KIND_HEADER]: alert.kind,
      };
      const signal = AbortSignal.any([stopping.signal, AbortSignal.timeout(timeoutMs)]);
      const { status } = await post(alert.webhook.url, body, headers, signal);
      if (status >= 200 && status < 300) {
        await store.delivered(alert.id, { statusCode: status, error: null });
        logger.debug({ alertId: alert.id, kind: alert.kind, status }, 'alert delivered');
        return;
      }
      info = { statusCode: status, error: `the webhook answered HTTP ${status}` };
    } catch (err) {
      if (stopping.signal.aborted) return; // the lease runs out and another pass tries again
      info = { statusCode: null, error: (err as Error)?.message ?? String(err) };
    }
    if (alert.attempts >= maxAttempts) {
      await store.giveUp(alert.id, info);
      logger.warn({ alertId: alert.id, kind: alert.kind, attempts: alert.attempts, ...info }, 'alert given up');
    } else {
      await store.retryLater(alert.id, alertBackoff(alert.attempts, backoffMs, options.maxBackoffMs), info);
    }
  }

  async function sendDue(): Promise<number> {
    const due = await store.claim(options.batch ?? 20, timeoutMs * 3);
    await Promise.all(due.map((a) => sendOne(a).catch((err) => logger.error({ err, alertId: a.id }, 'alert send failed'))));
    return due.length;
  }

  const schedule = () => {
    if (stopping.signal.aborted) return;
    timer = setTimeout(() => {
      running = sendDue()
        .catch((err) => logger.error({ err }, 'alert pass failed'))
        .finally(() => {
          running = undefined;
          schedule();
        });
    }, pollMs);
    timer.unref?.();
  };
  schedule();

  return {
    sendDue,
    async stop() {
      stopping.abort(new Error('alert sender stopping'));
      clearTimeout(timer);
      await running;
    },
  };
}
