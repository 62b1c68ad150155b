// The merged-tags step (merged-tags.ts) with the delivery fakes (test/helpers/delivery-fakes.ts):
// a lead attached to an existing contact / company gets the rule's tags for it through one
// PATCH … tags_to_add per chunk (never _embedded.tags); a refusal or failure leaves the lead on its
// way with a warning naming the step; only a stale account pauses it.
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Delivery } from '../src/generated/prisma/client.ts';
import { AmoServerError, AmoStaleError, type AmoComplexLeadInput, type AmoTagsToAdd } from '../src/platform/amo/index.ts';
import type { Item } from '../src/features/delivery/batch.ts';
import type { PayloadContext } from '../src/features/delivery/payload-types.ts';
import { addMergedTags } from '../src/features/delivery/merged-tags.ts';
import { delivery, freeze, invalid, world } from './helpers/delivery-fakes.ts';

type Patch = { entity: string; body: AmoTagsToAdd[] };

/** A world whose client answers PATCH contacts / companies with `answer` (default: every id updated). */
function tagWorld(t: TestContext, rows: Delivery[], answer?: (p: Patch, call: number) => number[], options = {}) {
  freeze(t);
  const w = world(rows, options);
  const patches: Patch[] = [];
  Object.assign(w.client, {
    async addTagsTo(entity: string, body: AmoTagsToAdd[]) {
      const p = { entity, body: structuredClone(body) };
      patches.push(p);
      return answer ? answer(p, patches.length - 1) : body.map((u) => u.id);
    },
  });
  return { ...w, patches };
}

/** The item of a lead attached to `contact` (and `company`), built with the rule's tags for them. */
function attached(w: { items: (...ids: string[]) => Item[] }, id: string, o: { contact?: number; company?: number; contactTags?: unknown[]; companyTags?: unknown[] }): Item {
  const [item] = w.items(id);
  const lead = (merged: boolean): AmoComplexLeadInput => ({
    name: 'lead',
    request_id: id,
    _embedded: {
      ...(o.contact !== undefined ? { contacts: [merged ? { id: o.contact } : { name: 'Anna', _embedded: { tags: o.contactTags ?? [] } }] } : {}),
      ...(o.company !== undefined ? { companies: [merged ? { id: o.company } : { name: 'ООО Вектор', _embedded: { tags: o.companyTags ?? [] } }] } : {}),
    } as never,
  });
  return { ...item!, lead: lead(true), unmerged: lead(false), leadId: 100, warnings: [`attached to the existing contact #${o.contact}`] };
}

