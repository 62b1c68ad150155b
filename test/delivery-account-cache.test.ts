// The delivery worker reads an account's state and token once per batch (account-cache.ts), not
// once per amoCRM call: what it keeps, for how long, and what drops it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cachedAccountAccess } from '../src/features/delivery/account-cache.ts';
import type { AccountAccess, AccountState } from '../src/platform/amo/index.ts';

function innerAccess() {
  const calls: string[] = [];
  let version = 1;
  let fail: Error | null = null;
  const inner: AccountAccess = {
    accountId: 'acc',
    async load() {
      calls.push('load');
      if (fail) throw fail;
      return { origin: 'https://a.amocrm.ru', host: 'a.amocrm.ru', amoId: 1, accessToken: `t${version}`, accessExpiresAt: new Date(8.64e15), version } as AccountState;
    },
    async refresh() {
      calls.push('refresh');
      version++;
      return { accessToken: `t${version}`, accessExpiresAt: new Date(8.64e15), version };
    },
    async markBlocked() {
      calls.push('markBlocked');
    },
    async markStale() {
      calls.push('markStale');
    },
  };
  return { inner, calls, failWith: (e: Error | null) => void (fail = e) };
}

test('calls within the age share one read; past it, the account is read again', async () => {
  let now = 1_000;
  const { inner, calls } = innerAccess();
  const access = cachedAccountAccess(inner, 5_000, () => now);
  assert.equal((await access.load()).accessToken, 't1');
  now += 4_999;
  await access.load();
  assert.deepEqual(calls, ['load']);
  now += 1;
  await access.load();
  assert.deepEqual(calls, ['load', 'load']);
});

test('a refresh, a block or a stale mark drops the read: the next call sees the new token and state', async () => {
  const { inner, calls } = innerAccess();
  const access = cachedAccountAccess(inner, 60_000, () => 0);
  const state = await access.load();
  await access.refresh(state.version);
  assert.equal((await access.load()).accessToken, 't2');
  await access.markBlocked(state);
  await access.load();
  await access.markStale('401 after a token refresh');
  await access.load();
  assert.deepEqual(calls, ['load', 'refresh', 'load', 'markBlocked', 'load', 'markStale', 'load']);
});

test('a refused read (stale, blocked, not connected) is not kept', async () => {
  const { inner, calls, failWith } = innerAccess();
  const access = cachedAccountAccess(inner, 60_000, () => 0);
  failWith(new Error('stale'));
  await assert.rejects(access.load(), /stale/);
  failWith(null);
  assert.equal((await access.load()).accessToken, 't1');
  assert.deepEqual(calls, ['load', 'load']);
});
