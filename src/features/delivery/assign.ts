/**
 * Who gets a lead (and its task): the rule's performer, or one of its chosen users in turn
 * (ROUND_ROBIN) or at random (UNIFORM). Users deactivated or deleted in amoCRM are skipped at
 * delivery; when none is left the lead goes to amoCRM's default user with a warning.
 *
 * A chosen user (ROUND_ROBIN, UNIFORM) is recorded on the Delivery (`assigned_user_amo_id`) before the lead is sent, so a
 * retried or recovered delivery keeps its user. Round-robin takes its position from a counter on
 * the rule, bumped in the same statement that records the user (only when none is recorded yet):
 * fair across processes and replicas, never advanced twice by one delivery.
 */
import { randomInt } from 'node:crypto';
import type { AssignmentMode } from '../../generated/prisma/enums.ts';
import type { AccountRun, Item } from './batch.ts';
import { DEFAULT_TIMEZONE, type WorkingHours } from './deadline.ts';
import type { RuleRow } from './rule-row.ts';

export interface Candidate {
  amoId: number;
  /** active in amoCRM and not deleted there */
  usable: boolean;
}

export interface TaskPlan {
  text: string;
  typeId: number;
  deadlineMinutes: number;
  hours: WorkingHours | null;
}

/** What the delivery needs of a rule beyond the lead's payload: the assignment and the task. */
export interface RuleExtras {
  ruleId: string;
  mode: AssignmentMode;
  performer: Candidate | null;
  /** the rule's chosen users, in the rule's order (missing ones left out) */
  users: Candidate[];
  task: TaskPlan | null;
}

/** The users a delivery may be given now: usable ones only. */
export function usableCandidates(r: Pick<RuleExtras, 'mode' | 'performer' | 'users'>): number[] {
  const list = r.mode === 'PERFORMER' ? (r.performer ? [r.performer] : []) : r.users;
  return list.filter((c) => c.usable).map((c) => c.amoId);
}

/** ROUND_ROBIN: the `counter`-th turn (1-based) among `candidates`; UNIFORM: `random(n)`. */
export function chooseUser(mode: AssignmentMode, candidates: number[], counter: number, random: (n: number) => number = randomInt): number | null {
  if (candidates.length === 0) return null;
  if (mode === 'ROUND_ROBIN') return candidates[(((counter - 1) % candidates.length) + candidates.length) % candidates.length] ?? null;
  if (mode === 'UNIFORM') return candidates[random(candidates.length)] ?? null;
  return candidates[0] ?? null;
}

export function noUserWarning(r: Pick<RuleExtras, 'mode' | 'performer' | 'users'>): string | null {
  if (r.mode === 'PERFORMER') return r.performer ? "responsible user: the rule's performer is deactivated or deleted in amoCRM; amoCRM's default user got the lead" : null;
  return r.users.length
    ? "responsible user: none of the rule's chosen users is active in amoCRM; amoCRM's default user got the lead"
    : "responsible user: the rule chooses among no users; amoCRM's default user got the lead";
}

/** The assignment and task of a rule, from its row (rule-row.ts). */
export function ruleExtrasOf(rule: RuleRow): RuleExtras {
  const byId = new Map(rule.assignees.map((u) => [u.id, u]));
  // Number(): amoCRM ids fit in a double whichever integer type the column has
  const cand = (u: { amoId: number | bigint; isActive: boolean; deleted: boolean }): Candidate => ({ amoId: Number(u.amoId), usable: u.isActive && !u.deleted });
  return {
    ruleId: rule.id,
    mode: rule.assignmentMode,
    performer: rule.performerAmoId !== null ? cand({ amoId: rule.performerAmoId, isActive: rule.performerActive === true, deleted: rule.performerDeleted === true }) : null,
    users: rule.assigneeIds.flatMap((id) => {
      const u = byId.get(id);
      return u ? [cand(u)] : [];
    }),
    task:
      rule.taskEnabled && rule.taskText
        ? {
            text: rule.taskText,
            typeId: rule.taskTypeId,
            deadlineMinutes: rule.taskDeadlineMinutes,
            hours: rule.taskWorkDays.length
              ? { days: rule.taskWorkDays, from: rule.taskWorkFrom, to: rule.taskWorkTo, timezone: rule.taskTimezone ?? rule.accountTimezone ?? DEFAULT_TIMEZONE }
              : null,
          }
        : null,
  };
}

