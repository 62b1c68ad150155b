// The account lifecycle: the authorize link, the OAuth callback, disconnect
// (by the owner or by amoCRM's signed hook).
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { acceptableAmoHost, amoIdOfToken, encryptSecret, exchangeCode, isAmoStaleError, tokenAad, tokenKeysOf, AmoError, type AmoAccountInfo } from '../../platform/amo/index.ts';
import { conflict } from '../../platform/errors.ts';
import { amoIdOrNull } from '../../platform/amo-ids.ts';
import type { AmoAccount } from '../../generated/prisma/client.ts';
import { Prisma } from '../../platform/db.ts';
import type { Services } from '../../platform/services.ts';
import { unsubscribeAccountWebhook } from '../webhooks/index.ts';

/** How long an authorize link stays usable. */
export const STATE_TTL_MS = 15 * 60_000;

const hashState = (state: string) => createHash('sha256').update(state).digest('hex');

/** The account's IANA time zone from `account?with=datetime_settings`, when it says one. */
const timezoneOf = (info: AmoAccountInfo): string | null => {
  const tz = (info._embedded?.datetime_settings as { timezone?: unknown } | undefined)?.timezone;
  return typeof tz === 'string' && tz ? tz : null;
};

/** A live account that still works blocks a new connection; a stale or blocked one may be replaced. */
async function workingAccount(services: Services, quizAccountId: string) {
  const live = await services.db.amoAccount.findFirst({ where: { quizAccountId, deletedAt: null } });
  return live && !live.stale && !live.blockedAt ? live : null;
}

export async function createAuthorizeLink(services: Services, quizAccountId: string): Promise<string> {
  if (await workingAccount(services, quizAccountId)) {
    throw conflict('An amoCRM account is already connected: disconnect it first');
  }
  const state = randomBytes(32).toString('base64url');
  await services.db.oAuthState.create({
    data: { stateHash: hashState(state), quizAccountId, expiresAt: new Date(Date.now() + STATE_TTL_MS) },
  });
  const link = new URL(services.config.amo.authUrl);
  link.searchParams.set('client_id', services.config.amo.clientId);
  link.searchParams.set('state', state);
  link.searchParams.set('mode', 'post_message');
  return link.toString();
}

export type CallbackOutcome = { ok: true; account: AmoAccount; reconnected: boolean } | { ok: false; status: 400 | 409 | 502; reason: string };

/** Consumes a state: exactly one caller gets the tenant back; forged, expired or reused states get null. */
async function consumeState(services: Services, state: string | null): Promise<string | null> {
  if (!state) return null;
  const rows = await services.db.$queryRaw<{ quiz_account_id: string }[]>`
    UPDATE oauth_state SET used_at = now()
    WHERE state_hash = ${hashState(state)} AND used_at IS NULL AND expires_at > now()
    RETURNING quiz_account_id`;
  return rows[0]?.quiz_account_id ?? null;
}

