/**
 * The rule's contact and company tags for an existing contact / company the lead was attached to
 * (duplicates.ts sends such a lead with only `{id}`, so leads/complex adds no tag to it). Once the
 * lead exists, one `PATCH /api/v4/{contacts|companies}` per chunk of up to 50 adds them with
 * `tags_to_add`: the tags the entity has stay. Adding a tag it has already is a no-op, so a pass
 * resumed after a crash simply sends it again: no bookkeeping of what was sent.
 *
 * Best effort, like the duplicate search: a refusal or a failure (after the client's retries)
 * never holds back or fails the lead — it goes on to its customer, task and note, and is DELIVERED
 * with a warning naming this step. Only a stale or blocked account pauses it (in LEAD_CREATED).
 */
import { AmoValidationError, MAX_TAG_UPDATES, type AmoComplexLeadInput, type AmoTagRef } from '../../platform/amo/index.ts';
import type { AccountRun, Item } from './batch.ts';
import { buildLead } from './payload.ts';
import { classify, describeIssues, errMessage, ownerError } from './reasons.ts';
import { inHalves } from './refusals.ts';

type Kind = 'contacts' | 'companies';
const WORD: Record<Kind, string> = { contacts: 'contact', companies: 'company' };

/** One existing entity, the rule's tags for it, and the items (leads) that asked for them. */
interface Update {
  kind: Kind;
  id: number;
  tags: AmoTagRef[];
  items: Item[];
}

const tagKey = (t: AmoTagRef) => ('id' in t ? `#${t.id}` : `n:${t.name.trim().toLowerCase()}`);

/** The lead as sent (this pass's, or the one recorded when the pass is resumed). */
const sentLeadOf = (item: Item) => item.lead ?? (item.d.sentLead as AmoComplexLeadInput | null) ?? undefined;

/** The rule's tags of the entity as built before it was attached (rebuilt from the rule on a resumed pass). */
async function ruleTagsOf(run: AccountRun, item: Item, kind: Kind): Promise<AmoTagRef[]> {
  let built = item.unmerged;
  if (!built) {
    const ctx = await run.context(item.d.quizId);
    if (!ctx) return [];
    built = buildLead(item.result, ctx, { now: item.d.createdAt }).lead;
  }
  const entity = built._embedded?.[kind]?.[0] as { _embedded?: { tags?: AmoTagRef[] } } | undefined;
  return entity?._embedded?.tags ?? [];
}

/**
 * Adds the rule's tags to the existing contacts and companies of `items` (leads that exist) and
 * returns the items to go on with (all but those paused), with a warning where it did not work.
 */
export async function addMergedTags(run: AccountRun, items: Item[]): Promise<Item[]> {
  const updates = new Map<string, Update>();
  for (const item of items) {
    const sent = sentLeadOf(item);
    for (const kind of ['contacts', 'companies'] as const) {
      const id = (sent?._embedded?.[kind]?.[0] as { id?: number } | undefined)?.id;
      if (id === undefined || !Number.isFinite(Number(id))) continue;
      const tags = await ruleTagsOf(run, item, kind);
      if (tags.length === 0) continue;
      // two results attached to the same entity: one entry, their tags together
      const key = `${kind}:${id}`;
      const u = updates.get(key) ?? { kind, id: Number(id), tags: [], items: [] };
      for (const t of tags) if (!u.tags.some((x) => tagKey(x) === tagKey(t))) u.tags.push(t);
      u.items.push(item);
      updates.set(key, u);
    }
  }
  if (updates.size === 0) return items;
  const warnings = new Map<string, string[]>();
  const paused = new Set<string>();
  const size = Math.min(MAX_TAG_UPDATES, run.rt.options.batchSize);
  for (const kind of ['contacts', 'companies'] as const) {
    const list = [...updates.values()].filter((u) => u.kind === kind);
    for (let i = 0; i < list.length; i += size) await patch(run, list.slice(i, i + size), warnings, paused);
  }
  return items
    .filter((item) => !paused.has(item.d.id))
    .map((item) => {
      const had = item.warnings ?? item.d.warnings;
      const more = (warnings.get(item.d.id) ?? []).filter((w) => !had.includes(w));
      return more.length ? { ...item, warnings: [...had, ...more] } : item;
    });
}

/** One PATCH for `chunk`; a refusal of several is halved until it names the entity amoCRM refuses. */
async function patch(run: AccountRun, chunk: Update[], warnings: Map<string, string[]>, paused: Set<string>): Promise<void> {
  await run.lease.renew();
  const mine = chunk.map((u) => ({ ...u, items: u.items.filter((i) => run.lease.held.has(i.d.id) && !paused.has(i.d.id)) })).filter((u) => u.items.length > 0);
  const first = mine[0];
  if (!first) return;
  try {
    await run.client.addTagsTo(
      first.kind,
      mine.map((u) => ({ id: u.id, tags_to_add: u.tags })),
      { signal: run.rt.signal },
    );
  } catch (err) {
    if (err instanceof AmoValidationError && mine.length > 1) {
      await inHalves(mine, (half) => patch(run, half, warnings, paused));
      return;
    }
    if (classify(err, run.rt.signal) === 'paused') {
      const items = [...new Map(mine.flatMap((u) => u.items).map((i) => [i.d.id, i])).values()];
      for (const i of items) paused.add(i.d.id);
      await run.reschedule(items, err, 'paused', { attemptsSpent: false });
      return;
    }
    run.log.warn({ accountId: run.accountId, kind: first.kind, n: mine.length, err: errMessage(err) }, 'tags not added to existing contacts / companies');
    const why = err instanceof AmoValidationError && err.errors.length ? `amoCRM refused it (${describeIssues(err.errors)})` : ownerError(err, run.log);
    const word = WORD[first.kind];
    for (const u of mine) {
      const text = `the rule's ${word} tags were not added to the existing ${word} #${u.id}: ${why}`;
      for (const i of u.items) warnings.set(i.d.id, [...(warnings.get(i.d.id) ?? []), text]);
    }
  }
}
