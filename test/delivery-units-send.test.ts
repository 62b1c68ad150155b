// The leads/complex branch of one account's batch (AccountRun.run) with small fakes
// (test/helpers/delivery-fakes.ts) and mock time: what each amoCRM answer leaves written and
// published. The notes branch: delivery-units-notes.test.ts; classify, reschedule and the lease:
// delivery-units.test.ts. No PostgreSQL, no simulator.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AmoNetworkError, AmoServerError, AmoUnauthorizedError } from '../src/platform/amo/index.ts';
import { created, delivered, delivery, freeze, invalid, iso, NOW, noted, PERFORMER, RESULT_FIELD, runOf, world } from './helpers/delivery-fakes.ts';

describe('send: leads/complex', () => {
  test('the lead sent: result id first, the rule, the Delivery id as request_id; SENDING committed before the call', async (t) => {
    const w = await runOf(t, [delivery('a')], { complex: created, notes: noted });
    assert.deepEqual(w.sending[0]!.lead, {
      name: 'Quiz q1: Anna a',
      pipeline_id: 1,
      status_id: 10,
      responsible_user_id: PERFORMER,
      custom_fields_values: [{ field_id: RESULT_FIELD, values: [{ value: 'r-a' }] }],
      request_id: 'a',
      _embedded: { contacts: [{ name: 'Anna a', responsible_user_id: PERFORMER }] },
    });
    delivered(w, 'a');
    assert.equal(w.row('a').attempts, 1);
    assert.equal(w.row('a').amoContactId, 900);
    assert.deepEqual(w.events(), [['a', 'DELIVERED']]);
  });

  for (const [what, err, detail] of [
    ['a 5xx', new AmoServerError('502', { status: 502, maybeProcessed: true }), 'amoCRM answered 502'],
    ['a timeout', new AmoNetworkError('timeout', { maybeProcessed: true }), 'amoCRM did not answer in time or the connection broke'],
  ] as const) {
    test(`${what} on leads/complex (maybe processed): stays SENDING, CONFIRMING, reconciled after reconcileDelayMs`, async (t) => {
      const w = await runOf(t, [delivery('a'), delivery('b', { attempts: 2 })], {
        complex: () => {
          throw err;
        },
      });
      assert.deepEqual(w.complex, [['a', 'b']]);
      assert.deepEqual(w.writes.find((x) => x.id === 'a')!.data, {
        stage: 'SENDING',
        reason: 'CONFIRMING',
        lastError: `amoCRM may have received the lead (${detail}); it is checked in amoCRM before anything is sent again, at ${iso(NOW + 30_000)}.`,
        attempts: 1,
        nextAttemptAt: new Date(NOW + 30_000),
        lockedUntil: null,
      });
      assert.equal(w.row('b').attempts, 3);
      assert.equal(w.row('b').stage, 'SENDING');
      assert.equal(w.row('b').status, 'PENDING');
      assert.deepEqual(w.notes, []);
      assert.deepEqual(w.events(), [
        ['a', 'PENDING'],
        ['b', 'PENDING'],
      ]);
    });
  }

  test('a not-processed error (connection refused) goes back to QUEUED, AMO_UNAVAILABLE, the attempt spent', async (t) => {
    const w = await runOf(t, [delivery('a')], {
      complex: () => {
        throw new AmoNetworkError('ECONNREFUSED');
      },
    });
    assert.deepEqual(w.writes.find((x) => x.id === 'a')!.data, {
      stage: 'QUEUED',
      reason: 'AMO_UNAVAILABLE',
      lastError: `amoCRM did not take the lead (amoCRM did not answer in time or the connection broke); next try at ${iso(NOW + 5_000)}.`,
      attempts: 1,
      nextAttemptAt: new Date(NOW + 5_000),
      lockedUntil: null,
    });
  });

  test('stale tokens on leads/complex: back to QUEUED with the attempt given back, RECONNECT_NEEDED', async (t) => {
    const w = await runOf(t, [delivery('a', { attempts: 2 })], {
      complex: () => {
        throw new AmoUnauthorizedError('401');
      },
    });
    assert.deepEqual(
      w.sending.map((s) => s.id),
      ['a'],
    );
    const r = w.row('a');
    assert.deepEqual([r.stage, r.reason, r.attempts, r.nextAttemptAt.getTime()], ['QUEUED', 'RECONNECT_NEEDED', 2, NOW]);
  });

  test('an answer listing only some leads: those go on to their note, the missing one stays SENDING (maybe)', async (t) => {
    const w = await runOf(t, [delivery('a'), delivery('b'), delivery('c')], { complex: (body) => created(body).filter((r) => r.request_id[0] !== 'b'), notes: noted });
    delivered(w, 'a');
    delivered(w, 'c');
    const b = w.row('b');
    assert.deepEqual([b.stage, b.status, b.reason, b.attempts, b.amoLeadId, b.nextAttemptAt.getTime()], ['SENDING', 'PENDING', 'CONFIRMING', 1, null, NOW + 30_000]);
    assert.equal(
      b.lastError,
      `amoCRM may have received the lead (amoCRM's answer did not list this lead); it is checked in amoCRM before anything is sent again, at ${iso(NOW + 30_000)}.`,
    );
    assert.deepEqual(w.notes, [['a', 'c']]);
    assert.deepEqual(w.events(), [
      ['b', 'PENDING'],
      ['a', 'DELIVERED'],
      ['c', 'DELIVERED'],
    ]);
  });

  test('an answer without request_id but one entry per lead is read in order', async (t) => {
    const w = await runOf(t, [delivery('a'), delivery('b')], { complex: (body) => created(body).map((r) => ({ ...r, request_id: null })), notes: noted });
    delivered(w, 'a');
    delivered(w, 'b');
  });

  test('a refusal naming one lead by request_id, repairable: that lead goes again without the part, the others again too, every attempt given back', async (t) => {
    const w = await runOf(t, [delivery('a'), delivery('b'), delivery('c')], {
      complex: (body, call) => {
        if (call === 0) throw invalid({ path: 'responsible_user_id', code: 'NotSupportedChoice', detail: 'User is inactive', requestId: 'b' });
        return created(body);
      },
      notes: noted,
    });
    assert.deepEqual(w.complex, [
      ['a', 'b', 'c'],
      ['a', 'b', 'c'],
    ]);
    const rollbacks = w.writes.filter((x) => x.data.stage === 'QUEUED');
    assert.deepEqual(
      rollbacks,
      ['a', 'b', 'c'].map((id) => ({ id, data: { stage: 'QUEUED', attempts: 0 } })),
    );
    const again = w.sending.slice(3);
    assert.equal(again.find((s) => s.id === 'b')!.lead.responsible_user_id, undefined);
    assert.equal(again.find((s) => s.id === 'b')!.lead._embedded?.contacts?.[0]?.responsible_user_id, undefined);
    assert.equal(again.find((s) => s.id === 'a')!.lead.responsible_user_id, PERFORMER, 'the others are sent as they were');
    const warning = `responsible user #${PERFORMER} refused by amoCRM (User is inactive [NotSupportedChoice]): amoCRM assigned its default user`;
    for (const id of ['a', 'b', 'c']) delivered(w, id);
    assert.deepEqual(
      ['a', 'b', 'c'].map((id) => w.row(id).attempts),
      [1, 1, 1],
    );
    assert.deepEqual(w.row('b').warnings, [warning]);
    assert.deepEqual(w.row('a').warnings, []);
    const bNote = (w.calls.find((c) => c.path === 'notes leads')!.body as { request_id: string; params: { text: string } }[]).find((n) => n.request_id === 'b')!;
    assert.ok(bNote.params.text.endsWith(`\n\nChanged to fit amoCRM:\n- ${warning}`), bNote.params.text);
  });

  test("a refusal naming one lead that cannot be repaired: FAILED AMO_REJECTED with amoCRM's words; the others sent again", async (t) => {
    const w = await runOf(t, [delivery('a'), delivery('b'), delivery('c')], {
      complex: (body, call) => {
        if (call === 0) throw invalid({ path: 'name', code: 'InvalidType', detail: 'Bad name', requestId: 'b' });
        return created(body);
      },
      notes: noted,
    });
    assert.deepEqual(w.complex, [
      ['a', 'b', 'c'],
      ['a', 'c'],
    ]);
    assert.deepEqual(w.writes.find((x) => x.id === 'b')!.data, {
      status: 'FAILED',
      reason: 'AMO_REJECTED',
      lastError: "Not delivered: amoCRM refused the lead (name: Bad name [InvalidType]). Fix the quiz's rule or the account, then retry.",
      stage: 'QUEUED',
      warnings: [],
      lockedUntil: null,
    });
    delivered(w, 'a');
    delivered(w, 'c');
    assert.deepEqual(
      ['a', 'c'].map((id) => w.row(id).attempts),
      [1, 1],
    );
    assert.deepEqual(w.events(), [
      ['b', 'FAILED'],
      ['a', 'DELIVERED'],
      ['c', 'DELIVERED'],
    ]);
  });

  test('a refusal naming no lead in a batch of 4 halves: two calls of 2, then singles, no attempt spent by the halving', async (t) => {
    const w = await runOf(
      t,
      ['a', 'b', 'c', 'd'].map((id) => delivery(id)),
      {
        complex: (body) => {
          if (body.length > 1) throw invalid({ path: '', code: 'BadRequest', detail: 'something is wrong' });
          return created(body);
        },
        notes: noted,
      },
    );
    assert.deepEqual(w.complex, [['a', 'b', 'c', 'd'], ['a', 'b'], ['a'], ['b'], ['c', 'd'], ['c'], ['d']]);
    assert.equal(w.sending.length, 12);
    for (const id of ['a', 'b', 'c', 'd']) delivered(w, id);
    assert.deepEqual(
      ['a', 'b', 'c', 'd'].map((id) => w.row(id).attempts),
      [1, 1, 1, 1],
    );
    assert.deepEqual(w.notes, [['a', 'b', 'c', 'd']]);
  });

  test('a single lead refused without naming it and without a repairable part: FAILED with the issue', async (t) => {
    const w = await runOf(t, [delivery('a')], {
      complex: () => {
        throw invalid({ path: '', code: 'BadRequest', detail: 'something is wrong' });
      },
    });
    assert.equal(w.row('a').status, 'FAILED');
    assert.equal(w.row('a').lastError, "Not delivered: amoCRM refused the lead ((lead): something is wrong [BadRequest]). Fix the quiz's rule or the account, then retry.");
  });

  test('the result-id field deleted in amoCRM: forgotten on the account, every lead QUEUED again without spending an attempt', async (t) => {
    const w = await runOf(t, [delivery('a', { attempts: 1 }), delivery('b', { attempts: 1 })], {
      complex: () => {
        throw invalid({ path: 'custom_fields_values.0.field_id', code: 'NotSupportedChoice', detail: 'no such field', requestId: 'a' });
      },
    });
    assert.deepEqual(w.accountWrites, [{ resultFieldId: null, reconcileMode: null }]);
    for (const id of ['a', 'b']) {
      const r = w.row(id);
      assert.deepEqual([r.stage, r.status, r.reason, r.attempts, r.nextAttemptAt.getTime()], ['QUEUED', 'PENDING', 'QUEUED', 1, NOW + 5_000]);
    }
    assert.deepEqual(w.events(), []);
  });

  test('a row another process took before the send is left out of it and never written', async (t) => {
    freeze(t);
    const rows = [delivery('a'), delivery('b')];
    const w = world(rows, {}, { complex: created, notes: noted });
    w.steal('b');
    await w.run.run(rows);
    assert.deepEqual(
      w.sending.map((s) => s.id),
      ['a'],
    );
    assert.deepEqual(
      w.writes.filter((x) => x.id === 'b'),
      [],
    );
    assert.equal(w.row('b').stage, 'QUEUED');
    assert.deepEqual(w.events(), [['a', 'DELIVERED']]);
  });
});
