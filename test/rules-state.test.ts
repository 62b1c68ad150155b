// Issue 17: what the delivery worker does with a result whose rule is paused or deleted
// (src/features/delivery/rule-state.ts), branch by branch, on real PostgreSQL with a fake run.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { seedDemoAccount } from '../src/dev/seed-data.ts';
import { applyRuleState, PAUSED_RECHECK_MS, RULE_PAUSED_TEXT } from '../src/features/delivery/rule-state.ts';
import type { AccountRun, Item } from '../src/features/delivery/batch.ts';
import { loadRuleRow } from '../src/features/delivery/rule-row.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';

let testDb: TestDatabase;
let accountId: string;
const TENANT = 'state-a';

before(async () => {
  testDb = await createTestDatabase();
  accountId = (await seedDemoAccount(testDb.db, { quizAccountId: TENANT, pipelines: 1, archivedPipelines: 0 })).id;
});
after(async () => {
  await testDb?.drop();
});

async function ruleOf(quizId: string, pausedAt: Date | null) {
  const step = await testDb.db.step.findFirstOrThrow({ where: { accountId, type: 0 } });
  return testDb.db.rule.create({ data: { accountId, quizId, pipelineId: step.pipelineId, stepId: step.id, pausedAt } });
}

/** A delivery leased at `until`, and a fake run holding it (what rule-state uses of AccountRun). */
async function leased(quizId: string, resultId: string, db = testDb.db) {
  const until = new Date(Date.now() + 60_000);
  const d = await testDb.db.delivery.create({
    data: { quizAccountId: TENANT, accountId, quizId, resultId, payload: {}, reason: 'QUEUED', lockedUntil: until },
  });
  const failed: { id: string; text: string; reason: string }[] = [];
  const published: string[] = [];
  const released: string[] = [];
  const held = new Set([d.id]);
  const run = {
    rt: { services: { db } },
    accountId,
    rule: (quizId: string) => loadRuleRow(db, accountId, quizId),
    lease: {
      held,
      until,
      async update(id: string, _data: unknown, release: boolean) {
        if (release) released.push(id);
        held.delete(id);
        await testDb.db.delivery.updateMany({ where: { id, lockedUntil: until }, data: { lockedUntil: null } });
        return true;
      },
    },
    fail: async (item: Item, text: string, reason: string) => void failed.push({ id: item.d.id, text, reason }),
    publish: async (row: { id: string }) => void published.push(row.id),
  } as unknown as AccountRun;
  return { d, run, item: { d, result: {} } as unknown as Item, failed, published, released };
}

describe('rule state on delivery', () => {
  test('an active rule and a quiz without any rule let the result go on', async () => {
    await ruleOf('q-active', null);
    for (const quiz of ['q-active', 'q-never']) {
      const { run, item, failed } = await leased(quiz, `${quiz}-r`);
      assert.deepEqual(await applyRuleState(run, [item]), [item]);
      assert.deepEqual(failed, []);
    }
  });

  test('a paused rule: the row waits with its reason, unleased, looked at again later; announced once', async () => {
    await ruleOf('q-paused', new Date());
    const { d, run, item, published, released } = await leased('q-paused', 'p-r');
    const startedAt = Date.now();
    assert.deepEqual(await applyRuleState(run, [item]), []);
    const row = await testDb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(row.status, 'PENDING');
    assert.equal(row.reason, 'RULE_PAUSED');
    assert.equal(row.lastError, RULE_PAUSED_TEXT);
    assert.equal(row.lockedUntil, null);
    assert.ok(row.nextAttemptAt.getTime() >= startedAt + PAUSED_RECHECK_MS - 5_000, 'looked at again only much later');
    assert.deepEqual(published, [d.id]);
    assert.deepEqual(released, []);
  });

  test('resumed between the read and the write: nothing is written, the row is given back at once', async () => {
    const rule = await ruleOf('q-race', new Date());
    // the worker read the rule as paused; the owner resumed it before the row was written
    const stale = new Proxy(testDb.db, {
      // the rule's read (rule-row.ts, plain SQL) still sees it paused
      get: (target, key) =>
        key === '$queryRaw'
          ? async (...args: Parameters<typeof target.$queryRaw>) =>
              ((await target.$queryRaw(...args)) as { id: string }[]).map((r) => ({ ...r, id: rule.id, pausedAt: new Date() }))
          : Reflect.get(target, key),
    });
    await testDb.db.rule.update({ where: { id: rule.id }, data: { pausedAt: null } });
    const { d, run, item, published, released } = await leased('q-race', 'race-r', stale as typeof testDb.db);
    assert.deepEqual(await applyRuleState(run, [item]), []);
    const row = await testDb.db.delivery.findUniqueOrThrow({ where: { id: d.id } });
    assert.equal(row.reason, 'QUEUED', 'not put to wait for a rule that is no longer paused');
    assert.equal(row.lockedUntil, null, 'given back: claimed again with the rule as it is now');
    assert.deepEqual(released, [d.id]);
    assert.deepEqual(published, []);
  });

  test('a lease lost meanwhile: nothing is written', async () => {
    await ruleOf('q-lost', new Date());
    const { d, run, item } = await leased('q-lost', 'lost-r');
    await testDb.db.delivery.update({ where: { id: d.id }, data: { lockedUntil: new Date(Date.now() + 120_000) } });
    await applyRuleState(run, [item]);
    assert.equal((await testDb.db.delivery.findUniqueOrThrow({ where: { id: d.id } })).reason, 'QUEUED');
  });

  test('a deleted rule: the result is refused with RULE_DELETED and the time it was deleted', async () => {
    const at = new Date('2026-12-01T10:00:00Z');
    await testDb.db.ruleDeletion.create({ data: { quizAccountId: TENANT, quizId: 'q-deleted', deletedAt: at } });
    const { d, run, item, failed } = await leased('q-deleted', 'del-r');
    const other = await leased('q-deleted', 'del-r2');
    assert.deepEqual(await applyRuleState(run, [item, other.item]), []);
    assert.deepEqual(
      failed.map((f) => [f.id, f.reason]),
      [
        [d.id, 'RULE_DELETED'],
        [other.d.id, 'RULE_DELETED'],
      ],
    );
    assert.match(failed[0]!.text, /rule was deleted \(2026-12-01T10:00:00Z\)/);
  });
});
