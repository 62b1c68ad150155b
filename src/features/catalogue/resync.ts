// The catalogue kept fresh without a manual sync: every CATALOGUE_RESYNC_INTERVAL_MS each live
// account gets a sync job (the ordinary one: jobs.ts, run by worker.ts) and its rules a check
// against amoCRM (`rule.changed` tasks), all on amo.tasks, so every amoCRM call goes through the
// account's shared rate limiter.
//
// Spread, not all at once: each account has its own phase in the interval (a hash of its id),
// and is due once the last phase moment has passed since its last sync job was queued. A pass
// takes at most a fair share of the accounts (n × tick / interval, doubled for slack), the
// longest-waiting first, so even a backlog (the first deployment) is spread over the interval.
// Every replica may run it: the job table says what was queued, and `requestSync` answers with
// the active job instead of queueing a second one.
import { createHash } from 'node:crypto';
import type { Logger } from '../../platform/logger.ts';
import { TOPICS } from '../../platform/queue/index.ts';
import type { Services } from '../../platform/services.ts';
import { requestSync } from './jobs.ts';

export interface ResyncAccount {
  id: string;
  quizAccountId: string;
  /** when its last sync job (manual or periodic) was queued; null: never */
  lastQueuedAt: Date | null;
}

/** The account's fixed moment in each interval, ms after the interval's start. */
export function phaseOf(accountId: string, intervalMs: number): number {
  return createHash('sha256').update(accountId).digest().readUInt32BE(0) % intervalMs;
}

/** The latest moment at or before `now` that is the account's phase. */
export function lastPhaseMoment(accountId: string, now: number, intervalMs: number): number {
  const phase = phaseOf(accountId, intervalMs);
  return now - ((((now - phase) % intervalMs) + intervalMs) % intervalMs);
}

export function isDue(account: ResyncAccount, now: number, intervalMs: number): boolean {
  return !account.lastQueuedAt || account.lastQueuedAt.getTime() < lastPhaseMoment(account.id, now, intervalMs);
}

export interface ResyncDeps {
  listAccounts(): Promise<ResyncAccount[]>;
  resync(account: ResyncAccount): Promise<void>;
  intervalMs: number;
  /** how often due accounts are looked for (default interval / 120, 1 s to 60 s) */
  tickMs?: number;
  logger: Logger;
}

/** Due accounts of one pass, longest-waiting first, at most a fair share. */
export function pickDue(accounts: readonly ResyncAccount[], now: number, intervalMs: number, tickMs: number): ResyncAccount[] {
  const limit = Math.max(2, 2 * Math.ceil((accounts.length * tickMs) / intervalMs));
  return accounts
    .filter((a) => isDue(a, now, intervalMs))
    .sort((a, b) => lastPhaseMoment(a.id, now, intervalMs) - lastPhaseMoment(b.id, now, intervalMs))
    .slice(0, limit);
}

/** Starts the periodic passes (nothing when intervalMs is 0); returns the stop function. */
export function startResyncScheduler(deps: ResyncDeps): () => Promise<void> {
  const { intervalMs, logger } = deps;
  if (intervalMs <= 0) return async () => {};
  const tickMs = deps.tickMs ?? Math.min(60_000, Math.max(1_000, Math.floor(intervalMs / 120)));
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  const pass = async () => {
    const due = pickDue(await deps.listAccounts(), Date.now(), intervalMs, tickMs);
    for (const account of due) {
      if (stopped) return;
      await deps.resync(account).catch((err) => logger.warn({ err: (err as Error)?.message, accountId: account.id }, 'periodic resync not queued'));
    }
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = pass()
        .catch((err) => logger.error({ err }, 'periodic resync pass failed'))
        .finally(() => {
          running = undefined;
          schedule();
        });
    }, tickMs);
    timer.unref?.();
  };
  schedule();
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await running;
  };
}

/** The scheduler over the gateway's database and amo.tasks (src/workers/index.ts). */
export function startCatalogueResync(services: Services, options: { intervalMs?: number; tickMs?: number } = {}): () => Promise<void> {
  const { db, queue } = services;
  return startResyncScheduler({
    intervalMs: options.intervalMs ?? services.config.catalogueResyncIntervalMs,
    tickMs: options.tickMs,
    logger: services.logger.child({ part: 'catalogue-resync' }),
    listAccounts: () => db.$queryRaw<ResyncAccount[]>`
      SELECT a.id::text AS id, a.quiz_account_id AS "quizAccountId",
        (SELECT max(j.queued_at) FROM sync_job j WHERE j.account_id = a.id) AS "lastQueuedAt"
      FROM amo_account a
      WHERE a.deleted_at IS NULL AND a.stale = false AND a.blocked_at IS NULL`,
    async resync(account) {
      await requestSync(services, account.id);
      // the same task a rule edit queues: the check reads amoCRM itself (src/features/rules/check.ts)
      const rules = await db.rule.findMany({ where: { accountId: account.id }, select: { id: true, quizId: true } });
      // and the leads of its recent deliveries, in case a leads[delete] webhook was lost (src/features/webhooks/lead-check.ts)
      await queue.publish(TOPICS.amoTasks, account.quizAccountId, { type: 'leads.check', quizAccountId: account.quizAccountId, accountId: account.id });
      for (const rule of rules) {
        await queue.publish(TOPICS.amoTasks, account.quizAccountId, { type: 'rule.changed', quizAccountId: account.quizAccountId, quizId: rule.quizId, ruleId: rule.id });
      }
    },
  });
}
