// Why a delivery waits, as the owner reads it: the reason of an amoCRM error, the sentence, and the
// sweep that makes waiting deliveries follow their account's state (real PostgreSQL).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AmoBlockedError, AmoNetworkError, AmoNotConnectedError, AmoRateLimitedError, AmoServerError, AmoStaleError } from '../src/platform/amo/index.ts';
import { acceptResult } from '../src/features/delivery/accept.ts';
import { deliveryHealth } from '../src/features/delivery/health.ts';
import { describeError, reasonOfError, retryText, sweepAccountReasons } from '../src/features/delivery/reasons.ts';
import type { Services } from '../src/platform/services.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { deliveryServices, recordEvents } from './helpers/delivery.ts';

describe('the reason of an error', () => {
  test('account-wide waits first, then a send that may have arrived, then the limit, then the rest', () => {
    assert.equal(reasonOfError(new AmoStaleError('x'), true), 'RECONNECT_NEEDED');
    assert.equal(reasonOfError(new AmoBlockedError('x'), false), 'ACCOUNT_BLOCKED');
    assert.equal(reasonOfError(new AmoNotConnectedError('x'), false), 'NO_ACCOUNT');
    assert.equal(reasonOfError(new AmoServerError('x', { status: 502 }), true), 'CONFIRMING');
    assert.equal(reasonOfError(new AmoRateLimitedError('x'), false), 'RATE_LIMITED');
    assert.equal(reasonOfError(new AmoNetworkError('x'), false), 'AMO_UNAVAILABLE');
    assert.equal(reasonOfError(new Error('db down'), false), 'AMO_UNAVAILABLE');
  });

  test('the sentence names what happened and the next try, and never leaks an internal error', () => {
    const at = new Date('2026-12-02T10:00:00.123Z');
    assert.equal(
      retryText('RATE_LIMITED', describeError(new AmoRateLimitedError('x')), at),
      "Waiting for amoCRM's request limit (7 per second); next try at 2026-12-02T10:00:00Z.",
    );
    assert.match(
      retryText('AMO_UNAVAILABLE', describeError(new AmoServerError('x', { status: 504 })), at),
      /^amoCRM did not take the lead \(amoCRM answered 504\); next try at 2026-12-02T10:00:00Z\.$/,
    );
    assert.equal(describeError(new Error('relation "delivery" does not exist')), 'an internal error (logged)');
  });
});

describe('sweepAccountReasons', () => {
  let tdb: TestDatabase;
  let services: Services;
  before(async () => {
    tdb = await createTestDatabase();
    services = await deliveryServices(tdb.db);
  });
  after(async () => {
    await services?.queue.close();
    await tdb?.drop();
  });

  const result = (resultId: string) => ({ resultId, quizId: 'q', answers: [] });
  const account = (quizAccountId: string) =>
    tdb.db.amoAccount.create({ data: { quizAccountId, amoId: Math.floor(Math.random() * 1e9), name: 'A', subdomain: 'a', host: 'a.amocrm.ru', webhookSecret: quizAccountId } });

  test('reasons follow the account (none → stale → blocked → working), each change published once; health counts them', async () => {
    const tenant = 'sweep-1';
    const d = await acceptResult(services, tenant, result('s1'));
    assert.equal(d.reason, 'NO_ACCOUNT');
    const events = await recordEvents(services.queue);
    try {
      const acc = await account(tenant);
      assert.equal(await sweepAccountReasons(services, { maxWaitMs: 86_400_000, quizAccountId: tenant }), 1);
      assert.equal((await tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } })).reason, 'QUEUED');
      assert.equal(await sweepAccountReasons(services, { maxWaitMs: 86_400_000, quizAccountId: tenant }), 0, 'nothing changed: nothing written, nothing published');

      await tdb.db.amoAccount.update({ where: { id: acc.id }, data: { stale: true } });
      await sweepAccountReasons(services, { maxWaitMs: 86_400_000, quizAccountId: tenant });
      const stale = await tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
      assert.equal(stale.reason, 'RECONNECT_NEEDED');
      assert.match(stale.lastError ?? '', /connect amoCRM again/);
      assert.equal((await deliveryHealth(tdb.db, tenant)).mainReason, 'RECONNECT_NEEDED');

      await tdb.db.amoAccount.update({ where: { id: acc.id }, data: { stale: false, blockedAt: new Date() } });
      await sweepAccountReasons(services, { maxWaitMs: 86_400_000, quizAccountId: tenant });
      assert.equal((await tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } })).reason, 'ACCOUNT_BLOCKED');

      await tdb.db.amoAccount.update({ where: { id: acc.id }, data: { blockedAt: null } });
      await sweepAccountReasons(services, { maxWaitMs: 86_400_000, quizAccountId: tenant });
      const back = await tdb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
      assert.equal(back.reason, 'QUEUED');
      assert.equal(back.lastError, null);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(events.events.filter((e) => e.type === 'delivery.updated' && e.deliveryId === d.id).length, 4, 'one event per change');
    } finally {
      await events.stop();
    }
  });

  test('a leased delivery is left to its worker; one waiting past the limit ends FAILED (EXPIRED) with why', async () => {
    const tenant = 'sweep-2';
    const old = await acceptResult(services, tenant, result('old'));
    const leased = await acceptResult(services, tenant, result('leased'));
    await tdb.db.$executeRaw`UPDATE delivery SET created_at = now() - interval '2 hours' WHERE id = ${old.id}::uuid`;
    await tdb.db.$executeRaw`UPDATE delivery SET locked_until = now() + interval '1 minute', created_at = now() - interval '2 hours' WHERE id = ${leased.id}::uuid`;
    await sweepAccountReasons(services, { maxWaitMs: 60 * 60_000, quizAccountId: tenant });
    const expired = await tdb.db.delivery.findUniqueOrThrow({ where: { id: old.id } });
    assert.equal(expired.status, 'FAILED');
    assert.equal(expired.reason, 'EXPIRED');
    assert.match(expired.lastError ?? '', /^Not delivered: it waited longer than the gateway keeps results \(Waiting for an amoCRM account/);
    assert.equal((await tdb.db.delivery.findUniqueOrThrow({ where: { id: leased.id } })).status, 'PENDING');
    const health = await deliveryHealth(tdb.db, tenant);
    assert.equal(health.failed, 1);
    assert.equal(health.waiting, 1);
  });
});