/** The OAuth callback. `signal` (the callback request's) cuts the amoCRM account read short when the owner's popup goes away. */
export async function completeAuthorization(
  services: Services,
  params: URLSearchParams,
  onConnected: (account: AmoAccount) => Promise<void>,
  options: { signal?: AbortSignal } = {},
): Promise<CallbackOutcome> {
  const { config, db, logger } = services;
  const quizAccountId = await consumeState(services, params.get('state'));
  if (!quizAccountId) return { ok: false, status: 400, reason: 'This authorization link is invalid, expired or was already used. Start again from the quiz settings.' };
  if (params.get('error')) return { ok: false, status: 400, reason: 'Access to amoCRM was not granted.' };

  const code = params.get('code');
  const referer = params.get('referer') ?? '';
  if (!code || !acceptableAmoHost(referer, config.amo)) {
    return { ok: false, status: 400, reason: 'amoCRM did not send a usable authorization code and account address.' };
  }
  if (params.get('client_id') && params.get('client_id') !== config.amo.clientId) {
    return { ok: false, status: 400, reason: 'The authorization was issued for another integration.' };
  }
  if (await workingAccount(services, quizAccountId)) {
    return { ok: false, status: 409, reason: 'An amoCRM account is already connected.' };
  }

  let tokens;
  let info: AmoAccountInfo;
  try {
    // A reconnect: the account's sync and deliveries may be running, so these calls take slots
    // of its limiter like every other call (amoCRM counts them all against the same 7 per second).
    const known = await db.amoAccount.findFirst({ where: { quizAccountId, host: referer, deletedAt: null }, select: { amoId: true } });
    tokens = await exchangeCode({ config }, referer, code, { db, amoId: amoIdOrNull(known?.amoId) });
    const amoId = amoIdOfToken(tokens.accessToken) ?? amoIdOrNull(known?.amoId);
    const client = services.amo.session({ host: referer, accessToken: tokens.accessToken, amoId }, { timeoutMs: 15_000, maxRetries: 2 });
    info = await client.getAccount(['drive_url', 'datetime_settings'], { signal: options.signal });
  } catch (err) {
    logger.warn({ err: err instanceof AmoError || isAmoStaleError(err) ? { message: (err as Error).message } : err, referer }, 'amoCRM authorization failed');
    return { ok: false, status: 502, reason: 'amoCRM did not accept the authorization. Try connecting again.' };
  }

  const key = tokenKeysOf(config);
  // each ciphertext is bound to its account's row and column
  const tokenData = (accountId: string) => ({
    accessTokenEnc: encryptSecret(tokens.accessToken, key, tokenAad(accountId, 'access')),
    refreshTokenEnc: encryptSecret(tokens.refreshToken, key, tokenAad(accountId, 'refresh')),
    accessExpiresAt: tokens.accessExpiresAt,
    refreshedAt: new Date(),
    lastRefreshError: null,
  });
  const accountData = {
    amoId: info.id,
    name: info.name,
    subdomain: info.subdomain,
    host: referer,
    country: info.country ?? null,
    currency: info.currency ?? null,
    driveUrl: info.drive_url ?? null,
    // the working hours of rule tasks are in it unless the rule names another (src/features/rules/task-assignment.ts)
    timezone: timezoneOf(info),
  };

  let outcome: { account: AmoAccount; reconnected: boolean };
  try {
    outcome = await db.$transaction(async (tx) => {
      const live = await tx.amoAccount.findFirst({ where: { quizAccountId, deletedAt: null } });
      if (live && amoIdOrNull(live.amoId) === info.id) {
        // Reconnecting the same amoCRM account keeps its cache, rules and waiting deliveries.
        const account = await tx.amoAccount.update({
          where: { id: live.id },
          data: { ...accountData, stale: false, staleAt: null, blockedAt: null, connectedAt: new Date() },
        });
        await tx.amoToken.upsert({
          where: { accountId: live.id },
          create: { accountId: live.id, ...tokenData(live.id) },
          update: { ...tokenData(live.id), version: { increment: 1 } },
        });
        return { account, reconnected: true };
      }
      if (live) {
        await tx.amoAccount.update({ where: { id: live.id }, data: { deletedAt: new Date() } });
        await tx.amoToken.deleteMany({ where: { accountId: live.id } });
      }
      // The same amoCRM account connected again after a disconnect: its latest row comes back, and
      // with it its cache, rules, UTM mappings and waiting deliveries (all keyed by the row).
      const gone = await tx.amoAccount.findFirst({ where: { quizAccountId, amoId: info.id, deletedAt: { not: null } }, orderBy: { deletedAt: 'desc' } });
      if (gone) {
        const account = await tx.amoAccount.update({
          where: { id: gone.id },
          data: { ...accountData, deletedAt: null, stale: false, staleAt: null, blockedAt: null, connectedAt: new Date(), webhookSecret: randomBytes(24).toString('hex') },
        });
        await tx.amoToken.upsert({
          where: { accountId: gone.id },
          create: { accountId: gone.id, ...tokenData(gone.id) },
          update: { ...tokenData(gone.id), version: { increment: 1 } },
        });
        await carryDeliveries(tx, quizAccountId, info.id, account.id);
        return { account, reconnected: true };
      }
      const account = await tx.amoAccount.create({
        data: { id: randomUUID(), quizAccountId, ...accountData, webhookSecret: randomBytes(24).toString('hex') },
      });
      await tx.amoToken.create({ data: { accountId: account.id, ...tokenData(account.id) } });
      await carryDeliveries(tx, quizAccountId, info.id, account.id);
      return { account, reconnected: false };
    });
  } catch (err) {
    // Two callbacks of one owner at once: the unique index lets one account in; the other loses here.
    if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') {
      return { ok: false, status: 409, reason: 'An amoCRM account is already connected.' };
    }
    throw err;
  }
  logger.info({ accountId: outcome.account.id, amoId: info.id, reconnected: outcome.reconnected }, 'amoCRM account connected');
  try {
    await onConnected(outcome.account);
  } catch (err) {
    // The account is connected; what follows (the first sync) is recovered by the workers.
    logger.error({ err, accountId: outcome.account.id }, 'after-connect steps failed');
  }
  return { ok: true, ...outcome };
}

