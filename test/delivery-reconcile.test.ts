// The branches of reconcile and repair with small fakes: which amoCRM lead is ours, which refusals
// a lead can go without, and how the reconcile mode is chosen from amoCRM's answer.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AmoHttpError,
  AmoNotFoundError,
  AmoServerError,
  AmoValidationError,
  type AmoClient,
  type AmoComplexLeadInput,
  type AmoCreatedWindow,
  type AmoLead,
} from '../src/platform/amo/index.ts';
import { ensureReconcileSetup, findSentLeads, isLeadOf, WINDOW_MARGIN_MS, type ReconcileTarget } from '../src/features/delivery/reconcile.ts';
import { repairLead } from '../src/features/delivery/repair.ts';
import { createLogger } from '../src/platform/logger.ts';

const lead = (id: number, patch: Partial<AmoLead> = {}): AmoLead => ({
  id,
  name: 'Quiz q: Анна',
  price: 0,
  responsible_user_id: 1,
  status_id: 10,
  pipeline_id: 1,
  created_at: 0,
  updated_at: 0,
  closed_at: null,
  is_deleted: false,
  custom_fields_values: [
    { field_id: 5, values: [{ value: '42' }] },
    { field_id: 6, values: [{ enum_id: 61, value: 'Да' }] },
  ],
  ...patch,
});

const sent: AmoComplexLeadInput = {
  name: 'Quiz q: Анна',
  pipeline_id: 1,
  status_id: 10,
  custom_fields_values: [
    { field_id: 5, values: [{ value: '42' }] },
    { field_id: 6, values: [{ enum_id: 61 }] },
  ],
};
const target = (deliveryId: string, sentLead: AmoComplexLeadInput | null = sent, resultId = `r-${deliveryId}`): ReconcileTarget => ({
  deliveryId,
  resultId,
  since: new Date(1_800_000_000_000),
  sentLead,
});

describe('isLeadOf', () => {
  test('by the result-id field when the lead carries it', () => {
    const withId = lead(1, { custom_fields_values: [{ field_id: 99, values: [{ value: 'r-a' }] }] });
    assert.equal(isLeadOf(withId, target('a', null), 99), true);
    assert.equal(isLeadOf(withId, target('b', null), 99), false);
  });

  test('by content: same name and every value sent (amoCRM may add more, and render enum values with their text)', () => {
    assert.equal(isLeadOf(lead(1), target('a'), null), true);
    const more = lead(1, { custom_fields_values: [...lead(1).custom_fields_values!, { field_id: 7, values: [{ value: 'default' }] }] });
    assert.equal(isLeadOf(more, target('a'), null), true);
  });

  test('by content: another name, a missing or different value, another price is not ours', () => {
    assert.equal(isLeadOf(lead(1, { name: 'Сделка #1' }), target('a'), null), false);
    assert.equal(
      isLeadOf(
        lead(1, {
          custom_fields_values: [
            { field_id: 5, values: [{ value: '43' }] },
            { field_id: 6, values: [{ enum_id: 61 }] },
          ],
        }),
        target('a'),
        null,
      ),
      false,
    );
    assert.equal(isLeadOf(lead(1, { custom_fields_values: [{ field_id: 5, values: [{ value: '42' }] }] }), target('a'), null), false);
    assert.equal(isLeadOf(lead(1, { price: 0 }), target('a', { ...sent, price: 500 }), null), false);
    assert.equal(isLeadOf(lead(1, { price: 500 }), target('a', { ...sent, price: 500 }), null), true);
  });

  test('sent with the result-id field but the lead lacks it: not ours, however alike; nothing sent recorded: only the field counts', () => {
    const sentWithId = { ...sent, custom_fields_values: [{ field_id: 99, values: [{ value: 'r-a' }] }, ...sent.custom_fields_values!] };
    assert.equal(isLeadOf(lead(1), target('a', sentWithId), 99), false);
    assert.equal(isLeadOf(lead(1), target('a', null), null), false);
  });
});

/** A client whose lead list is `leads`, recording the windows (and options) it was asked. */
function fakeClient(leads: AmoLead[], calls: Record<string, unknown>[] = []): AmoClient {
  return {
    async listLeads(window: AmoCreatedWindow, options: { with?: string[] } = {}) {
      calls.push({ ...window, with: options.with });
      return leads;
    },
  } as unknown as AmoClient;
}

