/**
 * The customer of a lead (amoCRM's "Покупатели"). leads/complex cannot create customers, so once
 * the lead exists (LEAD_CREATED) the customer built from the rule's CUSTOMER mappings and tags is
 * created with `POST customers` and linked to the lead's contact and the lead, before the note.
 *
 * Exactly once, like the lead (every write fenced by the lease):
 * 1. `customer_sent_at` (the first send) and `sent_customer` are committed before the POST;
 * 2. amoCRM's id is committed as soon as it answers (`amo_customer_id`);
 * 3. the link (harmless twice) is posted, then `customer_linked_at` committed;
 * 4. a Delivery found with `customer_sent_at` and no id is reconciled first: one windowed read of
 *    the customers created since, matched by name and every value sent, skipping the customers
 *    other Deliveries own; only a miss is sent again.
 * Customers off (402) or a customer amoCRM refuses: no customer, a warning, the customer answers
 * in the note; the lead is never lost for it. 429/5xx/network: the Delivery waits in
 * LEAD_CREATED and this step resumes on the next pass.
 */
import { AmoPaymentRequiredError, AmoRateLimitedError, AmoValidationError, type AmoCustomerInput, type AmoCustomerLink } from '../../platform/amo/index.ts';
import { amoIdOrNull } from '../../platform/amo-ids.ts';
import type { AccountRun, Item } from './batch.ts';
import { buildLead, type CustomerInput } from './payload.ts';
import { carriesValues, createdWindow } from './reconcile.ts';
import { classify, describeIssues, errMessage, ownerError } from './reasons.ts';
import { inHalves } from './refusals.ts';
import { createRecorded, liveStep } from './recorded-create.ts';

/** One item's customer as the step goes. */
interface Step {
  item: Item;
  input: CustomerInput;
  answers: string[];
  note: string | undefined;
  id: number | null;
  sentAt: Date | null;
  linked: boolean;
  /** why there is no customer (it goes to the warnings and the note) */
  gaveUp?: string;
}

const time = (at: Date) => at.toISOString().replace(/\.\d+Z$/, 'Z');
const waitText = (detail: string, nextAt: Date) => `The lead is in amoCRM; its customer could not be created or linked yet (${detail}); next try at ${time(nextAt)}.`;

/**
 * Creates and links the customers of `items` (leads that exist) and returns the items ready for
 * their note, the note completed with the customer part. Items that must wait are rescheduled
 * (or lost to another lease) and left out.
 */
export async function ensureCustomers(run: AccountRun, items: Item[]): Promise<Item[]> {
  const ready: Item[] = [];
  const steps: Step[] = [];
  for (const item of items) {
    const step = await prepare(run, item);
    if (step) steps.push(step);
    else ready.push(item);
  }
  if (steps.length === 0) return ready;

  const size = run.rt.options.batchSize;
  const unconfirmed = steps.filter((s) => s.id === null && s.sentAt !== null);
  for (let i = 0; i < unconfirmed.length; i += size) await reconcile(run, unconfirmed.slice(i, i + size));
  const toCreate = steps.filter((s) => live(run, s) && s.id === null);
  for (let i = 0; i < toCreate.length; i += size) await create(run, toCreate.slice(i, i + size));
  const toLink = steps.filter((s) => live(run, s) && s.id !== null && !s.linked);
  for (let i = 0; i < toLink.length; i += size) await link(run, toLink.slice(i, i + size));

  for (const s of steps) if (run.lease.held.has(s.item.d.id) && (s.linked || s.gaveUp)) ready.push(finished(s));
  return ready;
}

/** Still ours and not waiting (a rescheduled or lost item has left the lease). */
const live = liveStep;

/** The item's customer step, or null when it has no customer. */
async function prepare(run: AccountRun, item: Item): Promise<Step | null> {
  const d = item.d;
  let input = (d.sentCustomer as CustomerInput | null) ?? item.customer ?? null;
  let answers = item.customerAnswers ?? [];
  let note = item.note;
  if (item.customer === undefined) {
    const ctx = await run.context(d.quizId);
    if (ctx) {
      const built = buildLead(item.result, ctx, { requestId: d.id, now: d.createdAt });
      input ??= built.customer;
      answers = built.customerAnswers;
      note ??= built.note;
    }
  }
  if (!input) return null;
  return { item, input, answers, note, id: amoIdOrNull(d.amoCustomerId), sentAt: d.customerSentAt, linked: d.customerLinkedAt !== null };
}

function finished(s: Step): Item {
  const lines = s.gaveUp ? [`Customer (not created: ${s.gaveUp}):`, ...s.answers] : [`Customer: amoCRM customer #${s.id}`];
  const warnings = [...(s.item.warnings ?? s.item.d.warnings)];
  if (s.gaveUp) warnings.push(`customer not created: ${s.gaveUp}; the customer answers are in the note`);
  return { ...s.item, note: s.note !== undefined ? `${s.note}\n\n${lines.join('\n')}` : undefined, warnings };
}