/**
 * The same amoCRM account connected again as a new row (the old one was disconnected): the old
 * rows' waiting deliveries past QUEUED (their lead may be in this amoCRM account) move to it and
 * are due now; QUEUED ones follow the tenant's live account anyway. Another amoCRM account's
 * deliveries stay where they are: their leads may be there.
 */
async function carryDeliveries(tx: Prisma.TransactionClient, quizAccountId: string, amoId: number, accountId: string): Promise<void> {
  await tx.$executeRaw`
    UPDATE delivery SET account_id = ${accountId}::uuid, next_attempt_at = least(next_attempt_at, now()), updated_at = now()
    WHERE status = 'PENDING' AND quiz_account_id = ${quizAccountId}
      AND account_id IN (SELECT id FROM amo_account WHERE quiz_account_id = ${quizAccountId} AND amo_id = ${amoId} AND deleted_at IS NOT NULL)`;
}

/**
 * Soft-deletes the tenant's live account and destroys its tokens; null when none was connected.
 * `signal` (the GraphQL request's) cuts the webhook removal short; the account is disconnected anyway.
 */
export async function disconnectAccount(services: Services, quizAccountId: string, options: { signal?: AbortSignal } = {}): Promise<AmoAccount | null> {
  // The webhook is removed while the tokens still work (never throws; failures are logged).
  const live = await services.db.amoAccount.findFirst({ where: { quizAccountId, deletedAt: null } });
  if (live && !live.stale) await unsubscribeAccountWebhook(services, live, { signal: options.signal });
  return services.db.$transaction(async (tx) => {
    const live = await tx.amoAccount.findFirst({ where: { quizAccountId, deletedAt: null } });
    if (!live) return null;
    await tx.amoToken.deleteMany({ where: { accountId: live.id } });
    return tx.amoAccount.update({ where: { id: live.id }, data: { deletedAt: new Date() } });
  });
}

export function disconnectSignature(clientUuid: string, accountId: string, secret: string): string {
  return createHmac('sha256', secret).update(`${clientUuid}|${accountId}`).digest('hex');
}

/** amoCRM's signed "integration removed" hook. Returns how many accounts it disconnected, or null when the signature is wrong. */
export async function handleDisconnectHook(services: Services, params: URLSearchParams): Promise<number | null> {
  const accountId = params.get('account_id') ?? '';
  const clientUuid = params.get('client_uuid') ?? params.get('client_id') ?? '';
  const signature = params.get('signature') ?? '';
  if (!/^\d+$/.test(accountId) || !clientUuid || !/^[0-9a-f]{64}$/i.test(signature)) return null;
  const expected = Buffer.from(disconnectSignature(clientUuid, accountId, services.config.amo.clientSecret), 'hex');
  if (!timingSafeEqual(expected, Buffer.from(signature.toLowerCase(), 'hex'))) return null;
  if (clientUuid !== services.config.amo.clientId) return null;
  // The signed query is all amoCRM sends and never changes: when it was first seen is what tells a
  // replay (the same clock as connectedAt: this process's). A real second removal after a reconnect
  // looks the same and is ignored too; amoCRM revokes the tokens then, so the account turns stale.
  const queryHash = createHash('sha256').update(`${clientUuid}|${accountId}|${signature.toLowerCase()}`).digest('hex');
  return services.db.$transaction(async (tx) => {
    const [seen] = await tx.$queryRaw<{ first_seen_at: Date }[]>`
      INSERT INTO amo_disconnect_hook (query_hash, first_seen_at) VALUES (${queryHash}, ${new Date()})
      ON CONFLICT (query_hash) DO UPDATE SET query_hash = EXCLUDED.query_hash
      RETURNING first_seen_at`;
    const firstSeenAt = seen?.first_seen_at ?? new Date();
    const live = await tx.amoAccount.findMany({ where: { amoId: Number(accountId), deletedAt: null, connectedAt: { lt: firstSeenAt } }, select: { id: true } });
    const ids = live.map((a) => a.id);
    await tx.amoToken.deleteMany({ where: { accountId: { in: ids } } });
    await tx.amoAccount.updateMany({ where: { id: { in: ids } }, data: { deletedAt: new Date() } });
    return ids.length;
  });
}
