// Issue 6, operations: hardening over HTTP and the websocket — depth, cost, alias and token
// limits, the 1 MiB body limit, and production mode (no introspection, no GraphiQL).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Client } from 'graphql-ws';
import { ARMOR_LIMITS } from '../src/app.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApp, TEST_AUTH_CLAIMS, tokenFor, type TestApp } from './helpers/app.ts';
import { TEST_AMO_CLIENT_ID, TEST_AMO_CLIENT_SECRET } from './helpers/amo.ts';
import { wsClient } from './helpers/stack.ts';

let testDb: TestDatabase;
let gw: TestApp;
let token: string;

before(async () => {
  testDb = await createTestDatabase();
  gw = await startTestApp(testDb);
  token = await tokenFor('ops-tenant');
});
after(async () => {
  await gw?.stop();
  await testDb?.drop();
});

/** Runs one operation over a websocket; resolves with its result or its errors. */
function overWs(client: Client, query: string): Promise<{ data?: unknown; errors?: { message: string }[] }> {
  return new Promise((resolve, reject) => {
    let result: { data?: unknown; errors?: { message: string }[] } | undefined;
    client.subscribe(
      { query },
      {
        next: (value) => (result = value as typeof result),
        error: (err) => (Array.isArray(err) ? resolve({ errors: err as { message: string }[] }) : reject(err)),
        complete: () => resolve(result ?? {}),
      },
    );
  });
}

const STEP = 'id name amoId color sort';
/** 15 levels: Pipeline → steps → Step → pipeline → … */
const TOO_DEEP = `query TooDeep { pipelines { edges { node { steps { edges { node { pipeline { steps { edges { node {
  pipeline { steps { edges { node { id } } } } } } } } } } } } } } }`;
/** Shallow and small, but 100 pipelines × 100 steps each. */
const TOO_COSTLY = `query TooCostly { pipelines(first: 100) { edges { node { id name steps(first: 100) { edges { node { ${STEP} } } } } } } }`;
const ALIAS_BOMB = `query AliasBomb { ${Array.from({ length: ARMOR_LIMITS.maxAliases.n + 5 }, (_, i) => `a${i}: account { id name }`).join(' ')} }`;
const REFUSED = [
  ['too deep', TOO_DEEP, /depth limit/i],
  ['too costly', TOO_COSTLY, /cost limit/i],
  ['an alias bomb', ALIAS_BOMB, /aliases limit/i],
] as const;

describe('hardening', () => {
  for (const [what, query, message] of REFUSED) {
    test(`${what}: refused over HTTP`, async () => {
      const res = await gw.gql(query, {}, token);
      assert.equal(res.data, undefined);
      assert.match(res.errors?.[0]?.message ?? '', message);
    });
  }

  test('the same three refused over the websocket, and the connection keeps working', async () => {
    let closed: number | undefined;
    const client = wsClient(gw.url, token, { onClose: (code) => (closed = code) });
    try {
      for (const [what, query, message] of REFUSED) {
        const result = await overWs(client, query);
        assert.equal(result.data, undefined, what);
        assert.match(result.errors?.[0]?.message ?? '', message, what);
      }
      const fine = await overWs(client, 'query { account { id } }');
      assert.deepEqual(fine, { data: { account: null } });
      assert.equal(closed, undefined);
    } finally {
      await client.dispose();
    }
  });

  test('too many tokens refused over HTTP and websocket', async () => {
    const query = `query Tokens { ${Array.from({ length: ARMOR_LIMITS.maxTokens.n }, () => '__typename').join(' ')} }`;
    const http = await gw.gql(query, {}, token);
    assert.match(http.errors?.[0]?.message ?? '', /token limit/i);
    const client = wsClient(gw.url, token);
    try {
      const ws = await overWs(client, query);
      assert.match(ws.errors?.[0]?.message ?? '', /token limit/i);
    } finally {
      await client.dispose();
    }
  });

  test('a body over 1 MiB is 413 before it is parsed (declared length and chunked)', async () => {
    const huge = JSON.stringify({ query: `{ __typename }`, variables: { pad: 'x'.repeat(1.5 * 1024 * 1024) } });
    const declared = await fetch(`${gw.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: huge,
    });
    assert.equal(declared.status, 413);

    const chunks = (body: string) =>
      new ReadableStream<Uint8Array>({
        start(controller) {
          const bytes = new TextEncoder().encode(body);
          for (let i = 0; i < bytes.length; i += 64 * 1024) controller.enqueue(bytes.subarray(i, i + 64 * 1024));
          controller.close();
        },
      });
    const chunked = await fetch(`${gw.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: chunks(huge),
      duplex: 'half',
    } as RequestInit);
    assert.equal(chunked.status, 413);

    // A chunked body under the limit still works.
    const small = await fetch(`${gw.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', authorization: `Bearer ${token}` },
      body: chunks(JSON.stringify({ query: '{ __typename }' })),
      duplex: 'half',
    } as RequestInit);
    assert.equal(small.status, 200);
    assert.deepEqual(await small.json(), { data: { __typename: 'Query' } });
  });

  test('production mode: no introspection (HTTP and websocket), no GraphiQL', async () => {
    const prod = await startTestApp(testDb, {
      config: {
        NODE_ENV: 'production',
        DATABASE_URL: testDb.url,
        AMO_CLIENT_ID: TEST_AMO_CLIENT_ID,
        AMO_CLIENT_SECRET: TEST_AMO_CLIENT_SECRET,
        AMO_REDIRECT_URI: 'https://gateway.example/webhook/create',
        PUBLIC_URL: 'https://gateway.example',
        TOKEN_ENCRYPTION_KEY: Buffer.alloc(32, 9).toString('base64'),
        ...TEST_AUTH_CLAIMS,
      },
    });
    try {
      for (const query of ['{ __schema { types { name } } }', '{ __type(name: "Query") { name } }']) {
        const res = await prod.gql(query, {}, token);
        assert.equal(res.data, undefined);
        assert.match(res.errors?.[0]?.message ?? '', /introspection/i);
      }
      assert.deepEqual((await prod.gql('{ __typename }', {}, token)).data, { __typename: 'Query' });
      const client = wsClient(prod.url, token);
      try {
        const ws = await overWs(client, '{ __schema { queryType { name } } }');
        assert.match(ws.errors?.[0]?.message ?? '', /introspection/i);
      } finally {
        await client.dispose();
      }
      const page = await fetch(`${prod.url}/graphql`, { headers: { accept: 'text/html' } });
      assert.doesNotMatch(await page.text(), /graphiql/i);
    } finally {
      await prod.stop();
    }
    // Development serves both.
    const page = await fetch(`${gw.url}/graphql`, { headers: { accept: 'text/html' } });
    assert.match(await page.text(), /graphiql/i);
    const res = await gw.gql('{ __schema { queryType { name } } }', {}, token);
    assert.deepEqual(res.data, { __schema: { queryType: { name: 'Query' } } });
  });
});
