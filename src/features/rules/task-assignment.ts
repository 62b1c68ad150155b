// A rule's task for the responsible user and how that user is chosen (issue 17). Checked when the
// rule is saved, every problem naming its input path; used on delivery (src/features/delivery/
// assign.ts, tasks.ts, deadline.ts).
//
// As the rule's other optional parts: a field left out (undefined) is not written (a new rule gets
// the default: no task, the performer), a changed rule keeps what it had; null clears it (no task;
// back to the performer).
import type { AmoAccount } from '../../generated/prisma/client.ts';
import type { AssignmentMode } from '../../generated/prisma/enums.ts';
import type { Prisma } from '../../platform/db.ts';
import { localId } from '../../platform/ids.ts';
import { IANAZone } from 'luxon';

const isTimezone = (name: string) => IANAZone.isValidZone(name);

export const TASK_TEXT_MAX = 2000;
const MAX_DEADLINE_MINUTES = 60 * 24 * 365;
const MAX_USERS = 100;

export interface WorkingHoursInput {
  /** ISO weekdays, 1 Monday … 7 Sunday */
  days: number[];
  /** "HH:MM" */
  from: string;
  /** "HH:MM", after from; "24:00" is midnight */
  to: string;
  timezone?: string | null;
}
export interface RuleTaskInput {
  enabled: boolean;
  text?: string | null;
  taskTypeId?: number | null;
  deadlineMinutes?: number | null;
  workingHours?: WorkingHoursInput | null;
}
export interface RuleAssignmentInput {
  mode: AssignmentMode;
  userIds?: (string | number)[] | null;
}
export interface TaskAssignmentInput {
  task?: RuleTaskInput | null;
  assignment?: RuleAssignmentInput | null;
}

/** The rule columns to write (only those the input names). */
export interface TaskAssignmentColumns {
  taskEnabled?: boolean;
  taskText?: string | null;
  taskTypeId?: number;
  taskDeadlineMinutes?: number;
  taskWorkDays?: number[];
  taskWorkFrom?: number;
  taskWorkTo?: number;
  taskTimezone?: string | null;
  assignmentMode?: AssignmentMode;
  assigneeIds?: string[];
}

type Path = (string | number)[];
type Issues = { path: Path; message: string }[];

/** "HH:MM" → minutes after midnight (24:00 allowed as the end of the day); null when malformed. */
export function parseClock(s: string, allowMidnight: boolean): number | null {
  const m = /^([01]\d|2[0-4]):([0-5]\d)$/.exec(s.trim());
  if (!m) return null;
  const minutes = Number(m[1]) * 60 + Number(m[2]);
  if (minutes > 1440 || (minutes === 1440 && !allowMidnight)) return null;
  return minutes;
}

export const clockOf = (minutes: number) => `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;

function resolveTask(task: RuleTaskInput, base: Path, issues: Issues): TaskAssignmentColumns {
  const out: TaskAssignmentColumns = { taskEnabled: task.enabled };
  const text = task.text?.trim() ?? '';
  if (task.text !== undefined) out.taskText = text || null;
  if (text.length > TASK_TEXT_MAX) issues.push({ path: [...base, 'text'], message: `is longer than ${TASK_TEXT_MAX} characters` });
  // (text left out of an update: the saved text is kept)
  if (task.enabled && task.text !== undefined && !text) issues.push({ path: [...base, 'text'], message: 'is required when the task is enabled' });
  if (task.taskTypeId != null) {
    if (!Number.isInteger(task.taskTypeId) || task.taskTypeId < 1)
      issues.push({ path: [...base, 'taskTypeId'], message: 'must be 1 (call), 2 (meeting) or the id of one of the account’s task types' });
    else out.taskTypeId = task.taskTypeId;
  } else if (task.taskTypeId === null) out.taskTypeId = 1;
  if (task.deadlineMinutes != null) {
    if (!Number.isInteger(task.deadlineMinutes) || task.deadlineMinutes < 0 || task.deadlineMinutes > MAX_DEADLINE_MINUTES)
      issues.push({ path: [...base, 'deadlineMinutes'], message: `must be a whole number of minutes from 0 to ${MAX_DEADLINE_MINUTES}` });
    else out.taskDeadlineMinutes = task.deadlineMinutes;
  } else if (task.deadlineMinutes === null) out.taskDeadlineMinutes = 15;
  const wh = task.workingHours;
  if (wh === null) out.taskWorkDays = [];
  else if (wh !== undefined) {
    const path = [...base, 'workingHours'];
    const days = [...new Set(wh.days)].sort((a, b) => a - b);
    if (days.length === 0 || days.some((d) => !Number.isInteger(d) || d < 1 || d > 7))
      issues.push({ path: [...path, 'days'], message: 'must name weekdays 1 (Monday) … 7 (Sunday), at least one' });
    const from = parseClock(wh.from, false);
    const to = parseClock(wh.to, true);
    if (from === null) issues.push({ path: [...path, 'from'], message: 'must be a time HH:MM' });
    if (to === null) issues.push({ path: [...path, 'to'], message: 'must be a time HH:MM (24:00 for midnight)' });
    else if (from !== null && to <= from) issues.push({ path: [...path, 'to'], message: 'must be after from' });
    const tz = wh.timezone?.trim() || null;
    if (tz !== null && !isTimezone(tz)) issues.push({ path: [...path, 'timezone'], message: 'is not an IANA time zone (e.g. Europe/Moscow)' });
    Object.assign(out, { taskWorkDays: days, taskWorkFrom: from ?? 0, taskWorkTo: to ?? 0, taskTimezone: tz });
  }
  return out;
}

/** The task and assignment parts of `input` as they are to be stored; problems pushed to `issues`. */
export async function resolveTaskAssignment(
  db: Pick<Prisma.TransactionClient, 'amoUser'>,
  account: AmoAccount,
  input: TaskAssignmentInput,
  base: Path,
  issues: Issues,
): Promise<TaskAssignmentColumns> {
  let out: TaskAssignmentColumns = {};
  if (input.task === null) out.taskEnabled = false;
  else if (input.task !== undefined) out = resolveTask(input.task, [...base, 'task'], issues);

  const a = input.assignment;
  if (a === null) Object.assign(out, { assignmentMode: 'PERFORMER', assigneeIds: [] });
  else if (a !== undefined) {
    const path = [...base, 'assignment'];
    const given = a.userIds ?? [];
    if (given.length > MAX_USERS) {
      issues.push({ path: [...path, 'userIds'], message: `has more than ${MAX_USERS} entries` });
      return out;
    }
    if (a.mode !== 'PERFORMER' && given.length === 0) issues.push({ path: [...path, 'userIds'], message: `must name at least one user for ${a.mode}` });
    const ids = given.map((g) => localId(g, 'AmoUser'));
    const rows = await db.amoUser.findMany({
      where: { id: { in: ids.filter((id): id is string => !!id) }, accountId: account.id, deletedAt: null },
      select: { id: true, isActive: true },
    });
    const byId = new Map(rows.map((r) => [r.id, r]));
    const chosen: string[] = [];
    ids.forEach((id, i) => {
      const u = id ? byId.get(id) : undefined;
      if (!u) issues.push({ path: [...path, 'userIds', i], message: 'is not a user of the connected amoCRM account' });
      else if (!u.isActive) issues.push({ path: [...path, 'userIds', i], message: 'is deactivated in amoCRM' });
      else if (!chosen.includes(u.id)) chosen.push(u.id);
    });
    Object.assign(out, { assignmentMode: a.mode, assigneeIds: chosen });
  }
  return out;
}
