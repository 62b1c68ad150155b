/**
 * The notes of leads that exist: one note per lead with every answer, up to 50 per
 * `POST /api/v4/leads/notes`. A lead found in LEAD_CREATED at claim time may already have its
 * note (a crash after the note, before DONE): its notes are read for the marker line first.
 * A note amoCRM refuses does not undo the lead: DELIVERED with a warning.
 */
import { AmoError, AmoNotFoundError, AmoValidationError, MAX_BATCH_NOTES, type AmoBatchNoteInput, type AmoNoteCreated, type AmoValidationIssue } from '../../platform/amo/index.ts';
import type { AccountRun, Item } from './batch.ts';
import { classify, describeIssues, errMessage, ownerError } from './reasons.ts';
import { inHalves } from './refusals.ts';
import { buildLead, buildNote, noteMarker } from './payload.ts';

/**
 * The notes of `items` (leads that exist): those found in LEAD_CREATED at claim time are
 * checked for the marker first (one lead at a time: the rare crash-recovery path), then the
 * notes still missing go out in batches of `POST /api/v4/leads/notes`. Each Delivery is
 * committed DONE right after its note is known to be in (`afterNote` in between).
 */
export async function addNotes(run: AccountRun, items: Item[]): Promise<void> {
  const toPost: Item[] = [];
  for (const item of items) {
    const ready = await prepareNote(run, item);
    if (ready) toPost.push(ready);
  }
  const size = Math.min(MAX_BATCH_NOTES, run.rt.options.batchSize);
  for (let i = 0; i < toPost.length; i += size) await postNotes(run, toPost.slice(i, i + size));
}

/** The item with its note text, or null when it needs no post (already there, failed, lease lost). */
async function prepareNote(run: AccountRun, item: Item): Promise<Item | null> {
  let note = item.note;
  let present = false;
  try {
    if (note === undefined) {
      const ctx = await run.context(item.d.quizId);
      note = ctx ? buildLead(item.result, ctx, { now: item.d.createdAt }).note : buildNote(item.result, { problems: [], now: item.d.createdAt });
    }
    if (item.checkNote) {
      await run.lease.renew();
      if (!run.lease.held.has(item.d.id)) return null;
      const marker = noteMarker(item.result.resultId);
      const notes = await run.client.listLeadNotes(item.leadId as number, { signal: run.rt.signal });
      present = notes.some((n) => typeof n.params?.text === 'string' && n.params.text.split('\n').includes(marker));
    }
  } catch (err) {
    await notesFailed(run, [item], err);
    return null;
  }
  if (present) {
    await noteIn(run, item);
    return null;
  }
  return { ...item, note };
}

/** One `POST /api/v4/leads/notes` for `chunk` (whole request rejected on a validation error). */
async function postNotes(run: AccountRun, chunk: Item[]): Promise<void> {
  if (chunk.length === 0) return;
  let mine: Item[] = chunk;
  let answer: AmoNoteCreated[];
  try {
    await run.lease.renew();
    mine = chunk.filter((i) => run.lease.held.has(i.d.id));
    if (mine.length === 0) return;
    const body: AmoBatchNoteInput[] = mine.map((i) => ({ entity_id: i.leadId as number, note_type: 'common', params: { text: i.note as string }, request_id: i.d.id }));
    answer = await run.client.addNotesBatch('leads', body, { signal: run.rt.signal });
  } catch (err) {
    if (err instanceof AmoValidationError) return onNoteValidation(run, mine, err);
    if (err instanceof AmoNotFoundError && mine.length > 1) return splitNotes(run, mine);
    return notesFailed(run, mine, err);
  }
  const byRequest = new Map<string, AmoNoteCreated>();
  for (const n of answer) if (n.request_id !== undefined) byRequest.set(n.request_id, n);
  const added: Item[] = [];
  const missing: Item[] = [];
  mine.forEach((item, k) => {
    // by request_id; an answer without them is read in order (amoCRM keeps the request's order)
    const n = byRequest.get(item.d.id) ?? (byRequest.size === 0 && answer.length === mine.length ? answer[k] : undefined);
    if (n && Number.isFinite(n.id) && (byRequest.has(item.d.id) || n.entity_id === item.leadId)) added.push(item);
    else missing.push(item);
  });
  // the afterNote seam runs between each note and its DONE; without it, DONE is one statement for all
  if (run.rt.options.hooks.afterNote) for (const item of added) await noteIn(run, item);
  else await finishAll(run, added);
  if (missing.length) {
    // the note may be there or not: the next pass reads the lead's notes before posting again
    run.log.warn({ accountId: run.accountId, n: missing.length }, 'leads/notes answer did not list every note');
    await run.reschedule(missing, new AmoError("amoCRM's answer did not list this note"), 'retry', { attemptsSpent: true, reason: 'ADDING_NOTE' });
  }
}

