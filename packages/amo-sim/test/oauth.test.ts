// The OAuth dance as amoCRM does it: consent, one-shot codes and refresh tokens, JWT access tokens.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CLIENT_ID, CLIENT_SECRET, REDIRECT, SIM_OPTIONS, bearer, simulatorSuite } from './helpers.ts';

const { sim, connect } = simulatorSuite(SIM_OPTIONS);

async function grantCode(accountId: number, state = 'st-1'): Promise<URL> {
  const res = await fetch(`${sim.url}/oauth?client_id=${CLIENT_ID}&state=${state}&mode=post_message&account_id=${accountId}&consent=allow`, { redirect: 'manual' });
  assert.equal(res.status, 302);
  return new URL(res.headers.get('location') as string);
}

function tokenRequest(body: Record<string, unknown>, form = false) {
  return fetch(`${sim.url}/oauth2/access_token`, {
    method: 'POST',
    headers: { 'content-type': form ? 'application/x-www-form-urlencoded' : 'application/json' },
    body: form ? new URLSearchParams(body as Record<string, string>).toString() : JSON.stringify(body),
  });
}

const exchange = (code: string, redirect_uri = REDIRECT) =>
  tokenRequest({ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, grant_type: 'authorization_code', code, redirect_uri });
const refresh = (refresh_token: string, form = false) =>
  tokenRequest({ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, grant_type: 'refresh_token', refresh_token, redirect_uri: REDIRECT }, form);

describe('OAuth', () => {
  test('authorize page, consent → code, code works once', async () => {
    const acc = sim.seedAccount();
    const page = await fetch(`${sim.url}/oauth?client_id=${CLIENT_ID}&state=x&mode=popup`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<form/);

    const loc = await grantCode(acc.id, 'st-42');
    assert.equal(loc.origin + loc.pathname, REDIRECT);
    assert.equal(loc.searchParams.get('referer'), sim.host);
    assert.equal(loc.searchParams.get('state'), 'st-42');
    assert.equal(loc.searchParams.get('platform'), '1');
    assert.equal(loc.searchParams.get('client_id'), CLIENT_ID);
    const code = loc.searchParams.get('code') as string;

    const res = await exchange(code);
    assert.equal(res.status, 200);
    const pair = await res.json();
    assert.equal(pair.token_type, 'Bearer');
    assert.equal(pair.expires_in, 86400);
    const claims = JSON.parse(Buffer.from(pair.access_token.split('.')[1], 'base64url').toString());
    assert.equal(claims.account_id, acc.id);
    assert.equal(claims.api_domain, sim.host);
    assert.ok(claims.exp > Date.now() / 1000 && claims.jti);

    const me = await fetch(`${sim.url}/api/v4/account`, bearer(pair.access_token));
    assert.equal(me.status, 200);
    const account = await me.json();
    assert.equal(account.id, acc.id);
    assert.equal(account.country, 'RU');
    assert.equal(account.currency, 'RUB');

    const again = await exchange(code);
    assert.equal(again.status, 400);
    assert.match(again.headers.get('content-type') ?? '', /problem\+json/);
    const err = await again.json();
    assert.equal(err.error, 'invalid_grant');
    assert.equal(err.title, 'Некорректный запрос');
    assert.equal(err.type, 'https://developers.amocrm.ru/v3/errors/OAuthProblemJson');

    // state is echoed only if sent; deny → access_denied
    const noState = new URL(sim.authorize({ accountId: acc.id, consent: 'allow' }));
    assert.equal(noState.searchParams.has('state'), false);
    const denied = new URL(sim.authorize({ accountId: acc.id, state: 'st-9', consent: 'deny' }));
    assert.equal(denied.searchParams.get('error'), 'access_denied');
    assert.equal(denied.searchParams.get('state'), 'st-9');
    assert.equal(denied.searchParams.has('code'), false);
  });

  test('expired code and redirect_uri mismatch', async () => {
    const acc = sim.seedAccount();
    const expired = new URL(sim.authorize({ accountId: acc.id, state: 's', consent: 'allow' })).searchParams.get('code') as string;
    sim.advanceClock(1201_000);
    try {
      const res = await exchange(expired);
      assert.equal(res.status, 400);
      const body = await res.json();
      assert.equal(body.error, 'invalid_grant');
      assert.match(body.hint, /expired/);
    } finally {
      sim.advanceClock(-1201_000);
    }
    const code = (await grantCode(acc.id)).searchParams.get('code') as string;
    const bad = await exchange(code, REDIRECT + '/');
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).error, 'invalid_grant');
    assert.equal((await exchange(code)).status, 200); // a mismatch does not burn the code

    const wrongSecret = await tokenRequest({ client_id: CLIENT_ID, client_secret: 'nope', grant_type: 'refresh_token', refresh_token: 'x' });
    assert.equal(wrongSecret.status, 401);
    assert.equal((await wrongSecret.json()).error, 'invalid_client');
  });

  test('a refresh token works once and kills every earlier one', async () => {
    const acc = sim.seedAccount();
    const code = (await grantCode(acc.id)).searchParams.get('code') as string;
    const first = await (await exchange(code)).json();
    const older = sim.issueTokens(acc.id); // a second live refresh token of the same account

    const r1 = await refresh(first.refresh_token, true); // form-encoded works too
    assert.equal(r1.status, 200);
    const second = await r1.json();
    assert.notEqual(second.refresh_token, first.refresh_token);

    const reuse = await refresh(first.refresh_token);
    assert.equal(reuse.status, 400);
    const err = await reuse.json();
    assert.equal(err.error, 'invalid_grant');
    assert.equal(err.hint, 'Token has been revoked');

    const killed = await refresh(older.refresh_token);
    assert.equal(killed.status, 400);

    const r2 = await refresh(second.refresh_token);
    assert.equal(r2.status, 200);
    const third = await r2.json();
    assert.equal((await fetch(`${sim.url}/api/v4/account`, bearer(third.access_token))).status, 200);
    assert.equal(sim.refreshCount(acc.id), 4);
    assert.deepEqual(
      sim.tokenRequests(acc.id).map((t) => t.status),
      [200, 200, 400, 400, 200],
    );

    sim.expireAccessTokens(acc.id);
    const expired = await fetch(`${sim.url}/api/v4/account`, bearer(third.access_token));
    assert.equal(expired.status, 401);
    assert.match(expired.headers.get('content-type') ?? '', /application\/problem\+json/);
    const fresh = await (await refresh(third.refresh_token)).json();
    assert.equal((await fetch(`${sim.url}/api/v4/account`, bearer(fresh.access_token))).status, 200);

    sim.revoke(acc.id);
    assert.equal((await fetch(`${sim.url}/api/v4/account`, bearer(fresh.access_token))).status, 401);
    const dead = await refresh(fresh.refresh_token);
    assert.equal(dead.status, 400);
    assert.equal((await dead.json()).error, 'invalid_grant');
  });

  test('missing or forged token → 401; unknown route → 404', async () => {
    assert.equal((await fetch(`${sim.url}/api/v4/account`)).status, 401);
    assert.equal((await fetch(`${sim.url}/api/v4/account`, bearer('a.b.c'))).status, 401);
    const { api } = connect();
    const nf = await api('/api/v4/nothing');
    assert.equal(nf.status, 404);
    assert.equal((await nf.json()).status, 404);
  });
});
