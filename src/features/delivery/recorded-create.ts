/**
 * Creating what a lead gets once it exists (its customer: customers.ts, its task: tasks.ts) exactly
 * once: the send is recorded before the POST (`<entity>_sent_at`, `sent_<entity>`), amoCRM's ids are
 * committed as soon as it answers, and a step found recorded without an id is first matched to what
 * amoCRM already has (the step's own reconcile) — only a miss comes here to be POSTed again. Every
 * write is fenced by the lease, one statement per chunk.
 */
import { Prisma } from '../../generated/prisma/client.ts';
import { AmoError, AmoValidationError } from '../../platform/amo/index.ts';
import type { AccountRun, Item } from './batch.ts';
import { inHalves } from './refusals.ts';

/** A step of one item: its amoCRM id once known, or why it was given up. */
export interface RecordedStep {
  item: Item;
  id: number | null;
  gaveUp?: string;
}

/** The columns of one kind of entity (fixed names, never input). */
const COLUMNS = {
  customer: { sentAt: 'customer_sent_at', sent: 'sent_customer', id: 'amo_customer_id' },
  task: { sentAt: 'task_sent_at', sent: 'sent_task', id: 'amo_task_id' },
} as const;

export interface RecordedCreate<S extends RecordedStep> {
  entity: keyof typeof COLUMNS;
  /** the body sent for a step (recorded as sent, then POSTed) */
  body(s: S): unknown;
  /** the POST of the bodies, amoCRM's answer in order */
  post(bodies: unknown[]): Promise<{ id: number; request_id?: string }[]>;
  /** the crash seam between amoCRM's answer and the ids' commit */
  afterPost?(deliveryIds: string[]): void | Promise<void>;
  /** a failed call: the step gives up, waits or pauses */
  failed(steps: S[], err: unknown): Promise<void>;
}

/** Still ours and not given up. */
export const liveStep = (run: AccountRun, s: RecordedStep) => run.lease.held.has(s.item.d.id) && !s.gaveUp;

/** One recorded POST for `chunk`: what is sent committed first, the ids right after the answer. */
export async function createRecorded<S extends RecordedStep>(run: AccountRun, chunk: S[], spec: RecordedCreate<S>): Promise<void> {
  await run.lease.renew();
  const mine = chunk.filter((s) => liveStep(run, s));
  if (mine.length === 0) return;
  const c = COLUMNS[spec.entity];
  const lease = run.lease.until.toISOString();
  const rows = mine.map((s) => ({ id: s.item.d.id, body: spec.body(s) }));
  const recorded = await run.rt.services.db.$queryRaw<{ id: string }[]>`
    UPDATE delivery d SET ${Prisma.raw(c.sentAt)} = coalesce(d.${Prisma.raw(c.sentAt)}, now()), ${Prisma.raw(c.sent)} = r.body, updated_at = now()
    FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS r(id uuid, body jsonb)
    WHERE d.id = r.id AND d.locked_until = ${lease}::timestamptz AND d.status = 'PENDING' AND d.stage = 'LEAD_CREATED' AND d.${Prisma.raw(c.id)} IS NULL
    RETURNING d.id`;
  const written = new Set(recorded.map((r) => r.id));
  const sending = run.lease.keepWritten(
    mine,
    mine.map((s) => (written.has(s.item.d.id) ? 1 : 0)),
    (s) => s.item.d.id,
  );
  if (sending.length === 0) return;
  let list: { id: number; request_id?: string }[];
  try {
    list = await spec.post(sending.map((s) => spec.body(s)));
  } catch (err) {
    if (err instanceof AmoValidationError && sending.length > 1) {
      // one refused entity rejects the request (nothing stored): halves until it is alone
      await inHalves(sending, (half) => createRecorded(run, half, spec));
      return;
    }
    await spec.failed(sending, err);
    return;
  }
  if (spec.afterPost) await spec.afterPost(sending.map((s) => s.item.d.id));
  const byRequest = new Map<string, number>();
  for (const e of list) if (e.request_id !== undefined) byRequest.set(e.request_id, e.id);
  const answered: S[] = [];
  const missing: S[] = [];
  const ids: { id: string; amo_id: number }[] = [];
  for (const [k, s] of sending.entries()) {
    const id = byRequest.get(s.item.d.id) ?? (byRequest.size === 0 && list.length === sending.length ? Number(list[k]?.id) : NaN);
    if (!Number.isFinite(id)) missing.push(s);
    else {
      answered.push(s);
      ids.push({ id: s.item.d.id, amo_id: id });
    }
  }
  if (ids.length) {
    const stored = await run.rt.services.db.$queryRaw<{ id: string; amo_id: bigint }[]>`
      UPDATE delivery d SET ${Prisma.raw(c.id)} = r.amo_id, updated_at = now()
      FROM jsonb_to_recordset(${JSON.stringify(ids)}::jsonb) AS r(id uuid, amo_id bigint)
      WHERE d.id = r.id AND d.locked_until = ${lease}::timestamptz AND d.status = 'PENDING'
      RETURNING d.id, r.amo_id`;
    const got = new Map(stored.map((r) => [r.id, Number(r.amo_id)]));
    // a row whose lease was lost is not written: it drops out (another process owns it now)
    for (const s of answered) {
      const id = got.get(s.item.d.id);
      if (id === undefined) run.lease.held.delete(s.item.d.id);
      else s.id = id;
    }
  }
  // amoCRM answered without them: they may exist; reconciled on the next pass
  if (missing.length) await spec.failed(missing, new AmoError(`amoCRM's answer did not list this ${spec.entity}`, { maybeProcessed: true }));
}
