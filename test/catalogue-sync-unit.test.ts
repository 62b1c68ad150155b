// syncCatalogue (src/features/catalogue/run.ts) over a fake amoCRM client whose lists answer in
// a shuffled order, and fake cache writers: the kinds are written one at a time in the sync's
// order (users, pipelines, each entity's tags, each entity's fields) with what amoCRM answered,
// never more than two lists are in flight, and a failed list aborts the lists in flight and
// writes none of the kinds after it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AmoEntity } from '../src/platform/amo/index.ts';
import type { Db } from '../src/platform/db.ts';
import { syncCatalogue, type CatalogueWriters } from '../src/features/catalogue/run.ts';
import { ALL_SYNC_SCOPES } from '../src/features/catalogue/index.ts';
import { prng } from './helpers/prng.ts';

const ENTITIES: AmoEntity[] = ['leads', 'contacts', 'companies', 'customers'];
const ORDER = [
  'users',
  'pipelines',
  // the long lists first (tags: many pages), so the lists in flight finish together on short ones
  ...['LEAD', 'CONTACT', 'COMPANY', 'CUSTOMER'].map((e) => `tags:${e}`),
  ...['LEAD', 'CONTACT', 'COMPANY', 'CUSTOMER'].map((e) => `fields:${e}`),
];

const turns = (n: number) => new Promise<void>((resolve) => (n <= 0 ? resolve() : setImmediate(() => void turns(n - 1).then(resolve))));

/**
 * A client whose every list answers after a random number of event-loop turns (or fails, when
 * `fails` names it), counting the lists in flight and what each call was asked.
 */
function fakeClient(seed: number, fails?: { list: string; error: Error }) {
  const random = prng(seed);
  let maxInFlight = 0;
  const calls: Array<{ list: string; whenOff?: string; signal?: AbortSignal }> = [];
  const open = new Set<{ list: string; signal?: AbortSignal }>();
  /** when the failing list failed: how many calls had been made, and the others then in flight */
  const atFailure = { calls: -1, inFlight: [] as Array<AbortSignal | undefined> };
  const answer = async <T>(list: string, rows: T[], options: { whenOff?: string; signal?: AbortSignal } = {}): Promise<T[]> => {
    const call = { list, whenOff: options.whenOff, signal: options.signal };
    calls.push(call);
    open.add(call);
    maxInFlight = Math.max(maxInFlight, open.size);
    try {
      await turns(1 + Math.floor(random() * 6));
      options.signal?.throwIfAborted();
      if (fails?.list === list) {
        atFailure.calls = calls.length;
        atFailure.inFlight = [...open].filter((c) => c !== call).map((c) => c.signal);
        throw fails.error;
      }
      return rows;
    } finally {
      open.delete(call);
    }
  };
  const n = (e: AmoEntity) => ENTITIES.indexOf(e) + 1;
  const client = {
    listUsers: (o?: { signal?: AbortSignal }) =>
      answer(
        'users',
        [
          { id: 1, name: 'Ann', email: null, rights: { is_admin: true } },
          { id: 2, name: 'Bob' },
        ] as never[],
        o,
      ),
    listPipelines: (o?: { signal?: AbortSignal }) =>
      answer('pipelines', [{ id: 10, name: 'Sales', sort: 1, is_main: true, _embedded: { statuses: [{ id: 142, name: 'Won', sort: 1, type: 0 }] } }] as never[], o),
    listCustomFields: (e: AmoEntity, o?: { whenOff?: string; signal?: AbortSignal }) =>
      answer(`fields:${e}`, Array.from({ length: n(e) }, (_, i) => ({ id: 100 * n(e) + i, name: `f${i}`, type: 'text', sort: i, enums: null })) as never[], o),
    listTags: (e: AmoEntity, o?: { whenOff?: string; signal?: AbortSignal }) =>
      answer(`tags:${e}`, Array.from({ length: 2 * n(e) }, (_, i) => ({ id: 1000 * n(e) + i, name: `t${i}`, color: null })) as never[], o),
  };
  return { client: client as unknown as Parameters<typeof syncCatalogue>[1], calls, atFailure, maxInFlight: () => maxInFlight };
}

