// The branches of delivery with small fakes (test/helpers/delivery-fakes.ts) and mock time: how an
// error is classified, what a reschedule writes and publishes, and the lease's fencing. The
// leads/complex and notes branches are in delivery-units-send.test.ts and delivery-units-notes.test.ts.
// No PostgreSQL, no simulator.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AmoBlockedError,
  AmoNetworkError,
  AmoNotConnectedError,
  AmoRateLimitedError,
  AmoServerError,
  AmoStaleError,
  AmoTokenRefreshError,
  AmoUnauthorizedError,
  AmoValidationError,
} from '../src/platform/amo/index.ts';
import { backoff } from '../src/features/delivery/batch.ts';
import { classify, reasonOfError, retryText, waitText } from '../src/features/delivery/reasons.ts';
import { delivery, freeze, iso, NOW, world } from './helpers/delivery-fakes.ts';

describe('classify', () => {
  test('stale, not connected and blocked pause the account; a definitive refresh failure is stale', () => {
    for (const err of [
      new AmoUnauthorizedError('401'),
      new AmoStaleError('stale'),
      new AmoTokenRefreshError('invalid_grant', true),
      new AmoNotConnectedError('none'),
      new AmoBlockedError('blocked'),
    ]) {
      assert.equal(classify(err), 'paused', err.constructor.name);
    }
    assert.equal(classify(new AmoTokenRefreshError('timeout', false)), 'retry', 'a passing refresh failure is retried');
  });

  test('validation; an AmoError maybe processed → maybe, else retry; an aborted signal → maybe', () => {
    assert.equal(classify(new AmoValidationError('bad', [])), 'validation');
    assert.equal(classify(new AmoServerError('502', { status: 502, maybeProcessed: true })), 'maybe');
    assert.equal(classify(new AmoNetworkError('timeout', { maybeProcessed: true })), 'maybe');
    assert.equal(classify(new AmoServerError('502', { status: 502 })), 'retry');
    assert.equal(classify(new AmoRateLimitedError('429')), 'retry');
    assert.equal(classify(new Error('boom')), 'retry');
    const aborted = AbortSignal.abort();
    assert.equal(classify(new DOMException('aborted', 'AbortError'), aborted), 'maybe');
    assert.equal(classify(new Error('boom'), aborted), 'maybe');
    assert.equal(classify(new AmoServerError('502', { status: 502 }), aborted), 'retry', "the AmoError's own word wins over the signal");
  });

  test('reasonOfError: account-wide reasons first, then CONFIRMING when it may be sent, RATE_LIMITED, AMO_UNAVAILABLE', () => {
    assert.equal(reasonOfError(new AmoStaleError('x'), true), 'RECONNECT_NEEDED');
    assert.equal(reasonOfError(new AmoBlockedError('x'), true), 'ACCOUNT_BLOCKED');
    assert.equal(reasonOfError(new AmoNotConnectedError('x'), false), 'NO_ACCOUNT');
    assert.equal(reasonOfError(new AmoRateLimitedError('x'), true), 'CONFIRMING');
    assert.equal(reasonOfError(new AmoRateLimitedError('x'), false), 'RATE_LIMITED');
    assert.equal(reasonOfError(new Error('x'), false), 'AMO_UNAVAILABLE');
  });
});

describe('backoff', () => {
  test('doubles per attempt from backoffMs, capped by maxBackoffMs, jittered ±20 %, never under atLeastMs', (t) => {
    freeze(t);
    const { rt } = world([], { backoffMs: 1_000, maxBackoffMs: 10_000 });
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 9].map((a) => backoff(rt, a)),
      [1_000, 1_000, 2_000, 4_000, 8_000, 10_000, 10_000],
    );
    assert.equal(backoff(rt, 1, 7_000), 7_000);
    t.mock.method(Math, 'random', () => 0);
    assert.equal(backoff(rt, 3), 3_200);
    t.mock.method(Math, 'random', () => 0.999_999);
    assert.equal(backoff(rt, 5), 10_000, 'the jitter never takes it past the cap');
  });
});

