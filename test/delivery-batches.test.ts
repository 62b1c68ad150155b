// Batches: notes posted in one leads/notes call per batch of leads (and what a deleted lead, a 502,
// a timeout or a crash does to it), and claims that take each account's oldest due results.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { acceptResult } from '../src/features/delivery/accept.ts';
import { claimDueDeliveries, runDeliveryPass, type DeliveryHooks } from '../src/features/delivery/worker.ts';
import { noteMarker } from '../src/features/delivery/payload.ts';
import { at } from './helpers/narrow.ts';
import { createRule, type DeliveryAccount, expireLeases, simpleResult } from './helpers/delivery.ts';
import { deliverySuite } from './helpers/delivery-suite.ts';
import { until } from './helpers/wait.ts';

const suite = deliverySuite({ sim: { rateLimitCountsRejected: true } });
const { runtime, drain, setup } = suite;

describe('notes in batches', () => {
  const calls = (amoId: number) => {
    const log = suite.sim.requestLog(amoId);
    // a 429 is refused before amoCRM does anything (the client waits and sends it again): not counted
    const of = (method: string, re: RegExp) => log.filter((r) => r.method === method && r.status !== 429 && re.test(r.path.split('?')[0]!)).map((r) => r.status);
    return {
      complex: of('POST', /^\/api\/v4\/leads\/complex$/),
      batchNotes: of('POST', /^\/api\/v4\/leads\/notes$/),
      leadNotes: of('POST', /^\/api\/v4\/leads\/\d+\/notes$/),
      readNotes: of('GET', /^\/api\/v4\/leads\/\d+\/notes$/),
    };
  };

  /** Every lead of the account has exactly one note, and it names its result. */
  const oneNoteEach = (amoId: number, expectedLeads: number) => {
    const leads = suite.sim.leads(amoId).filter((l) => !l.is_deleted);
    assert.equal(leads.length, expectedLeads);
    for (const l of leads) {
      assert.equal(l.notes.length, 1, `lead ${l.id}: ${l.notes.length} notes`);
      const rid = (l.custom_fields_values ?? [])
        .flatMap((v) => v.values.map((x) => String(x.value)))
        .find((v) => v.startsWith('nb-'))
        ?.split('@')[0]; // the field holds the tenant's marker <result id>@<hash>; the note names the result id
      assert.ok(rid && String(l.notes[0]!.params.text).split('\n').includes(noteMarker(rid)), "the note carries its result's marker");
    }
  };

  async function withResults(n: number, prefix: string) {
    const s = await setup();
    await createRule(suite.tdb.db, s.cat, s.accountId, { quizId: 'quiz-1', pipelineAmoId: s.pipeline, statusAmoId: s.firstStatus });
    const ds = [];
    for (let i = 0; i < n; i++) ds.push(await acceptResult(suite.services, s.quizAccountId, simpleResult(`nb-${prefix}-${i}`)));
    return { s, ds };
  }

  test('one leads/notes call per batch of leads, no note call per lead', async () => {
    const { s } = await withResults(5, 'one');
    await drain(runtime(), s.quizAccountId);
    oneNoteEach(s.amoId, 5);
    assert.deepEqual(calls(s.amoId), { complex: [200], batchNotes: [200], leadNotes: [], readNotes: [] });

    // smaller batches: notes follow the lead batches
    const small = await withResults(5, 'small');
    await drain(runtime({}, { batchSize: 2 }), small.s.quizAccountId);
    oneNoteEach(small.s.amoId, 5);
    assert.deepEqual(calls(small.s.amoId), { complex: [200, 200, 200], batchNotes: [200, 200, 200], leadNotes: [], readNotes: [] });
    const rows = await suite.tdb.db.delivery.findMany({ where: { quizAccountId: small.s.quizAccountId } });
    assert.ok(rows.every((r) => r.status === 'DELIVERED' && r.stage === 'DONE' && r.attempts === 1 && r.warnings.length === 0));
  });

  test('a lead deleted before its note: the others get theirs, that one is DELIVERED with a warning', async () => {
    const { s, ds } = await withResults(3, 'del');
    let fired = false;
    const hooks: DeliveryHooks = {
      async afterLeadCreated() {
        if (fired) return;
        fired = true;
        const row = await suite.tdb.db.delivery.findUniqueOrThrow({ where: { id: at(ds, 1).id } });
        await suite.sim.deleteLead(s.amoId, Number(row.amoLeadId));
      },
    };
    await drain(runtime(hooks), s.quizAccountId);
    const rows = new Map((await suite.tdb.db.delivery.findMany({ where: { quizAccountId: s.quizAccountId } })).map((r) => [r.id, r]));
    assert.ok([...rows.values()].every((r) => r.status === 'DELIVERED' && r.stage === 'DONE'));
    const warned = rows.get(at(ds, 1).id)!;
    assert.ok(
      warned.warnings.some((w) => /^note not added: amoCRM rejected the note: entity_id: .*\[NotFound\]/.test(w)),
      warned.warnings.join('\n'),
    );
    for (const d of [at(ds, 0), at(ds, 2)]) assert.ok(!rows.get(d.id)!.warnings.some((w) => /note/.test(w)));
    oneNoteEach(s.amoId, 2);
    assert.equal(suite.sim.leads(s.amoId).find((l) => l.id === Number(warned.amoLeadId))?.notes.length, 0);
    // the whole request was refused once, then sent again without the deleted lead
    assert.deepEqual(calls(s.amoId), { complex: [200], batchNotes: [400, 200], leadNotes: [], readNotes: [] });
  });

  test('a 502 on leads/notes: back to LEAD_CREATED, the marker is checked, one note each', async () => {
    const { s, ds } = await withResults(3, '502');
    suite.sim.injectFault(s.amoId, { kind: '5xx', status: 502, count: 1, path: 'leads/notes' });
    const rt = runtime();
    await runDeliveryPass(rt);
    const mid = await suite.tdb.db.delivery.findMany({ where: { quizAccountId: s.quizAccountId } });
    assert.ok(
      mid.every((r) => r.status === 'PENDING' && r.stage === 'LEAD_CREATED' && r.amoLeadId && /502/.test(r.lastError ?? '')),
      JSON.stringify(mid.map((r) => [r.stage, r.lastError])),
    );
    await drain(rt, s.quizAccountId);
    oneNoteEach(s.amoId, 3);
    const c = calls(s.amoId);
    // the three come back on their own (jittered) retry times: one or more batches
    assert.equal(c.batchNotes[0], 502);
    assert.ok(c.batchNotes.length >= 2 && c.batchNotes.slice(1).every((x) => x === 200), c.batchNotes.join());
    assert.equal(c.readNotes.length, 3, "each lead's notes read before posting again");
    assert.deepEqual(c.leadNotes, []);
    const rows = await suite.tdb.db.delivery.findMany({ where: { id: { in: ds.map((d) => d.id) } } });
    assert.ok(rows.every((r) => r.status === 'DELIVERED' && r.warnings.length === 0));
  });

  test('a leads/notes call that times out after amoCRM stored the notes: none added twice', async () => {
    const { s } = await withResults(1, 'warm');
    const rt = runtime({}, { amoClient: { backoffMs: 20, timeoutMs: 400 } });
    await drain(rt, s.quizAccountId); // the result-id field exists before the fault is armed
    suite.sim.clearRequestLog(s.amoId);
    suite.sim.injectFault(s.amoId, { kind: 'slow', delayMs: 1000, count: 1, path: 'leads/notes' });
    for (let i = 0; i < 3; i++) await acceptResult(suite.services, s.quizAccountId, simpleResult(`nb-slow-${i}`));
    await runDeliveryPass(rt);
    const mid = await suite.tdb.db.delivery.findMany({ where: { quizAccountId: s.quizAccountId, status: 'PENDING' } });
    assert.equal(mid.length, 3);
    assert.ok(
      mid.every(
        (r) => r.stage === 'LEAD_CREATED' && r.reason === 'ADDING_NOTE' && /note with the answers could not be added yet \(amoCRM did not answer in time/.test(r.lastError ?? ''),
      ),
    );
    // amoCRM finishes the request the client gave up on: the three leads get their notes
    await until('amoCRM stored the slow notes', async () => suite.sim.leads(s.amoId).filter((l) => !l.is_deleted && l.notes.length > 0).length === 4);
    await drain(rt, s.quizAccountId);
    oneNoteEach(s.amoId, 4);
    const c = calls(s.amoId);
    assert.equal(c.batchNotes.length, 1, 'no second post');
    assert.equal(c.readNotes.length, 3);
  });

  test('a crash at afterNote in the middle of a batch: the rest are found with their note, none added twice', async () => {
    const { s, ds } = await withResults(3, 'crash');
    let n = 0;
    const crashing = runtime({
      afterNote() {
        if (++n === 2) throw new Error('simulated crash at afterNote');
      },
    });
    await assert.rejects(runDeliveryPass(crashing), /simulated crash/);
    const mid = await suite.tdb.db.delivery.findMany({ where: { id: { in: ds.map((d) => d.id) } } });
    assert.equal(mid.filter((r) => r.status === 'DELIVERED').length, 1, 'the first one was committed before the crash');
    assert.equal(mid.filter((r) => r.status === 'PENDING' && r.stage === 'LEAD_CREATED').length, 2);
    await expireLeases(suite.tdb.db);
    await drain(runtime(), s.quizAccountId);
    oneNoteEach(s.amoId, 3);
    assert.deepEqual(calls(s.amoId), { complex: [200], batchNotes: [200], leadNotes: [], readNotes: [200, 200] });
  });
});

describe('claiming per account', () => {
  /** `accounts` accounts with `perAccount` due results each, interleaved oldest first: a0-0, a1-0, a2-0, a0-1, … */
  async function interleaved(accounts: number, perAccount: number, prefix: string) {
    const setups: DeliveryAccount[] = [];
    for (let k = 0; k < accounts; k++) {
      const s = await setup();
      await createRule(suite.tdb.db, s.cat, s.accountId, { quizId: 'quiz-1', pipelineAmoId: s.pipeline, statusAmoId: s.firstStatus });
      setups.push(s);
    }
    const ids: string[][] = setups.map(() => []);
    for (let i = 0; i < perAccount; i++) {
      for (let k = 0; k < accounts; k++) ids[k]!.push((await acceptResult(suite.services, setups[k]!.quizAccountId, simpleResult(`${prefix}-${k}-${i}`))).id);
    }
    // due an hour ago, one millisecond apart in the interleaved order: older than anything else here
    await suite.tdb.db.$executeRaw`
      UPDATE delivery SET next_attempt_at = now() - interval '1 hour'
        + ((split_part(result_id, '-', 3)::int * ${accounts} + split_part(result_id, '-', 2)::int) * interval '1 millisecond')
      WHERE quiz_account_id = ANY(${setups.map((s) => s.quizAccountId)}::text[])`;
    return { setups, ids };
  }

  const complexCalls = (amoId: number) =>
    suite.sim
      .requestLog(amoId)
      .filter((r) => r.method === 'POST' && r.status === 200 && r.path.split('?')[0] === '/api/v4/leads/complex')
      .map((r) => (r.body as unknown[]).length);
  const batchNoteCalls = (amoId: number) =>
    suite.sim.requestLog(amoId).filter((r) => r.method === 'POST' && r.status === 200 && r.path.split('?')[0] === '/api/v4/leads/notes').length;

  test("3 accounts × 60 results interleaved: one claim takes each account's 50 oldest", async () => {
    const { setups, ids } = await interleaved(3, 60, 'pc');
    const batches = await claimDueDeliveries(suite.services, { accounts: 3, batchSize: 50, leaseMs: 20_000 });
    try {
      assert.deepEqual(
        batches.map((b) => b.accountId),
        setups.map((s) => s.accountId),
        'the three accounts, oldest due first',
      );
      for (const [k, b] of batches.entries()) {
        assert.deepEqual(
          b.deliveries.map((d) => d.id),
          at(ids, k, 'account').slice(0, 50),
          `account ${k}: its 50 oldest, oldest first`,
        );
        assert.ok(b.deliveries.every((d) => d.accountId === b.accountId && d.lockedUntil?.getTime() === b.lease.getTime()));
      }
      // all leased: a second claim meanwhile gets only the rest, still per account
      const rest = await claimDueDeliveries(suite.services, { accounts: 3, batchSize: 50, leaseMs: 20_000 });
      try {
        assert.deepEqual(
          rest.map((b) => [b.accountId, b.deliveries.map((d) => d.id)]),
          setups.map((s, k) => [s.accountId, ids[k]!.slice(50)]),
        );
      } finally {
        await suite.tdb.db.delivery.updateMany({ where: { id: { in: rest.flatMap((b) => b.deliveries.map((d) => d.id)) } }, data: { lockedUntil: null } });
      }
    } finally {
      await suite.tdb.db.delivery.updateMany({ where: { id: { in: batches.flatMap((b) => b.deliveries.map((d) => d.id)) } }, data: { lockedUntil: null } });
    }
    const limited = await claimDueDeliveries(suite.services, { accounts: 2, batchSize: 50, leaseMs: 20_000 });
    await suite.tdb.db.delivery.updateMany({ where: { id: { in: limited.flatMap((b) => b.deliveries.map((d) => d.id)) } }, data: { lockedUntil: null } });
    assert.deepEqual(
      limited.map((b) => [b.accountId, b.deliveries.length]),
      [
        [at(setups, 0).accountId, 50],
        [at(setups, 1).accountId, 50],
      ],
      'at most `accounts` accounts',
    );
  });

  test('3 accounts × 60 results interleaved: one pass sends one full leads/complex batch and one notes call per account', async () => {
    const { setups } = await interleaved(3, 60, 'pp');
    const rt = runtime();
    await runDeliveryPass(rt);
    for (const s of setups) {
      assert.deepEqual(complexCalls(s.amoId), [50], 'one leads/complex call of 50 leads');
      assert.equal(batchNoteCalls(s.amoId), 1);
      assert.equal(await suite.tdb.db.delivery.count({ where: { quizAccountId: s.quizAccountId, status: 'DELIVERED' } }), 50);
    }
    for (const s of setups) await drain(rt, s.quizAccountId);
    for (const s of setups) {
      assert.deepEqual(complexCalls(s.amoId), [50, 10]);
      assert.equal(batchNoteCalls(s.amoId), 2);
      assert.equal(suite.sim.leads(s.amoId).length, 60);
      assert.ok(suite.sim.leads(s.amoId).every((l) => l.notes.length === 1));
    }
  });
});
