/**
 * `POST /webhook/amo/{secret}`: store, then process through the queue.
 *
 * amoCRM waits 2 seconds for an answer (then retries, and eventually disables the hook), so the
 * receiver only parses, stores and hands the events to `amo.tasks`:
 * - an unknown (or disconnected account's) secret → 404, nothing stored;
 * - a body that is not an amoCRM webhook, or whose `account[id]` is not the secret's account →
 *   400, nothing stored;
 * - each event (one per `{entity}[{action}][i]` entry) is stored once per account by its content
 *   hash (`INSERT … ON CONFLICT (account_id, hash) DO NOTHING`), so resends and retries dedupe.
 *   Sections the gateway does not type yet are stored with type `unknown`. The raw body is kept
 *   once per request, on the first event it stored (a body of 500 events is not written 500 times);
 * - the new events are published as `{ type: 'webhook.event', quizAccountId, eventId }` on
 *   amo.tasks, but the answer waits for the publish at most `publishWaitMs` (default 500 ms).
 *   A publish that is slow goes on in the background; one that fails is logged. Either way the
 *   event is in the database unprocessed, and `sweepUnprocessedEvents` (every replica's worker,
 *   see `startWebhookSweeper`) processes it.
 */
import { Prisma } from '../../platform/db.ts';
import { amoId } from '../../platform/amo-ids.ts';
import { TOPICS } from '../../platform/queue/index.ts';
import type { Services } from '../../platform/services.ts';
import { eventHash, parseAmoWebhook, WebhookParseError, type ParsedWebhook } from './parse.ts';
import { processWebhookEvent } from './process.ts';

export const WEBHOOK_TASK_TYPE = 'webhook.event';

/** The amo.tasks message of one stored event. */
export interface WebhookEventTask {
  type: typeof WEBHOOK_TASK_TYPE;
  quizAccountId: string;
  eventId: string;
}

export interface WebhookAnswer {
  status: 200 | 400 | 404;
  body: { ok: true; stored: number; duplicates: number } | { error: string };
}

export interface ReceiveOptions {
  /** how long the answer waits for the amo.tasks publish (default 500 ms) */
  publishWaitMs?: number;
}

/** Secrets the gateway makes are hex; anything else is not worth a database lookup. */
const SECRET_RE = /^[A-Za-z0-9_-]{16,128}$/;

export interface WebhookAccount {
  id: string;
  amoId: number;
  quizAccountId: string;
}

export const UNKNOWN_WEBHOOK: WebhookAnswer = { status: 404, body: { error: 'unknown webhook' } };

/** The live account of a webhook secret (an indexed lookup), else null. */
export async function webhookAccount(services: Services, secret: string): Promise<WebhookAccount | null> {
  if (!SECRET_RE.test(secret)) return null;
  const account = await services.db.amoAccount.findFirst({
    where: { webhookSecret: secret, deletedAt: null },
    select: { id: true, amoId: true, quizAccountId: true },
  });
  return account && { ...account, amoId: amoId(account.amoId) };
}

