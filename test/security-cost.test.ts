// Issue 16 (Medium): the cost limit holds however a query is written. graphql-armor's rule
// multiplied only literal first/last; the same nested query with `first: $n`, or with no
// first (the default page of 25), passed. Refused over HTTP and the websocket alike.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Client } from 'graphql-ws';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApp, tokenFor, type TestApp } from './helpers/app.ts';
import { wsClient } from './helpers/stack.ts';

let testDb: TestDatabase;
let gw: TestApp;
let token: string;

before(async () => {
  testDb = await createTestDatabase();
  gw = await startTestApp(testDb);
  token = await tokenFor('cost-tenant');
});
after(async () => {
  await gw?.stop();
  await testDb?.drop();
});

const STEP = 'id name amoId color sort';
const LITERAL = `query Literal { pipelines(first: 100) { edges { node { id steps(first: 100) { edges { node { ${STEP} } } } } } } }`;
const VARIABLES = `query Variables($n: Int, $m: Int) { pipelines(first: $n) { edges { node { id steps(first: $m) { edges { node { ${STEP} } } } } } } }`;
/** 25 pipelines × 25 steps × their pipeline's 25 steps: 15,625 nodes, no first anywhere. */
const DEFAULTS = `query Defaults { pipelines { edges { node { id steps { edges { node { id pipeline { steps { edges { node { ${STEP} } } } } } } } } } } }`;
const FRAGMENT = `query Fragment($n: Int) { pipelines(first: $n) { ...P } } fragment P on PipelineConnection { edges { node { id steps(first: $n) { edges { node { ${STEP} } } } } } }`;

const CASES: [string, string, Record<string, unknown>][] = [
  ['literal first', LITERAL, {}],
  ['first from variables', VARIABLES, { n: 100, m: 100 }],
  ['first from a variable inside a fragment', FRAGMENT, { n: 100 }],
  ['no first (default pages)', DEFAULTS, {}],
];

function overWs(client: Client, query: string, variables: Record<string, unknown>): Promise<{ data?: unknown; errors?: { message: string }[] }> {
  return new Promise((resolve, reject) => {
    let result: { data?: unknown; errors?: { message: string }[] } | undefined;
    client.subscribe(
      { query, variables },
      {
        next: (value) => (result = value as typeof result),
        error: (err) => (Array.isArray(err) ? resolve({ errors: err as { message: string }[] }) : reject(err)),
        complete: () => resolve(result ?? {}),
      },
    );
  });
}

for (const [what, query, variables] of CASES) {
  test(`${what}: refused over HTTP`, async () => {
    const res = await gw.gql(query, variables, token);
    assert.equal(res.data, undefined, JSON.stringify(res));
    assert.match(res.errors?.[0]?.message ?? '', /cost limit/i);
  });
}

test('the same refused over the websocket; small pages from variables still answer', async () => {
  const client = wsClient(gw.url, token);
  try {
    for (const [what, query, variables] of CASES) {
      const result = await overWs(client, query, variables);
      assert.equal(result.data, undefined, what);
      assert.match(result.errors?.[0]?.message ?? '', /cost limit/i, what);
    }
    const small = await overWs(client, VARIABLES, { n: 10, m: 10 });
    assert.equal(small.errors, undefined, JSON.stringify(small.errors));
    assert.deepEqual(small.data, { pipelines: { edges: [] } });
  } finally {
    await client.dispose();
  }
  const small = await gw.gql(VARIABLES, { n: 10, m: 10 }, token);
  assert.equal(small.errors, undefined, JSON.stringify(small.errors));
});
