/**
 * The rule's task for the lead's responsible user (`POST /api/v4/tasks`), once the lead exists
 * (LEAD_CREATED), after its customer and before its note. Exactly once, like the customer:
 * 1. `task_sent_at` (the first send) and `sent_task` (with its deadline) are committed before the POST;
 * 2. amoCRM's id is committed as soon as it answers (`amo_task_id`);
 * 3. a Delivery found with `task_sent_at` and no id reads the lead's tasks first
 *    (`GET /api/v4/tasks?filter[entity_type]=leads&filter[entity_id]…`) and adopts the one with the
 *    text and type it sent (not one another Delivery owns); only a miss is sent again, with the same
 *    deadline.
 * A task amoCRM refuses does not undo the lead: DELIVERED with a warning. 429/5xx/network: the
 * Delivery waits in LEAD_CREATED and this step resumes on the next pass.
 */
import { AmoRateLimitedError, AmoValidationError, type AmoTaskInput } from '../../platform/amo/index.ts';
import type { AccountRun, Item } from './batch.ts';
import { ruleExtras, taskResponsible, type TaskPlan } from './assign.ts';
import { taskDeadline } from './deadline.ts';
import { classify, describeIssues, errMessage, ownerError } from './reasons.ts';
import { createRecorded, liveStep } from './recorded-create.ts';

interface Step {
  item: Item;
  body: AmoTaskInput;
  sentAt: Date | null;
  id: number | null;
  gaveUp?: string;
}

const time = (at: Date) => at.toISOString().replace(/\.\d+Z$/, 'Z');
const waitText = (detail: string, nextAt: Date) => `The lead is in amoCRM; its task could not be created yet (${detail}); next try at ${time(nextAt)}.`;

/** The task as sent to amoCRM: the rule's text and type, due `deadlineMinutes` of working time from `now`. */
export function taskBody(plan: TaskPlan, leadId: number, responsible: number | null, requestId: string, now: Date): AmoTaskInput {
  return {
    text: plan.text,
    complete_till: Math.floor(taskDeadline(now, plan.deadlineMinutes, plan.hours).getTime() / 1000),
    task_type_id: plan.typeId,
    entity_type: 'leads',
    entity_id: leadId,
    ...(responsible !== null ? { responsible_user_id: responsible } : {}),
    request_id: requestId,
  };
}

/** Creates the tasks of `items` (leads that exist); returns the items ready for their note. */
export async function ensureTasks(run: AccountRun, items: Item[]): Promise<Item[]> {
  const ready: Item[] = [];
  const steps: Step[] = [];
  for (const item of items) {
    const extras = item.d.amoTaskId === null ? await ruleExtras(run, item.d.quizId) : null;
    const plan = extras?.task;
    const leadId = Number(item.leadId ?? item.d.amoLeadId ?? 0);
    if (!extras || !plan || !leadId) {
      ready.push(item);
      continue;
    }
    const body = (item.d.sentTask as AmoTaskInput | null) ?? taskBody(plan, leadId, taskResponsible(item, extras), item.d.id, new Date());
    steps.push({ item, body, sentAt: item.d.taskSentAt, id: null });
  }
  if (steps.length === 0) return ready;
  const size = Math.min(50, run.rt.options.batchSize);
  const unconfirmed = steps.filter((s) => s.sentAt !== null);
  for (let i = 0; i < unconfirmed.length; i += size) await reconcile(run, unconfirmed.slice(i, i + size));
  const toCreate = steps.filter((s) => live(run, s) && s.id === null);
  for (let i = 0; i < toCreate.length; i += size) await create(run, toCreate.slice(i, i + size));
  for (const s of steps) {
    if (!run.lease.held.has(s.item.d.id) || (s.id === null && !s.gaveUp)) continue;
    ready.push(s.gaveUp ? { ...s.item, warnings: [...(s.item.warnings ?? s.item.d.warnings), `task not created: ${s.gaveUp}`] } : s.item);
  }
  return ready;
}

const live = liveStep;

/** The leads' tasks, matched to the steps that may have reached amoCRM. */
async function reconcile(run: AccountRun, steps: Step[]): Promise<void> {
  try {
    await run.lease.renew();
    const mine = steps.filter((s) => live(run, s));
    if (mine.length === 0) return;
    const found = await run.client.listTasks(
      'leads',
      mine.map((s) => s.body.entity_id as number),
      { signal: run.rt.signal },
    );
    const ids = found.map((t) => t.id);
    const owned = ids.length
      ? await run.rt.services.db.delivery.findMany({
          where: { accountId: run.accountId, amoTaskId: { in: ids }, id: { notIn: mine.map((s) => s.item.d.id) } },
          select: { amoTaskId: true },
        })
      : [];
    const taken = new Set(owned.map((o) => Number(o.amoTaskId)));
    for (const s of mine) {
      const t = found.find((x) => !taken.has(x.id) && x.entity_id === s.body.entity_id && x.text === s.body.text && x.task_type_id === (s.body.task_type_id ?? 1));
      if (!t) continue;
      taken.add(t.id);
      run.log.info({ deliveryId: s.item.d.id, taskId: t.id }, 'reconciled: the task already exists in amoCRM');
      if (await run.lease.update(s.item.d.id, { amoTaskId: t.id }, false)) s.id = t.id;
    }
  } catch (err) {
    await failed(run, steps, err);
  }
}

/** One recorded `POST tasks` for `chunk` (recorded-create.ts). */
function create(run: AccountRun, chunk: Step[]): Promise<void> {
  return createRecorded(run, chunk, {
    entity: 'task',
    body: (s) => s.body,
    post: (bodies) => run.client.createTasks(bodies as AmoTaskInput[], { signal: run.rt.signal }),
    afterPost: run.rt.options.hooks.afterTask,
    failed: (steps, err) => failed(run, steps, err),
  });
}

/** A task call failed: a refusal or the last allowed attempt gives the task up; a stale or blocked account pauses; anything else waits. */
async function failed(run: AccountRun, steps: Step[], err: unknown): Promise<void> {
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
  run.log.warn({ accountId: run.accountId, n: items.length, err: errMessage(err), outcome }, 'tasks step failed');
  const wait: Step[] = [];
  let why: string | undefined;
  for (const s of items) {
    if (s.item.d.attempts + 1 >= run.rt.options.maxAttempts) s.gaveUp = `amoCRM did not take it after ${s.item.d.attempts + 1} attempts (${(why ??= ownerError(err, run.log))})`;
    else wait.push(s);
  }
  const reason = err instanceof AmoRateLimitedError ? 'RATE_LIMITED' : 'AMO_UNAVAILABLE';
  // stays LEAD_CREATED: the next pass reads the lead's tasks before sending again
  await run.reschedule(
    wait.map((s) => s.item),
    err,
    outcome === 'maybe' ? 'maybe' : 'retry',
    { attemptsSpent: true, reason, text: waitText },
  );
}