/** amoCRM refused the batch: the notes it names are given up (their leads stay), the rest go again. */
async function onNoteValidation(run: AccountRun, chunk: Item[], err: AmoValidationError): Promise<void> {
  const ids = new Set(chunk.map((i) => i.d.id));
  const named = new Map<string, AmoValidationIssue[]>();
  for (const e of err.errors) {
    if (e.requestId !== null && ids.has(e.requestId)) named.set(e.requestId, [...(named.get(e.requestId) ?? []), e]);
  }
  if (named.size > 0) {
    for (const item of chunk.filter((i) => named.has(i.d.id))) {
      await run.finish(item, [...(item.warnings ?? item.d.warnings), `note not added: amoCRM rejected the note: ${describeIssues(named.get(item.d.id) ?? [])}`]);
    }
    // nothing of the request was stored: the others go again
    return postNotes(
      run,
      chunk.filter((i) => !named.has(i.d.id)),
    );
  }
  if (chunk.length === 1) return notesFailed(run, chunk, err);
  return splitNotes(run, chunk);
}

/** amoCRM refused the batch without saying which note: halves until it does. */
async function splitNotes(run: AccountRun, chunk: Item[]): Promise<void> {
  await inHalves(chunk, (half) => postNotes(run, half));
}

/** Notes that could not be added (checked or posted): given up, paused or retried. */
async function notesFailed(run: AccountRun, items: Item[], err: unknown): Promise<void> {
  if (err instanceof AmoValidationError || err instanceof AmoNotFoundError) {
    // the lead is in amoCRM: a note it refuses does not undo that
    const why = ownerError(err, run.log);
    for (const item of items) await run.finish(item, [...(item.warnings ?? item.d.warnings), `note not added: ${why}`]);
    return;
  }
  const outcome = classify(err, run.rt.signal);
  if (outcome === 'paused') {
    await run.reschedule(items, err, 'paused', { attemptsSpent: false });
    return;
  }
  run.log.warn({ accountId: run.accountId, n: items.length, err: errMessage(err), outcome }, 'notes not added');
  const retry: Item[] = [];
  let why: string | undefined; // one error id for the whole call
  for (const item of items) {
    const attempts = item.d.attempts + 1;
    if (attempts >= run.rt.options.maxAttempts) {
      await run.finish(item, [...(item.warnings ?? item.d.warnings), `note not added after ${attempts} attempts: ${(why ??= ownerError(err, run.log))}`]);
    } else retry.push(item);
  }
  // stays LEAD_CREATED: the next pass reads the lead's notes before posting (no second note)
  await run.reschedule(retry, err, 'retry', { attemptsSpent: true, reason: 'ADDING_NOTE' });
}

/** The note is in amoCRM: DONE. */
async function noteIn(run: AccountRun, item: Item): Promise<void> {
  if (run.rt.options.hooks.afterNote) await run.rt.options.hooks.afterNote(item.d.id);
  await run.finish(item, item.warnings);
}

/** `finish` for many items: one fenced statement (each item's own warnings, when it has them) and one publish. */
export async function finishAll(run: AccountRun, items: Item[]): Promise<void> {
  const mine = items.filter((i) => run.lease.held.has(i.d.id));
  if (mine.length === 0) return;
  const rows = mine.map((i) => ({ id: i.d.id, warnings: i.warnings ?? null }));
  const done = await run.rt.services.db.$queryRaw<{ id: string }[]>`
    UPDATE delivery d SET stage = 'DONE', status = 'DELIVERED', reason = NULL, last_error = NULL, delivered_at = ${new Date().toISOString()}::timestamptz,
      warnings = coalesce(r.warnings, d.warnings), locked_until = NULL, updated_at = now()
    FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS r(id uuid, warnings text[])
    WHERE d.id = r.id AND d.locked_until = ${run.lease.until.toISOString()}::timestamptz AND d.status = 'PENDING'
    RETURNING d.id`;
  for (const i of mine) run.lease.held.delete(i.d.id);
  const delivered = new Set(done.map((r) => r.id));
  await run.rt.services.events.deliveriesUpdated(
    mine.filter((i) => delivered.has(i.d.id)).map((i) => ({ id: i.d.id, quizAccountId: i.d.quizAccountId, quizId: i.d.quizId, status: 'DELIVERED' as const })),
  );
}
