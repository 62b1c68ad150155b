// The rule's task and assignment in the editor: from a saved Rule and to RuleInput.task / .assignment.
import type { AssignmentMode, RuleFieldsFragment, RuleInput } from '../../gql/graphql.ts';

export interface TaskForm {
  enabled: boolean;
  text: string;
  /** as typed: '1' call, '2' meeting, or an account's own type id */
  taskTypeId: string;
  deadlineMinutes: string;
  hoursOn: boolean;
  days: number[];
  from: string;
  to: string;
  /** '' = the amoCRM account's */
  timezone: string;
  mode: AssignmentMode;
  userIds: string[];
}

export const emptyTaskForm = (): TaskForm => ({
  enabled: false,
  text: '',
  taskTypeId: '1',
  deadlineMinutes: '15',
  hoursOn: false,
  days: [1, 2, 3, 4, 5],
  from: '09:00',
  to: '18:00',
  timezone: '',
  mode: 'PERFORMER',
  userIds: [],
});

export function taskFormFromRule(rule: RuleFieldsFragment): TaskForm {
  const t = rule.task;
  const h = t.workingHours;
  return {
    enabled: t.enabled,
    text: t.text ?? '',
    taskTypeId: String(t.taskTypeId),
    deadlineMinutes: String(t.deadlineMinutes),
    hoursOn: h != null,
    days: h?.days ?? [1, 2, 3, 4, 5],
    from: h?.from ?? '09:00',
    to: h?.to ?? '18:00',
    timezone: h?.timezone ?? '',
    mode: rule.assignmentMode,
    userIds: rule.assignees.map((u) => u.id),
  };
}

/** A number as typed, or NaN (sent as null, so the server names the path). */
const int = (s: string) => (s.trim() === '' ? null : Number(s));

export function taskInputFromForm(f: TaskForm): Pick<RuleInput, 'task' | 'assignment'> {
  const typeId = int(f.taskTypeId);
  const minutes = int(f.deadlineMinutes);
  return {
    task: {
      enabled: f.enabled,
      text: f.text.trim() || null,
      taskTypeId: typeId !== null && Number.isInteger(typeId) ? typeId : null,
      deadlineMinutes: minutes !== null && Number.isInteger(minutes) ? minutes : null,
      workingHours: f.hoursOn ? { days: f.days, from: f.from, to: f.to, timezone: f.timezone.trim() || null } : null,
    },
    assignment: { mode: f.mode, userIds: f.mode === 'PERFORMER' ? [] : f.userIds },
  };
}