/** Customers created since the first send, matched to the steps that have no id yet. */
async function reconcile(run: AccountRun, steps: Step[]): Promise<void> {
  try {
    await run.lease.renew();
    const mine = steps.filter((s) => live(run, s));
    if (mine.length === 0) return;
    const found = await run.client.listCustomers(createdWindow(mine.map((s) => s.sentAt as Date)), { signal: run.rt.signal });
    const ids = found.map((c) => c.id);
    const owned = ids.length
      ? await run.rt.services.db.delivery.findMany({
          where: { accountId: run.accountId, amoCustomerId: { in: ids }, id: { notIn: mine.map((s) => s.item.d.id) } },
          select: { amoCustomerId: true },
        })
      : [];
    const taken = new Set(owned.map((o) => amoIdOrNull(o.amoCustomerId)));
    const candidates = found.filter((c) => !taken.has(c.id)).sort((a, b) => a.id - b.id);
    for (const s of mine) {
      const sent = (s.item.d.sentCustomer as CustomerInput | null) ?? s.input;
      const c = candidates.find((x) => !taken.has(x.id) && x.name === sent.name && carriesValues(sent.custom_fields_values ?? [], x));
      if (!c) continue;
      taken.add(c.id);
      run.log.info({ deliveryId: s.item.d.id, customerId: c.id }, 'reconciled: the customer already exists in amoCRM');
      if (await run.lease.update(s.item.d.id, { amoCustomerId: c.id }, false)) s.id = c.id;
    }
  } catch (err) {
    await failed(run, steps, err);
  }
}

/** One recorded `POST customers` for `chunk` (recorded-create.ts). */
function create(run: AccountRun, chunk: Step[]): Promise<void> {
  return createRecorded(run, chunk, {
    entity: 'customer',
    body: (s): AmoCustomerInput => ({ ...s.input, request_id: s.item.d.id }),
    post: (bodies) => run.client.createCustomers(bodies as AmoCustomerInput[], { signal: run.rt.signal }),
    afterPost: run.rt.options.hooks.afterCustomer,
    failed: (steps, err) => failed(run, steps, err),
  });
}

/** One `POST customers/link` for `chunk`: each customer to the lead's contact and the lead. */
async function link(run: AccountRun, chunk: Step[]): Promise<void> {
  await run.lease.renew();
  const mine = chunk.filter((s) => live(run, s));
  if (mine.length === 0) return;
  const body = mine.flatMap((s): AmoCustomerLink[] => {
    const contactId = s.item.contactId !== undefined ? s.item.contactId : amoIdOrNull(s.item.d.amoContactId);
    const leadId = s.item.leadId ?? amoIdOrNull(s.item.d.amoLeadId);
    return [
      ...(contactId ? [{ entity_id: s.id as number, to_entity_id: contactId, to_entity_type: 'contacts' as const }] : []),
      ...(leadId ? [{ entity_id: s.id as number, to_entity_id: leadId, to_entity_type: 'leads' as const }] : []),
    ];
  });
  try {
    // linking twice is a no-op in amoCRM: safe to retry
    await run.client.linkCustomers(body, { signal: run.rt.signal });
  } catch (err) {
    if (err instanceof AmoValidationError && mine.length > 1) {
      await inHalves(mine, (half) => link(run, half));
      return;
    }
    if (err instanceof AmoValidationError || err instanceof AmoPaymentRequiredError) {
      // the customer exists: a link amoCRM refuses (e.g. the contact was deleted) is given up
      const why = linkWhy(run, err);
      for (const s of mine) {
        s.item = { ...s.item, warnings: [...(s.item.warnings ?? s.item.d.warnings), `customer #${s.id} not linked to the lead's contact: ${why}`] };
        if (await run.lease.update(s.item.d.id, { customerLinkedAt: new Date() }, false)) s.linked = true;
      }
      return;
    }
    await failed(run, mine, err);
    return;
  }
  for (const s of mine) if (await run.lease.update(s.item.d.id, { customerLinkedAt: new Date() }, false)) s.linked = true;
}

const linkWhy = (run: AccountRun, err: unknown) => (err instanceof AmoValidationError && err.errors.length ? describeIssues(err.errors) : ownerError(err, run.log));

/**
 * A customer call failed: 402 or a refusal gives the customer up (the lead is delivered without
 * it), so does the last allowed attempt; a stale or blocked account pauses; anything else waits.
 */
async function failed(run: AccountRun, steps: Step[], err: unknown): Promise<void> {
  if (err instanceof AmoPaymentRequiredError) {
    for (const s of steps) s.gaveUp = 'customers are not available in this amoCRM account (402)';
    return;
  }
  if (err instanceof AmoValidationError) {
    for (const s of steps) s.gaveUp = `amoCRM refused it (${err.errors.length ? describeIssues(err.errors) : (err.detail ?? err.message)})`;
    return;
  }
  const outcome = classify(err, run.rt.signal);
  const items = steps.filter((s) => run.lease.held.has(s.item.d.id));
  if (outcome === 'paused') {
    await run.reschedule(
      items.map((s) => s.item),
      err,
      'paused',
      { attemptsSpent: false },
    );
    return;
  }
  run.log.warn({ accountId: run.accountId, n: items.length, err: errMessage(err), outcome }, 'customers step failed');
  const wait: Step[] = [];
  let why: string | undefined; // one error id for the whole call
  for (const s of items) {
    if (s.item.d.attempts + 1 >= run.rt.options.maxAttempts) s.gaveUp = `amoCRM did not take it after ${s.item.d.attempts + 1} attempts (${(why ??= ownerError(err, run.log))})`;
    else wait.push(s);
  }
  const reason = err instanceof AmoRateLimitedError ? 'RATE_LIMITED' : 'AMO_UNAVAILABLE';
  // stays LEAD_CREATED: the next pass reconciles a customer that may exist before sending it again
  await run.reschedule(
    wait.map((s) => s.item),
    err,
    outcome === 'maybe' ? 'maybe' : 'retry',
    { attemptsSpent: true, reason, text: waitText },
  );
}