describe('findSentLeads', () => {
  test('one windowed read (no search) from the earliest send minus the margin to now plus the margin', async () => {
    const calls: Record<string, unknown>[] = [];
    const now = new Date(1_800_000_600_000);
    await findSentLeads(
      fakeClient([], calls),
      { mode: 'LEAD_CONTENT', resultFieldId: null },
      [target('a'), { ...target('b'), since: new Date(1_799_999_000_000) }],
      async () => new Set(),
      { now },
    );
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.from, Math.floor((1_799_999_000_000 - WINDOW_MARGIN_MS) / 1000));
    assert.equal(calls[0]!.to, Math.ceil((now.getTime() + WINDOW_MARGIN_MS) / 1000));
    assert.deepEqual(calls[0]!.with, ['contacts'], 'the window read, with the contacts (listLeads has no full-text search)');
  });

  test('two identical results get one lead each, oldest first; a lead another Delivery owns is never adopted', async () => {
    const found = await findSentLeads(
      fakeClient([lead(30), lead(10), lead(20)]),
      { mode: 'LEAD_CONTENT', resultFieldId: null },
      [target('a'), target('b'), target('c')],
      async (ids) => {
        assert.deepEqual(ids.sort(), [10, 20, 30]);
        return new Set([10]);
      },
    );
    assert.equal(found.get('a')?.id, 20);
    assert.equal(found.get('b')?.id, 30);
    assert.equal(found.has('c'), false, 'no lead left for the third: it is sent again');
  });

  test('nothing to confirm: no call at all', async () => {
    const calls: Record<string, unknown>[] = [];
    assert.equal((await findSentLeads(fakeClient([lead(1)], calls), { mode: 'RESULT_FIELD', resultFieldId: 9 }, [], async () => new Set())).size, 0);
    assert.equal(calls.length, 0);
  });
});

describe('ensureReconcileSetup', () => {
  /** The account row and a client whose field creation answers `create`. */
  function fakes(row: Record<string, unknown>, create: () => Promise<{ id: number }[]>, existing: { id: number; code: string }[] = []) {
    const writes: Record<string, unknown>[] = [];
    const db = {
      amoAccount: {
        findUnique: async () => ({ ...row }),
        update: async ({ data }: { data: Record<string, unknown> }) => {
          writes.push(data);
          Object.assign(row, data);
        },
      },
      $executeRaw: async (_s: TemplateStringsArray, id: number) => {
        if (row.resultFieldId == null) row.resultFieldId = id;
      },
      // the setup's first read of the account (plain SQL)
      $queryRaw: async () => [{ ...row }],
    };
    const client = { listCustomFields: async () => existing, createCustomFields: create } as unknown as AmoClient;
    return { services: { db: db as never, logger: createLogger({ level: 'silent' }) }, client, writes, row };
  }

  for (const [what, err, words] of [
    ['403 (no admin rights)', new AmoHttpError('forbidden', { status: 403 }), /403: the connected amoCRM user is not an administrator/],
    [
      'the field limit',
      new AmoValidationError('limit', [{ path: '', code: 'FieldsLimitExceeded', detail: 'Custom fields limit exceeded', requestId: null }]),
      /Custom fields limit exceeded/,
    ],
    ['404', new AmoNotFoundError('nope', { status: 404 }), /404/],
  ] as const) {
    test(`amoCRM refusing the field (${what}) → LEAD_CONTENT with the reason, re-checked only after a day`, async () => {
      let creates = 0;
      const f = fakes({ resultFieldId: null, reconcileMode: null, reconcileCheckedAt: null }, async () => {
        creates++;
        throw err;
      });
      assert.deepEqual(await ensureReconcileSetup(f.services, f.client, 'acc'), { mode: 'LEAD_CONTENT', resultFieldId: null });
      assert.match(String(f.row.reconcileNote), words);
      assert.deepEqual(await ensureReconcileSetup(f.services, f.client, 'acc'), { mode: 'LEAD_CONTENT', resultFieldId: null });
      assert.equal(creates, 1, 'not asked again within the day');
      f.row.reconcileCheckedAt = new Date(Date.now() - 25 * 60 * 60_000);
      await ensureReconcileSetup(f.services, f.client, 'acc');
      assert.equal(creates, 2, 'asked again after a day');
    });
  }

  test('a passing error (5xx) is thrown: the batch waits, the mode is not changed', async () => {
    const f = fakes({ resultFieldId: null, reconcileMode: null, reconcileCheckedAt: null }, async () => {
      throw new AmoServerError('502', { status: 502 });
    });
    await assert.rejects(ensureReconcileSetup(f.services, f.client, 'acc'), AmoServerError);
    assert.equal(f.row.reconcileMode, null);
  });

  test('a field with the code already in amoCRM is adopted, none created; a stored one is used as it is', async () => {
    const f = fakes({ resultFieldId: null, reconcileMode: null, reconcileCheckedAt: null }, async () => assert.fail('no field created'), [
      { id: 8, code: 'OTHER' },
      { id: 77, code: 'QUIZ_RESULT_ID' },
    ]);
    assert.deepEqual(await ensureReconcileSetup(f.services, f.client, 'acc'), { mode: 'RESULT_FIELD', resultFieldId: 77 });
    const g = fakes({ resultFieldId: 5, reconcileMode: 'RESULT_FIELD', reconcileCheckedAt: new Date() }, async () => assert.fail('no field created'));
    assert.deepEqual(await ensureReconcileSetup(g.services, { listCustomFields: async () => assert.fail('no list') } as unknown as AmoClient, 'acc'), {
      mode: 'RESULT_FIELD',
      resultFieldId: 5,
    });
  });
});

