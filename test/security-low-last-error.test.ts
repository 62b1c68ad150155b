// Issue 16 (Low): a database error during a delivery never reaches the owner as SQL text: the
// delivery's lastError says "an internal error" with an error id, and the log has the raw
// error under that id.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createAmoSimulator, type AmoSimulator } from '@quiz-gateway/amo-sim';
import { acceptResult } from '../src/features/delivery/index.ts';
import { runDeliveryPass } from '../src/features/delivery/worker.ts';
import type { Db } from '../src/platform/db.ts';
import type { Services } from '../src/platform/services.ts';
import { TEST_AMO_CLIENT_ID, TEST_AMO_CLIENT_SECRET, TEST_AMO_REDIRECT } from './helpers/amo.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { connectDeliveryAccount, deliveryServices, simpleResult, testDeliveryRuntime } from './helpers/delivery.ts';
import { LogCapture } from './helpers/stack.ts';

let sim: AmoSimulator;
let tdb: TestDatabase;
let services: Services | undefined;
before(async () => {
  sim = createAmoSimulator({ clientId: TEST_AMO_CLIENT_ID, clientSecret: TEST_AMO_CLIENT_SECRET, redirectUri: TEST_AMO_REDIRECT });
  await sim.start();
  tdb = await createTestDatabase();
});
after(async () => {
  await services?.queue.close();
  await tdb?.drop();
  await sim?.stop();
});

test('a database error in a delivery reaches lastError only as an error id that the log names', async () => {
  // a real Prisma error, with PostgreSQL's text in its message
  const dbError = await tdb.db.$queryRawUnsafe('SELECT * FROM no_such_table_for_issue_16').then(
    () => assert.fail('the query should fail'),
    (err: unknown) => err,
  );
  assert.match(String((dbError as Error).message), /no_such_table_for_issue_16/);
  let failReconcileRead = false;
  // the reconcile setup's read of the account (reconcileSetupOf, one raw statement) fails
  const db = new Proxy(tdb.db, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (prop !== '$queryRaw') return value;
      return (strings: TemplateStringsArray, ...values: unknown[]) => {
        if (failReconcileRead && strings.join('?').includes('reconcile_mode::text')) return Promise.reject(dbError);
        return (value as (s: TemplateStringsArray, ...v: unknown[]) => Promise<unknown>).call(target, strings, ...values);
      };
    },
  }) as Db;
  const logs = new LogCapture();
  services = await deliveryServices(db, undefined, { logger: logs.logger() });
  const account = await connectDeliveryAccount({ sim, tdb }, 1);
  await account.rule('quiz-1');
  const accepted = await acceptResult(services, account.quizAccountId, simpleResult('last-error-1'));

  failReconcileRead = true;
  await runDeliveryPass(testDeliveryRuntime(services));
  const row = await tdb.db.delivery.findUniqueOrThrow({ where: { id: accepted.id } });
  assert.equal(row.status, 'PENDING');
  const lastError = row.lastError ?? '';
  assert.doesNotMatch(lastError, /no_such_table|relation|SELECT|prisma/i, `raw database text in lastError: ${lastError}`);
  assert.doesNotMatch(lastError, /amoCRM did not take/, `the gateway's own error blamed on amoCRM: ${lastError}`);
  const id = /error id ([0-9a-f]{8})/.exec(lastError)?.[1];
  assert.ok(id, `lastError names no error id: ${lastError}`);
  const logged = logs.text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { errorId?: string; err?: { message?: string } })
    .find((entry) => entry.errorId === id);
  assert.ok(logged, `no log line carries error id ${id}`);
  assert.match(String(logged.err?.message), /no_such_table_for_issue_16/, 'the log has the raw error under that id');
});