describe('AccountRun.reschedule', () => {
  test('paused: the account-wide reason with its sentence, attempts kept, due now; published only when the reason changes', async (t) => {
    freeze(t);
    const w = world([delivery('a', { attempts: 3, reason: 'QUEUED' }), delivery('b', { attempts: 1, reason: 'RECONNECT_NEEDED' })]);
    await w.run.reschedule(w.items('a', 'b'), new AmoStaleError('stale'), 'paused', { attemptsSpent: true, stage: 'QUEUED' });
    const data = (id: string) => w.writes.find((x) => x.id === id)!.data;
    assert.deepEqual(data('a'), {
      stage: 'QUEUED',
      reason: 'RECONNECT_NEEDED',
      lastError: waitText('RECONNECT_NEEDED'),
      attempts: 3,
      nextAttemptAt: new Date(NOW),
      lockedUntil: null,
    });
    assert.deepEqual(data('b'), {
      stage: 'QUEUED',
      reason: 'RECONNECT_NEEDED',
      lastError: waitText('RECONNECT_NEEDED'),
      attempts: 1,
      nextAttemptAt: new Date(NOW),
      lockedUntil: null,
    });
    assert.deepEqual(w.events(), [['a', 'PENDING']]);
    assert.equal(w.lease.held.size, 0, 'released');
  });

  test('paused by a block or a missing account says so', async (t) => {
    freeze(t);
    const w = world([delivery('a'), delivery('b')]);
    await w.run.reschedule(w.items('a'), new AmoBlockedError('blocked'), 'paused', { attemptsSpent: false });
    await w.run.reschedule(w.items('b'), new AmoNotConnectedError('none'), 'paused', { attemptsSpent: false });
    assert.equal(w.row('a').reason, 'ACCOUNT_BLOCKED');
    assert.match(w.row('a').lastError!, /^amoCRM has blocked this integration/);
    assert.equal(w.row('b').reason, 'NO_ACCOUNT');
    assert.equal(w.row('b').lastError, 'Waiting for an amoCRM account: connect one and the result is sent at once.');
  });

  test('retry spends an attempt; nextAttemptAt by backoff, doubling per attempt and capped by maxBackoffMs', async (t) => {
    freeze(t);
    const rows = [0, 1, 2, 3, 6].map((attempts) => delivery(`a${attempts}`, { attempts }));
    const w = world(rows, { backoffMs: 5_000, maxBackoffMs: 30_000 });
    await w.run.reschedule(w.items(...rows.map((d) => d.id)), new AmoServerError('503', { status: 503 }), 'retry', { stage: 'QUEUED', attemptsSpent: true });
    assert.deepEqual(
      rows.map((d) => [w.row(d.id).attempts, w.row(d.id).nextAttemptAt.getTime() - NOW]),
      [
        [1, 5_000],
        [2, 10_000],
        [3, 20_000],
        [4, 30_000],
        [7, 30_000],
      ],
    );
    const a = w.row('a0');
    assert.equal(a.stage, 'QUEUED');
    assert.equal(a.status, 'PENDING');
    assert.equal(a.reason, 'AMO_UNAVAILABLE');
    assert.equal(a.lastError, `amoCRM did not take the lead (amoCRM answered 503); next try at ${iso(NOW + 5_000)}.`);
    assert.equal(a.lockedUntil, null);
    assert.equal(w.events().length, 5, 'QUEUED → AMO_UNAVAILABLE is a change for each');
  });

  test('retry without attemptsSpent keeps the attempts (the result field made again: reason QUEUED)', async (t) => {
    freeze(t);
    const w = world([delivery('a', { attempts: 2, reason: 'QUEUED' })]);
    await w.run.reschedule(w.items('a'), new AmoValidationError('gone', []), 'retry', { stage: 'QUEUED', attemptsSpent: false, reason: 'QUEUED' });
    assert.equal(w.row('a').attempts, 2);
    assert.equal(w.row('a').nextAttemptAt.getTime(), NOW + 10_000);
    assert.deepEqual(w.events(), [], 'the reason did not change');
  });

  test("429 honours amoCRM's Retry-After when longer than the backoff, and says RATE_LIMITED", async (t) => {
    freeze(t);
    const w = world([delivery('a'), delivery('b')]);
    await w.run.reschedule(w.items('a'), new AmoRateLimitedError('429', { status: 429, retryAfterMs: 90_000 }), 'retry', { stage: 'QUEUED', attemptsSpent: true });
    await w.run.reschedule(w.items('b'), new AmoRateLimitedError('429', { status: 429, retryAfterMs: 1_000 }), 'retry', { stage: 'QUEUED', attemptsSpent: true });
    assert.equal(w.row('a').nextAttemptAt.getTime(), NOW + 90_000);
    assert.equal(w.row('a').reason, 'RATE_LIMITED');
    assert.equal(w.row('a').lastError, `Waiting for amoCRM's request limit (7 per second); next try at ${iso(NOW + 90_000)}.`);
    assert.equal(w.row('b').nextAttemptAt.getTime(), NOW + 5_000, 'a shorter Retry-After does not shorten the backoff');
  });

  test('maybe waits at least reconcileDelayMs, CONFIRMING; a longer backoff wins', async (t) => {
    freeze(t);
    const w = world([delivery('a'), delivery('b', { attempts: 4 })], { reconcileDelayMs: 30_000, backoffMs: 5_000 });
    await w.run.reschedule(w.items('a', 'b'), new AmoNetworkError('timeout', { maybeProcessed: true }), 'maybe', { stage: 'SENDING', attemptsSpent: true });
    assert.equal(w.row('a').nextAttemptAt.getTime(), NOW + 30_000);
    assert.equal(w.row('b').nextAttemptAt.getTime(), NOW + 80_000, 'attempt 5: 5 s × 2^4');
    assert.equal(w.row('a').reason, 'CONFIRMING');
    assert.equal(w.row('a').stage, 'SENDING');
    assert.equal(w.row('a').attempts, 1);
    assert.equal(
      w.row('a').lastError,
      `amoCRM may have received the lead (amoCRM did not answer in time or the connection broke); it is checked in amoCRM before anything is sent again, at ${iso(NOW + 30_000)}.`,
    );
  });

  test('the attempt that reaches maxAttempts ends FAILED RETRIES_EXHAUSTED with the last error', async (t) => {
    freeze(t);
    const w = world([delivery('a', { attempts: 4, reason: 'AMO_UNAVAILABLE' }), delivery('b', { attempts: 3, reason: 'AMO_UNAVAILABLE' })], { maxAttempts: 5 });
    await w.run.reschedule(w.items('a', 'b'), new AmoServerError('502', { status: 502 }), 'retry', { stage: 'QUEUED', attemptsSpent: true });
    assert.deepEqual(w.writes.find((x) => x.id === 'a')!.data, {
      status: 'FAILED',
      reason: 'RETRIES_EXHAUSTED',
      lastError: 'Not delivered: amoCRM did not take it after 5 attempts (last: amoCRM answered 502). Retry it when amoCRM works again.',
      attempts: 5,
      stage: 'QUEUED',
      lockedUntil: null,
    });
    assert.equal(w.row('b').status, 'PENDING');
    assert.equal(w.row('b').attempts, 4);
    assert.deepEqual(w.events(), [['a', 'FAILED']], "b's reason did not change: nothing published for it");
  });
});

