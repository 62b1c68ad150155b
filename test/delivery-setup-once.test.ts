// Passes side by side (passesInFlight) on a new account: its result-id field is created once.
// Unserialised, both passes read no field and both create one; amoCRM refuses the second as a
// duplicate and that pass would fall back to LEAD_CONTENT.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AmoValidationError, type AmoClient } from '../src/platform/amo/index.ts';
import { reconcileSetupOf } from '../src/features/delivery/reconcile.ts';
import { resolveOptions, type DeliveryRuntime } from '../src/features/delivery/options.ts';
import { createLogger } from '../src/platform/logger.ts';

test("two passes' setups of one new account: one field created, both RESULT_FIELD with it", async () => {
  const row: Record<string, unknown> = { resultFieldId: null, reconcileMode: null, reconcileCheckedAt: null };
  const fields: { id: number; code: string }[] = [];
  let creates = 0;
  const tick = () => new Promise((r) => setTimeout(r, 5));
  const db = {
    amoAccount: {
      findUnique: async () => ({ ...row }),
      update: async ({ data }: { data: Record<string, unknown> }) => void Object.assign(row, data),
    },
    $executeRaw: async (_s: TemplateStringsArray, id: number) => {
      if (row.resultFieldId == null) row.resultFieldId = id;
    },
    // the setup's first read of the account (plain SQL)
    $queryRaw: async () => [{ ...row }],
  };
  // amoCRM: a field code exists once; a second one is refused (400) like the simulator does
  const client = {
    listCustomFields: async () => (await tick(), [...fields]),
    createCustomFields: async (_entity: string, list: { code: string }[]) => {
      creates++;
      await tick();
      if (fields.some((f) => f.code === list[0]!.code)) {
        throw new AmoValidationError('duplicate', [{ path: '0.code', code: 'NotUnique', detail: 'code exists', requestId: null }]);
      }
      const f = { id: 100 + fields.length, code: list[0]!.code };
      fields.push(f);
      return [{ id: f.id }];
    },
  } as unknown as AmoClient;
  const rt = { services: { db, logger: createLogger({ level: 'silent' }) }, options: resolveOptions(), client: () => client } as unknown as DeliveryRuntime;

  const [one, two] = await Promise.all([reconcileSetupOf(rt, client, 'acc'), reconcileSetupOf(rt, client, 'acc')]);
  assert.deepEqual(one, { mode: 'RESULT_FIELD', resultFieldId: 100 });
  assert.deepEqual(two, { mode: 'RESULT_FIELD', resultFieldId: 100 });
  assert.equal(creates, 1, 'the field is created once');
  assert.equal(row.reconcileMode, 'RESULT_FIELD');
});