/** The rule extras of `quizId`, from the account run's one read of the rule. */
export async function ruleExtras(run: AccountRun, quizId: string): Promise<RuleExtras | null> {
  const rule = await run.rule(quizId);
  return rule ? ruleExtrasOf(rule) : null;
}

/** The responsible user for one item's lead: an amoCRM id, null (amoCRM's default), undefined (keep the rule's performer as built). */
export interface Assigned {
  amoId: number | null | undefined;
  warning?: string;
}

/**
 * Chooses and records the responsible user of each item not yet given one (items that already
 * have one keep it). Items whose lease was lost meanwhile are left out of the answer.
 */
export async function assignUsers(run: AccountRun, items: Item[]): Promise<Map<string, Assigned>> {
  const out = new Map<string, Assigned>();
  const db = run.rt.services.db;
  for (const item of items) {
    const d = item.d;
    if (d.assignedUserAmoId !== null) {
      out.set(d.id, { amoId: Number(d.assignedUserAmoId) });
      continue;
    }
    const extras = await ruleExtras(run, d.quizId);
    if (!extras) {
      out.set(d.id, { amoId: undefined });
      continue;
    }
    const candidates = usableCandidates(extras);
    if (extras.mode === 'PERFORMER' && candidates.length) {
      // the performer as the lead is built (nothing to choose, nothing to record)
      out.set(d.id, { amoId: undefined });
      continue;
    }
    if (candidates.length === 0) {
      const warning = noUserWarning(extras);
      out.set(d.id, { amoId: null, ...(warning ? { warning } : {}) });
      continue;
    }
    let chosen: number | null;
    if (extras.mode === 'ROUND_ROBIN') {
      const rows = await db.$queryRaw<{ assigned_user_amo_id: bigint }[]>`
        WITH d AS (
          SELECT id FROM delivery
          WHERE id = ${d.id}::uuid AND assigned_user_amo_id IS NULL AND locked_until = ${run.lease.until.toISOString()}::timestamptz AND status = 'PENDING'
          FOR UPDATE
        ), bump AS (
          UPDATE rule SET assignment_counter = assignment_counter + 1 WHERE id = ${extras.ruleId}::uuid AND EXISTS (SELECT 1 FROM d) RETURNING assignment_counter
        )
        UPDATE delivery SET assigned_user_amo_id = (${candidates}::bigint[])[((bump.assignment_counter - 1) % ${candidates.length})::int + 1], updated_at = now()
        FROM bump WHERE delivery.id IN (SELECT id FROM d)
        RETURNING delivery.assigned_user_amo_id`;
      const stored = rows[0]?.assigned_user_amo_id;
      chosen = stored === undefined ? null : Number(stored);
    } else {
      const pick = chooseUser(extras.mode, candidates, 0);
      const n = await db.$executeRaw`
        UPDATE delivery SET assigned_user_amo_id = ${pick}, updated_at = now()
        WHERE id = ${d.id}::uuid AND assigned_user_amo_id IS NULL AND locked_until = ${run.lease.until.toISOString()}::timestamptz AND status = 'PENDING'`;
      chosen = n > 0 ? pick : null;
    }
    if (chosen === null) {
      // nothing written: the lease was lost to another process
      run.lease.held.delete(d.id);
      continue;
    }
    Object.assign(d, { assignedUserAmoId: chosen });
    out.set(d.id, { amoId: chosen });
  }
  return out;
}

/** The responsible user of an item's task: the one recorded, else the rule's usable performer, else null (amoCRM's default). */
export function taskResponsible(item: Item, extras: RuleExtras): number | null {
  if (item.d.assignedUserAmoId !== null) return Number(item.d.assignedUserAmoId);
  // the lead's responsible as sent (none: amoCRM's default got the lead, e.g. it refused the performer)
  const lead = (item.lead ?? item.d.sentLead) as { responsible_user_id?: unknown } | null | undefined;
  if (lead) return typeof lead.responsible_user_id === 'number' ? lead.responsible_user_id : null;
  return extras.mode === 'PERFORMER' && extras.performer?.usable ? extras.performer.amoId : null;
}