describe('Lease', () => {
  test('an update after the lease was lost writes nothing, now or later, and drops the row from held', async (t) => {
    freeze(t);
    const w = world([delivery('a'), delivery('b')]);
    w.steal('a');
    assert.equal(await w.lease.update('a', { reason: 'CONFIRMING' }, false), false);
    assert.equal(w.lease.held.has('a'), false);
    assert.equal(w.row('a').reason, 'QUEUED');
    assert.equal(await w.lease.update('a', { reason: 'AMO_UNAVAILABLE' }, true), false);
    assert.equal(w.writes.length, 0, 'nothing written for a');
    await w.run.reschedule(w.items('a', 'b'), new AmoServerError('502', { status: 502 }), 'retry', { attemptsSpent: true });
    assert.deepEqual(
      w.writes.map((x) => x.id),
      ['b'],
    );
    assert.equal(w.row('a').reason, 'QUEUED');
  });

  test('a reschedule of a row whose lease was lost publishes nothing for it', async (t) => {
    freeze(t);
    const w = world([delivery('a'), delivery('b')]);
    w.steal('a');
    await w.run.reschedule(w.items('a', 'b'), new AmoServerError('502', { status: 502 }), 'retry', { attemptsSpent: true });
    assert.deepEqual(w.events(), [['b', 'PENDING']]);
  });

  test('an update without release keeps the row; with release gives it back', async (t) => {
    freeze(t);
    const w = world([delivery('a')]);
    assert.equal(await w.lease.update('a', { reason: 'ADDING_NOTE' }, false), true);
    assert.deepEqual([...w.lease.held], ['a']);
    assert.equal(await w.lease.update('a', { reason: 'QUEUED' }, true), true);
    assert.deepEqual([...w.lease.held], []);
    assert.equal(w.row('a').lockedUntil, null);
  });

  test('renew keeps only the rows still held, takes the new lease value and restarts the deadline', async (t) => {
    freeze(t);
    const w = world([delivery('a'), delivery('b'), delivery('c')], { leaseMs: 60_000 });
    const before = w.lease.until.getTime();
    t.mock.timers.setTime(NOW + 20_000);
    assert.equal(w.lease.remainingMs(), 40_000);
    w.steal('b');
    await w.lease.renew();
    assert.deepEqual([...w.lease.held].sort(), ['a', 'c']);
    assert.equal(w.lease.until.getTime(), NOW + 80_000);
    assert.notEqual(w.lease.until.getTime(), before);
    assert.equal(w.lease.remainingMs(), 60_000);
    assert.equal(w.row('a').lockedUntil!.getTime(), NOW + 80_000);
    assert.equal(w.row('b').lockedUntil!.getTime(), NOW + 999_999, "the other process's lease is untouched");
    assert.equal(await w.lease.update('a', { reason: 'CONFIRMING' }, false), true, 'later writes are fenced by the new value');
    await w.lease.renew();
    assert.deepEqual(w.renewals, [
      ['a', 'b', 'c'],
      ['a', 'c'],
    ]);
  });

  test('renew with nothing held asks nothing; releaseAll gives back what is held, fenced', async (t) => {
    freeze(t);
    const w = world([delivery('a'), delivery('b')]);
    w.steal('b');
    await w.lease.releaseAll();
    assert.deepEqual(w.releases, [['a', 'b']]);
    assert.equal(w.row('a').lockedUntil, null);
    assert.equal(w.row('b').lockedUntil!.getTime(), NOW + 999_999);
    assert.equal(w.lease.held.size, 0);
    await w.lease.renew();
    assert.deepEqual(w.renewals, []);
  });
});

test('retryText: one sentence per reason with the next try in amoCRM time', () => {
  const at = new Date(NOW + 1_234);
  assert.equal(retryText('CONFIRMING', 'x', at), `amoCRM may have received the lead (x); it is checked in amoCRM before anything is sent again, at ${iso(NOW + 1_234)}.`);
  assert.equal(retryText('ADDING_NOTE', 'x', at), `The lead is in amoCRM; its note with the answers could not be added yet (x); next try at ${iso(NOW + 1_234)}.`);
  assert.equal(retryText('AMO_UNAVAILABLE', 'x', at), `amoCRM did not take the lead (x); next try at 2027-01-15T08:00:01Z.`);
});
