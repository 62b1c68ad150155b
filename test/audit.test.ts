// Issue 6: the GraphQL over HTTP conformance audits of graphql-http, run against
// the gateway as a client sees it. Every MUST and SHOULD passes (and, today, every MAY).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAudits } from 'graphql-http';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApp, tokenFor, type TestApp } from './helpers/app.ts';

let testDb: TestDatabase;
let gw: TestApp;
let token: string;

before(async () => {
  testDb = await createTestDatabase();
  gw = await startTestApp(testDb);
  token = await tokenFor('audit-tenant');
});
after(async () => {
  await gw?.stop();
  await testDb?.drop();
});

/** The audits send no credentials; every request of the SPA carries its bearer token. */
const authorizedFetch: typeof fetch = (input, init = {}) => {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${token}`);
  return fetch(input, { ...init, headers });
};

describe('graphql-http server audits', () => {
  // Built lazily: the URL is known once the gateway listens.
  const audits = serverAudits({ url: () => `${gw.url}/graphql`, fetchFn: authorizedFetch });
  for (const audit of audits) {
    test(audit.name, async () => {
      const result = await audit.fn();
      if (result.status !== 'ok') {
        const response = 'response' in result ? await describeResponse(result.response) : '';
        assert.fail(`${result.status}: ${result.reason}${response}`);
      }
    });
  }
});

async function describeResponse(res: Response): Promise<string> {
  try {
    return `\n  → ${res.status} ${res.headers.get('content-type')} ${(await res.clone().text()).slice(0, 300)}`;
  } catch {
    return '';
  }
}