describe('tags for an existing contact / company (merged-tags.ts)', () => {
  test('one PATCH per entity kind with tags_to_add only; two leads on one contact: one entry, their tags once; a lead with a new contact sends nothing', async (t) => {
    const w = tagWorld(t, [delivery('a'), delivery('b'), delivery('c')]);
    const a = attached(w, 'a', { contact: 77, company: 55, contactTags: [{ id: 1 }, { name: 'B' }], companyTags: [{ name: 'клиент' }] });
    const b = attached(w, 'b', { contact: 77, contactTags: [{ name: 'b' }, { id: 2 }] });
    const [c] = w.items('c');
    const fresh: Item = { ...c!, lead: { name: 'x', request_id: 'c', _embedded: { contacts: [{ name: 'New', _embedded: { tags: [{ id: 1 }] } }] } } };
    const out = await addMergedTags(w.run, [a, b, fresh]);
    assert.deepEqual(w.patches, [
      { entity: 'contacts', body: [{ id: 77, tags_to_add: [{ id: 1 }, { name: 'B' }, { id: 2 }] }] },
      { entity: 'companies', body: [{ id: 55, tags_to_add: [{ name: 'клиент' }] }] },
    ]);
    assert.deepEqual(
      out.map((i) => [i.d.id, i.warnings]),
      [
        ['a', a.warnings],
        ['b', b.warnings],
        ['c', undefined],
      ],
    );
    assert.deepEqual(w.writes, [], 'nothing written: the lead goes on');
  });

  test('no rule tags for the entity: no PATCH', async (t) => {
    const w = tagWorld(t, [delivery('a')]);
    const out = await addMergedTags(w.run, [attached(w, 'a', { contact: 77, contactTags: [] })]);
    assert.deepEqual(w.patches, []);
    assert.equal(out.length, 1);
  });

  test('chunks of batchSize (at most 50) entities a PATCH', async (t) => {
    const w = tagWorld(t, [delivery('a'), delivery('b'), delivery('c')], undefined, { batchSize: 2 });
    const items = ['a', 'b', 'c'].map((id, k) => attached(w, id, { contact: 70 + k, contactTags: [{ id: 1 }] }));
    await addMergedTags(w.run, items);
    assert.deepEqual(
      w.patches.map((p) => p.body.map((u) => u.id)),
      [[70, 71], [72]],
    );
  });

  test('a refusal of several is halved; the refused contact’s lead goes on with a warning naming the step, the others get their tags', async (t) => {
    const w = tagWorld(t, [delivery('a'), delivery('b')], (p) => {
      if (p.body.some((u) => u.id === 72)) throw invalid({ path: 'id', code: 'NotFound', detail: 'Entity not found.', requestId: '0' });
      return p.body.map((u) => u.id);
    });
    const a = attached(w, 'a', { contact: 71, contactTags: [{ id: 1 }] });
    const b = attached(w, 'b', { contact: 72, contactTags: [{ id: 1 }] });
    const out = await addMergedTags(w.run, [a, b]);
    assert.deepEqual(
      w.patches.map((p) => p.body.map((u) => u.id)),
      [[71, 72], [71], [72]],
    );
    assert.deepEqual(out.find((i) => i.d.id === 'a')!.warnings, a.warnings);
    assert.deepEqual(out.find((i) => i.d.id === 'b')!.warnings, [
      ...b.warnings!,
      "the rule's contact tags were not added to the existing contact #72: amoCRM refused it (id: Entity not found. [NotFound])",
    ]);
    assert.deepEqual(w.writes, []);
  });

  test('a 5xx (after the client’s retries): the lead goes on with a warning, no attempt spent, not rescheduled', async (t) => {
    const w = tagWorld(t, [delivery('a')], () => {
      throw new AmoServerError('amoCRM answered 502', { status: 502 });
    });
    const out = await addMergedTags(w.run, [attached(w, 'a', { company: 55, companyTags: [{ id: 3 }] })]);
    assert.equal(out.length, 1);
    assert.match(out[0]!.warnings!.at(-1)!, /^the rule's company tags were not added to the existing company #55: amoCRM answered 502/);
    assert.deepEqual(w.writes, []);
  });

  test('a stale account pauses the lead (left out, rescheduled without spending an attempt)', async (t) => {
    const w = tagWorld(t, [delivery('a', { stage: 'LEAD_CREATED', attempts: 1 })], () => {
      throw new AmoStaleError('stale');
    });
    const out = await addMergedTags(w.run, [attached(w, 'a', { contact: 77, contactTags: [{ id: 1 }] })]);
    assert.deepEqual(out, []);
    const write = w.writes.find((x) => x.id === 'a')!;
    assert.equal(write.data.reason, 'RECONNECT_NEEDED');
    assert.equal(write.data.attempts, 1);
    assert.equal(w.row('a').stage, 'LEAD_CREATED');
  });

  test('a resumed pass (the lead as sent is recorded, nothing built this pass): the tags come from the rule again', async (t) => {
    const sentLead = { name: 'lead', request_id: 'a', _embedded: { contacts: [{ id: 77 }] } };
    const w = tagWorld(t, [delivery('a', { stage: 'LEAD_CREATED', amoLeadId: 100n, sentLead: sentLead as never })]);
    const ctx: PayloadContext = {
      rule: {
        quizId: 'q1',
        pipelineAmoId: 1,
        stepAmoId: 10,
        performerAmoId: null,
        toUnsorted: false,
        mergeDuplicates: true,
        mappings: [],
        tags: [{ entity: 'CONTACT', amoId: 4, name: 'A' }],
        tagNames: [{ entity: 'CONTACT', name: 'Б' }],
      },
      utms: [],
      fields: [],
      resultFieldId: null,
    };
    t.mock.method(w.run, 'context', async () => ctx);
    const out = await addMergedTags(w.run, w.items('a'));
    assert.deepEqual(w.patches, [{ entity: 'contacts', body: [{ id: 77, tags_to_add: [{ id: 4 }, { name: 'Б' }] }] }]);
    assert.equal(out.length, 1);
  });
});