export async function receiveWebhook(
  services: Services,
  secret: string | WebhookAccount,
  contentType: string | null | undefined,
  rawBody: string | Buffer,
  options: ReceiveOptions = {},
): Promise<WebhookAnswer> {
  const account = typeof secret === 'string' ? await webhookAccount(services, secret) : secret;
  if (!account) return UNKNOWN_WEBHOOK;

  const raw = typeof rawBody === 'string' ? rawBody : rawBody.toString('utf8');
  let parsed: ParsedWebhook;
  try {
    parsed = parseAmoWebhook(contentType, raw);
  } catch (err) {
    if (err instanceof WebhookParseError) {
      services.logger.warn({ accountId: account.id, reason: err.message }, 'amoCRM webhook rejected');
      return { status: 400, body: { error: err.message } };
    }
    throw err;
  }
  if (parsed.account.id !== undefined && parsed.account.id !== account.amoId) {
    services.logger.warn({ accountId: account.id, amoId: account.amoId, got: parsed.account.id }, 'amoCRM webhook for another account rejected');
    return { status: 400, body: { error: 'the webhook is for another amoCRM account' } };
  }

  // One row per distinct event; identical entries within one body count once. The raw body is
  // written once, on the first event stored (in body order), by one parameter of its own: a
  // body of 500 events is not sent and kept 500 times. A resent body that stores nothing new
  // writes nothing.
  const rows = new Map<string, Prisma.Sql>();
  for (const ev of parsed.events) {
    const hash = eventHash(ev);
    if (!rows.has(hash)) rows.set(hash, Prisma.sql`(${account.id}::uuid, ${hash}, ${ev.kind}, ${JSON.stringify(ev)}::jsonb, '')`);
  }
  const inserted = await services.db.$queryRaw<{ id: string; hash: string }[]>`
    INSERT INTO webhook_event (account_id, hash, type, payload, raw)
    VALUES ${Prisma.join([...rows.values()])}
    ON CONFLICT (account_id, hash) DO NOTHING
    RETURNING id::text AS id, hash`;
  const order = new Map([...rows.keys()].map((hash, i) => [hash, i]));
  const first = inserted.reduce<{ id: string; hash: string } | undefined>((a, r) => (!a || order.get(r.hash)! < order.get(a.hash)! ? r : a), undefined);
  if (first) await services.db.$executeRaw`UPDATE webhook_event SET raw = ${raw} WHERE id = ${first.id}::uuid`;
  const duplicates = parsed.events.length - inserted.length;
  services.logger.info({ accountId: account.id, stored: inserted.length, duplicates, kinds: parsed.events.map((e) => e.kind) }, 'amoCRM webhook received');

  if (inserted.length) {
    const messages = inserted.map((r) => ({
      key: account.quizAccountId,
      value: { type: WEBHOOK_TASK_TYPE, quizAccountId: account.quizAccountId, eventId: r.id } satisfies WebhookEventTask,
    }));
    const publishing = services.queue.publishBatch(TOPICS.amoTasks, messages).catch((err) => {
      services.logger.warn({ accountId: account.id, err: (err as Error)?.message }, 'could not publish webhook events; the sweep will process them');
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([publishing, new Promise<void>((resolve) => (timer = setTimeout(resolve, options.publishWaitMs ?? 500)))]);
    clearTimeout(timer);
  }
  return { status: 200, body: { ok: true, stored: inserted.length, duplicates } };
}

export interface SweepOptions {
  /** only events received at least this long ago (default 10 000 ms: younger ones are likely still on the queue) */
  olderThanMs?: number;
  /** at most this many per pass (default 500) */
  limit?: number;
}

/**
 * Processes stored events that nobody processed yet (their publish was slow or failed, or the
 * task was lost), oldest first. Safe on every replica at once: `processWebhookEvent` claims each
 * event. Returns how many this pass processed.
 */
export async function sweepUnprocessedEvents(services: Services, options: SweepOptions = {}): Promise<number> {
  const before = new Date(Date.now() - (options.olderThanMs ?? 10_000));
  const events = await services.db.webhookEvent.findMany({
    where: { processedAt: null, receivedAt: { lte: before } },
    orderBy: [{ receivedAt: 'asc' }, { id: 'asc' }],
    take: options.limit ?? 500,
    select: { id: true },
  });
  let processed = 0;
  for (const { id } of events) {
    try {
      if (await processWebhookEvent(services, id)) processed++;
    } catch (err) {
      services.logger.error({ eventId: id, err: (err as Error)?.message }, 'webhook event sweep: processing failed');
    }
  }
  return processed;
}

/** Runs `sweepUnprocessedEvents` every `everyMs` (default 30 s; unref'd timer). Returns the stop function. */
export function startWebhookSweeper(services: Services, options: SweepOptions & { everyMs?: number } = {}): () => Promise<void> {
  let running: Promise<unknown> | undefined;
  const tick = () => {
    running ??= sweepUnprocessedEvents(services, options)
      .catch((err) => services.logger.error({ err: (err as Error)?.message }, 'webhook event sweep failed'))
      .finally(() => (running = undefined));
  };
  const timer = setInterval(tick, options.everyMs ?? 30_000);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