describe('repairLead', () => {
  const full: AmoComplexLeadInput = {
    name: 'L',
    pipeline_id: 1,
    status_id: 10,
    responsible_user_id: 7,
    custom_fields_values: [
      { field_id: 1, values: [{ value: 'a' }] },
      { field_id: 2, values: [{ value: 'b' }] },
      { field_id: 3, values: [{ value: 'c' }] },
    ],
    _embedded: {
      tags: [{ id: 4 }, { id: 5 }],
      contacts: [{ name: 'C', responsible_user_id: 7, custom_fields_values: [{ field_id: 20, values: [{ value: 'x' }] }] }],
      metadata: { category: 'forms', form_id: 'q' },
    },
  };
  const issue = (path: string, code = 'NotSupportedChoice', detail = 'The value you selected is not a valid choice.') => ({ path, code, detail, requestId: 'd' });

  test('refused field values and tags are taken out by index, the others kept; the original is untouched', () => {
    const r = repairLead(full, [
      issue('custom_fields_values.2.field_id'),
      issue('custom_fields_values.0.field_id'),
      issue('_embedded.tags.1.id'),
      issue('_embedded.contacts.0.custom_fields_values.0.field_id'),
    ])!;
    assert.deepEqual(r.lead.custom_fields_values, [{ field_id: 2, values: [{ value: 'b' }] }]);
    assert.deepEqual(r.lead._embedded?.tags, [{ id: 4 }]);
    assert.equal(r.lead._embedded?.contacts?.[0]?.custom_fields_values, undefined);
    assert.equal(r.warnings.length, 4);
    assert.equal(full.custom_fields_values!.length, 3);
  });

  test('the responsible user refused on lead and contact: taken out of both, one warning', () => {
    const r = repairLead(full, [
      issue('responsible_user_id', 'NotSupportedChoice', 'User is inactive'),
      issue('_embedded.contacts.0.responsible_user_id', 'NotSupportedChoice', 'User is inactive'),
    ])!;
    assert.equal(r.lead.responsible_user_id, undefined);
    assert.equal(r.lead._embedded?.contacts?.[0]?.responsible_user_id, undefined);
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0]!, /responsible user #7 refused by amoCRM \(User is inactive/);
  });

  test("Unsorted refused → straight to the rule's step; a pipeline refused → no pipeline and no step; a step or a required field → no step", () => {
    const unsorted = repairLead(full, [issue('_embedded.metadata')], { stepAmoId: 11 })!;
    assert.equal(unsorted.lead._embedded?.metadata, undefined);
    assert.equal(unsorted.lead.status_id, 11);
    const pipeline = repairLead(full, [issue('pipeline_id'), issue('status_id')])!;
    assert.equal(pipeline.lead.pipeline_id, undefined);
    assert.equal(pipeline.lead.status_id, undefined);
    assert.equal(pipeline.warnings.length, 1);
    const required = repairLead({ ...full, _embedded: {} }, [issue('custom_fields_values', 'FieldMissing', 'Field "X" (#9) is required in status "Y"')])!;
    assert.equal(required.lead.status_id, undefined);
    assert.equal(required.lead.pipeline_id, 1);
  });

  test('anything else, or a part that is not there (already taken out), cannot be repaired', () => {
    assert.equal(repairLead(full, [issue('name', 'InvalidType')]), null);
    assert.equal(repairLead(full, [issue('custom_fields_values.9.field_id')]), null);
    assert.equal(repairLead({ name: 'L', pipeline_id: 1 }, [issue('custom_fields_values', 'FieldMissing')]), null, 'no step left to take out');
    assert.equal(repairLead({ name: 'L' }, [issue('responsible_user_id')]), null);
    assert.equal(repairLead(full, []), null);
  });
});
