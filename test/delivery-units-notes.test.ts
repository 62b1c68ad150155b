// The notes branch of one account's batch (AccountRun.run) with small fakes
// (test/helpers/delivery-fakes.ts) and mock time: one leads/notes call per batch, what each amoCRM
// answer to it leaves written and published. leads/complex: delivery-units-send.test.ts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AmoNotFoundError, AmoServerError } from '../src/platform/amo/index.ts';
import { created, delivered, delivery, invalid, iso, LEAD, NOW, noted, runOf } from './helpers/delivery-fakes.ts';

describe('notes', () => {
  /** leads that exist (found in LEAD_CREATED at claim time: their notes are read first) */
  const leads = (...ids: string[]) => ids.map((id) => delivery(id, { stage: 'LEAD_CREATED', amoLeadId: LEAD[id] as unknown as bigint, reason: 'ADDING_NOTE', attempts: 1 }));

  test('a batch answer listing every note: DONE, DELIVERED; a note already there is not posted again', async (t) => {
    const w = await runOf(t, leads('a', 'b', 'c'), {
      leadNotes: (leadId) => (leadId === LEAD.b ? [{ params: { text: 'Quiz q1\nQuiz result ID: r-b\n…' } }] : [{ params: { text: 'Quiz result ID: r-bb' } }]),
      notes: noted,
    });
    assert.deepEqual(w.notes, [['a', 'c']]);
    assert.deepEqual(
      (w.calls.find((c) => c.path === 'notes leads')!.body as { entity_id: number }[]).map((n) => n.entity_id),
      [LEAD.a, LEAD.c],
    );
    for (const id of ['a', 'b', 'c']) delivered(w, id);
    assert.deepEqual(w.writes.find((x) => x.id === 'a')!.data, {
      stage: 'DONE',
      status: 'DELIVERED',
      reason: null,
      deliveredAt: new Date(NOW),
      lastError: null,
      lockedUntil: null,
    });
    assert.deepEqual(w.events(), [
      ['b', 'DELIVERED'],
      ['a', 'DELIVERED'],
      ['c', 'DELIVERED'],
    ]);
  });

  test('a refusal naming one note: that one DELIVERED with a warning, the others posted again', async (t) => {
    const w = await runOf(t, leads('a', 'b', 'c'), {
      notes: (body, call) => {
        if (call === 0) throw invalid({ path: 'params.text', code: 'InvalidType', detail: 'too long', requestId: 'b' });
        return noted(body);
      },
    });
    assert.deepEqual(w.notes, [
      ['a', 'b', 'c'],
      ['a', 'c'],
    ]);
    for (const id of ['a', 'b', 'c']) delivered(w, id);
    assert.deepEqual(w.row('b').warnings, ['note not added: amoCRM rejected the note: params.text: too long [InvalidType]']);
    assert.deepEqual(w.row('a').warnings, []);
  });

  test('404 on a batch of several splits it; 404 on a single note (the lead deleted) → DELIVERED with a warning', async (t) => {
    const w = await runOf(t, leads('a', 'b', 'c'), {
      notes: (body) => {
        if (body.length > 1 || body[0]!.request_id === 'b') throw new AmoNotFoundError('Not found', { status: 404 });
        return noted(body);
      },
    });
    assert.deepEqual(w.notes, [['a', 'b', 'c'], ['a', 'b'], ['a'], ['b'], ['c']]);
    for (const id of ['a', 'b', 'c']) delivered(w, id);
    assert.deepEqual(w.row('b').warnings, ['note not added: Not found']);
    assert.deepEqual(w.row('c').warnings, []);
  });

  test('a 5xx: back to wait with ADDING_NOTE, the lead kept (LEAD_CREATED), an attempt spent; nothing published (same reason)', async (t) => {
    const w = await runOf(t, leads('a'), {
      notes: () => {
        throw new AmoServerError('amoCRM answered 503', { status: 503 });
      },
    });
    assert.deepEqual(w.writes.find((x) => x.id === 'a')!.data, {
      reason: 'ADDING_NOTE',
      lastError: `The lead is in amoCRM; its note with the answers could not be added yet (amoCRM answered 503); next try at ${iso(NOW + 10_000)}.`,
      attempts: 2,
      nextAttemptAt: new Date(NOW + 10_000),
      lockedUntil: null,
    });
    const r = w.row('a');
    assert.deepEqual([r.stage, r.status, r.amoLeadId], ['LEAD_CREATED', 'PENDING', LEAD.a]);
    assert.deepEqual(w.events(), []);
  });

  test('a 5xx on the note of a lead just created: LEAD_CREATED with its id, ADDING_NOTE published', async (t) => {
    const w = await runOf(t, [delivery('a')], {
      complex: created,
      notes: () => {
        throw new AmoServerError('amoCRM answered 503', { status: 503 });
      },
    });
    const r = w.row('a');
    assert.deepEqual([r.stage, r.status, r.reason, r.amoLeadId, r.attempts], ['LEAD_CREATED', 'PENDING', 'ADDING_NOTE', LEAD.a, 1]);
    assert.deepEqual(w.events(), [['a', 'PENDING']]);
  });

  test('the last allowed attempt: DELIVERED with a "note not added after N attempts" warning, earlier warnings kept', async (t) => {
    const rows = leads('a', 'b').map((d) => ({ ...d, attempts: d.id === 'a' ? 4 : 3, warnings: ['an earlier warning'] }));
    const w = await runOf(
      t,
      rows,
      {
        notes: () => {
          throw new AmoServerError('amoCRM answered 502', { status: 502 });
        },
      },
      { maxAttempts: 5 },
    );
    const a = w.row('a');
    assert.deepEqual([a.stage, a.status, a.reason, a.lastError], ['DONE', 'DELIVERED', null, null]);
    assert.deepEqual(a.warnings, ['an earlier warning', 'note not added after 5 attempts: amoCRM answered 502']);
    const b = w.row('b');
    assert.deepEqual([b.stage, b.status, b.reason, b.attempts], ['LEAD_CREATED', 'PENDING', 'ADDING_NOTE', 4]);
    assert.deepEqual(w.events(), [['a', 'DELIVERED']]);
  });
});
