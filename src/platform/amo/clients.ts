// One way for every worker to build amoCRM clients: the shared per-account rate limiter over
// the database, the process logger, and `token.stale` published when an account turns stale.
import { createAmoClient, createAmoSessionClient, type AmoClient, type AmoClientOptions, type AmoSession } from './index.ts';
import { publishEvent } from '../events.ts';
import { countAmoCalls } from '../http/metrics.ts';
import type { Services } from '../services.ts';

/** Options of `amoClientFor` beyond the services (tests shorten the backoff). */
export type AmoClientOverrides = Partial<Omit<AmoClientOptions, 'db' | 'config' | 'accountId' | 'onStale'>>;

/** Publishes `token.stale` for an account (the client calls it once, when the account turns stale). */
export async function publishTokenStale(services: Pick<Services, 'db' | 'queue' | 'logger'>, accountId: string): Promise<void> {
  try {
    const account = await services.db.amoAccount.findUnique({ where: { id: accountId }, select: { quizAccountId: true } });
    if (!account) return;
    await publishEvent(services.queue, { type: 'token.stale', quizAccountId: account.quizAccountId, accountId });
  } catch (err) {
    services.logger.error({ accountId, err: (err as Error)?.message }, 'could not publish token.stale');
  }
}

/**
 * The amoCRM client of a gateway account (`AmoAccount.id`), built the same way by every worker:
 * the per-account rate limiter is kept in PostgreSQL (shared by every client and replica), and
 * `onStale` publishes `{ type: 'token.stale', quizAccountId, accountId }` on amo.events.
 * `overrides` is for tests (backoff, timeouts, fetch).
 */
export function amoClientFor(services: Services, accountId: string, overrides: AmoClientOverrides = {}): AmoClient {
  return createAmoClient({
    db: services.db,
    config: services.config,
    logger: services.logger,
    ...overrides,
    fetch: countAmoCalls(services.metrics, overrides.fetch),
    accountId,
    onStale: (id) => publishTokenStale(services, id),
  });
}

/**
 * A client for an amoCRM account not stored yet (the OAuth callback), built like `amoClientFor`:
 * the same shared per-account limiter (keyed by `session.amoId`), logger and metrics.
 */
export function amoSessionClientFor(services: Services, session: AmoSession, overrides: AmoClientOverrides = {}): AmoClient {
  return createAmoSessionClient({
    db: services.db,
    config: services.config,
    logger: services.logger,
    ...overrides,
    fetch: countAmoCalls(services.metrics, overrides.fetch),
    session,
  });
}
