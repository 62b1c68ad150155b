// Issue 16 (Medium): a webhook body costs what it weighs, once. The raw body is stored once
// per request (not on every unknown event), form parsing is linear in its `a[]=` appends, an
// unknown secret is answered before the body is read, and the secret lookup is indexed.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { formToTree, WebhookParseError } from '../src/features/webhooks/parse.ts';
import { receiveWebhook } from '../src/features/webhooks/index.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { connectSimAccount, testAmoConfig, type ConnectedAccount } from './helpers/amo.ts';
import { startStack, type Stack } from './helpers/stack.ts';
import { FORM } from './helpers/webhooks.ts';

let testDb: TestDatabase;
let stack: Stack;
let conn: ConnectedAccount;
let secret: string;

before(async () => {
  testDb = await createTestDatabase();
  stack = await startStack(testDb);
  conn = await connectSimAccount(testDb.db, stack.sim, testAmoConfig());
  secret = (await testDb.db.amoAccount.findUniqueOrThrow({ where: { id: conn.accountId } })).webhookSecret;
});
after(async () => {
  await stack?.stop();
  await testDb?.drop();
});

/** How many keys `Object.keys` hands out while `fn` runs: the parser's work on appends. */
function keysEnumerated(fn: () => void): number {
  const real = Object.keys;
  let total = 0;
  Object.keys = ((o: object) => {
    const keys = real(o);
    total += keys.length;
    return keys;
  }) as typeof Object.keys;
  try {
    fn();
  } finally {
    Object.keys = real;
  }
  return total;
}

const appends = (n: number, name = 'a') => Array.from({ length: n }, (_, i) => `${name}[]=${i}`).join('&');

test('form parsing is linear in a[]= appends: no per-append walk of the node’s keys', () => {
  let tree: ReturnType<typeof formToTree> = {};
  const work = keysEnumerated(() => (tree = formToTree(appends(10_000))));
  assert.ok(work < 10_000, `keys enumerated: ${work} (n² / 2 would be 50,000,000)`);
  const a = tree.a as Record<string, string>;
  assert.equal(Object.keys(a).length, 10_000);
  assert.equal(a['0'], '0');
  assert.equal(a['9999'], '9999');

  // appends beside named and nested keys keep PHP's order
  assert.deepEqual(formToTree('l[]=x&l[]=y&m[k][]=1&m[k][]=2&m[j]=3'), { l: { '0': 'x', '1': 'y' }, m: { k: { '0': '1', '1': '2' }, j: '3' } });

  // 50,000 pairs end at the pair limit, without the quadratic walk before it
  let refused: unknown;
  const capped = keysEnumerated(() => {
    try {
      formToTree(appends(50_000));
    } catch (err) {
      refused = err;
    }
  });
  assert.ok(refused instanceof WebhookParseError && /more than 10000 parameters/.test(refused.message), String(refused));
  assert.ok(capped < 10_000, `keys enumerated: ${capped}`);
});

test('the raw body is stored once per request, not once per unknown event', async () => {
  const pad = 'x'.repeat(2_000);
  const pairs = [
    ['account[id]', String(conn.amoId)],
    ['account[subdomain]', pad],
  ];
  for (let i = 0; i < 300; i++) pairs.push([`companies[add][${i}][id]`, String(1000 + i)], [`companies[add][${i}][name]`, `ACME ${i}`]);
  const body = new URLSearchParams(pairs).toString();
  const answer = await receiveWebhook(stack.gw.app.services, secret, FORM, body);
  assert.deepEqual(answer, { status: 200, body: { ok: true, stored: 300, duplicates: 0 } });
  const [row] = await testDb.db.$queryRaw<{ with_raw: number; raw_bytes: number; events: number }[]>`
    SELECT count(*) FILTER (WHERE raw <> '')::int AS with_raw, sum(length(raw))::int AS raw_bytes, count(*)::int AS events
    FROM webhook_event WHERE account_id = ${conn.accountId}::uuid AND type = 'unknown' AND payload->'data'->>'name' LIKE 'ACME %'`;
  assert.deepEqual(row, { with_raw: 1, raw_bytes: body.length, events: 300 });
  const first = await testDb.db.webhookEvent.findFirstOrThrow({ where: { accountId: conn.accountId, raw: body } });
  assert.equal((first.payload as { index: number }).index, 0, 'kept on the first event of the body');

  // sent again with one new event after the stored ones: the raw body goes with the new event
  const again = new URLSearchParams([...pairs, ['companies[add][300][id]', '1300'], ['companies[add][300][name]', 'ACME 300']]).toString();
  assert.deepEqual(await receiveWebhook(stack.gw.app.services, secret, FORM, again), { status: 200, body: { ok: true, stored: 1, duplicates: 300 } });
  const fresh = await testDb.db.webhookEvent.findFirstOrThrow({ where: { accountId: conn.accountId, raw: again } });
  assert.equal((fresh.payload as { index: number }).index, 300);
});

test('an unknown secret is answered 404 before its body is read', async () => {
  const url = new URL(`${stack.gw.url}/webhook/amo/${'f'.repeat(48)}`);
  const status = await new Promise<number | string>((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': FORM, 'content-length': String(1 << 20) } }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('error', reject);
    // a few bytes of a body announced as 1 MiB, and never the rest
    req.write('account[id]=1&');
    setTimeout(() => {
      resolve('no answer while the body was still coming');
      req.destroy();
    }, 5_000).unref();
  });
  assert.equal(status, 404);
});

test('the webhook secret is indexed', async () => {
  const indexes = await testDb.db.$queryRaw<{ indexdef: string }[]>`SELECT indexdef FROM pg_indexes WHERE tablename = 'amo_account'`;
  assert.ok(
    indexes.some((i) => /\(webhook_secret\)/.test(i.indexdef)),
    indexes.map((i) => i.indexdef).join('\n'),
  );
});