/** Writers that log each kind with its rows' ids, one write at a time checked, each taking a few turns. */
function fakeWriters() {
  const written: Array<{ kind: string; ids: number[] }> = [];
  let writing = 0;
  let overlapped = false;
  const write = async (kind: string, ids: number[]) => {
    if (writing++ > 0) overlapped = true;
    await turns(2);
    written.push({ kind, ids });
    writing--;
  };
  const writers: CatalogueWriters = {
    writeUsers: async (_db, _a, rows) => (
      await write(
        'users',
        rows.map((r) => r.amoId),
      ),
      rows.length
    ),
    writePipelines: async (_db, _a, rows) => (
      await write(
        'pipelines',
        rows.map((r) => r.amoId),
      ),
      { pipelines: rows.length, steps: rows.reduce((s, p) => s + p.steps.length, 0) }
    ),
    writeFields: async (_db, _a, entities, rows) => (
      await write(
        `fields:${entities.join()}`,
        rows.map((r) => r.amoId),
      ),
      rows.length
    ),
    writeTags: async (_db, _a, entities, rows) => (
      await write(
        `tags:${entities.join()}`,
        rows.map((r) => r.amoId),
      ),
      rows.length
    ),
  };
  return { writers, written, overlapped: () => overlapped };
}

const services = { db: {} as Db };

describe('catalogue sync: syncCatalogue with a fake amoCRM', () => {
  test('every kind is written in the sync’s order with what amoCRM answered; two lists in flight at most', async () => {
    for (let seed = 1; seed <= 20; seed++) {
      const amo = fakeClient(seed);
      const w = fakeWriters();
      const counts = await syncCatalogue(services, amo.client, 'acc', ALL_SYNC_SCOPES, { writers: w.writers });
      assert.deepEqual(
        w.written.map((x) => x.kind),
        ORDER,
        `seed ${seed}`,
      );
      assert.deepEqual(w.written[0]!.ids, [1, 2]);
      assert.deepEqual(w.written.find((x) => x.kind === 'tags:COMPANY')!.ids, [3000, 3001, 3002, 3003, 3004, 3005]);
      assert.deepEqual(counts, { users: 2, pipelines: 1, steps: 1, fields: 1 + 2 + 3 + 4, tags: 2 + 4 + 6 + 8 });
      assert.equal(amo.maxInFlight(), 2, `seed ${seed}: two lists in flight, not more`);
      assert.equal(w.overlapped(), false, 'writes one at a time');
      // "feature off" is "none" for customers only (unchanged)
      assert.deepEqual(
        amo.calls.filter((c) => c.list.includes(':')).map((c) => `${c.list} ${c.whenOff}`),
        ENTITIES.map((e) => `tags:${e} ${e === 'customers' ? 'empty' : 'throw'}`).concat(ENTITIES.map((e) => `fields:${e} ${e === 'customers' ? 'empty' : 'throw'}`)),
      );
    }
  });

  test('a scope not asked for is neither fetched nor written', async () => {
    const amo = fakeClient(7);
    const w = fakeWriters();
    const counts = await syncCatalogue(services, amo.client, 'acc', ['TAGS', 'USERS'], { writers: w.writers });
    assert.deepEqual(
      w.written.map((x) => x.kind),
      ['users', 'tags:LEAD', 'tags:CONTACT', 'tags:COMPANY', 'tags:CUSTOMER'],
    );
    assert.deepEqual(amo.calls.map((c) => c.list).sort(), ['tags:companies', 'tags:contacts', 'tags:customers', 'tags:leads', 'users']);
    assert.equal(counts.fields, 0);
  });

  test('a failed list rejects the sync, aborts the list in flight and writes none of the kinds after it', async () => {
    let abortedSome = false;
    for (let seed = 1; seed <= 20; seed++) {
      const error = new Error('amoCRM answered 503 on page 3');
      const amo = fakeClient(seed, { list: 'tags:contacts', error });
      const w = fakeWriters();
      await assert.rejects(syncCatalogue(services, amo.client, 'acc', ALL_SYNC_SCOPES, { writers: w.writers }), (err) => err === error);
      const kinds = w.written.map((x) => x.kind);
      assert.deepEqual(kinds, ORDER.slice(0, kinds.length), `seed ${seed}: what was written is a prefix of the order`);
      assert.ok(kinds.length <= ORDER.indexOf('tags:CONTACT'), `seed ${seed}: nothing from the failed list on is written (${kinds.join()})`);
      assert.equal(amo.calls.length, amo.atFailure.calls, `seed ${seed}: no list starts after the failure`);
      assert.ok(
        amo.atFailure.inFlight.every((s) => s?.aborted),
        `seed ${seed}: the lists in flight are aborted`,
      );
      abortedSome ||= amo.atFailure.inFlight.length > 0;
    }
    assert.ok(abortedSome, 'some seed had a list in flight at the failure');
  });
});
