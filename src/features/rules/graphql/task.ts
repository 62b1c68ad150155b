// The rule's task for the responsible user and the choice of that user (../task-assignment.ts):
// their GraphQL types. Rule.task / Rule.assignment read back what RuleInput.task / .assignment set.
import type { Rule } from '../../../generated/prisma/client.ts';
import { builder } from '../../../platform/graphql/builder.ts';
import { clockOf } from '../task-assignment.ts';

export const AssignmentModeEnum = builder.enumType('AssignmentMode', {
  description: 'How the responsible user of each lead (and its task) is chosen.',
  values: {
    PERFORMER: { description: "The rule's performer (none: amoCRM's default user)." },
    ROUND_ROBIN: { description: 'The chosen users in turn (a counter in the database: fair across replicas; a retried delivery keeps its user).' },
    UNIFORM: { description: 'One of the chosen users at random, each equally likely.' },
  } as const,
});

type TaskColumns = Pick<Rule, 'taskEnabled' | 'taskText' | 'taskTypeId' | 'taskDeadlineMinutes' | 'taskWorkDays' | 'taskWorkFrom' | 'taskWorkTo' | 'taskTimezone'>;

const WorkingHours = builder.objectRef<TaskColumns>('WorkingHours').implement({
  description: "When the task's deadline clock runs: a deadline outside these hours moves on to the next working period.",
  fields: (t) => ({
    days: t.intList({ description: 'ISO weekdays: 1 Monday … 7 Sunday.', resolve: (r) => r.taskWorkDays }),
    from: t.string({ description: 'HH:MM', resolve: (r) => clockOf(r.taskWorkFrom) }),
    to: t.string({ description: 'HH:MM (24:00: midnight)', resolve: (r) => clockOf(r.taskWorkTo) }),
    timezone: t.string({ nullable: true, description: "IANA time zone; null: the amoCRM account's (Europe/Moscow when unknown).", resolve: (r) => r.taskTimezone }),
  }),
});

const RuleTask = builder.objectRef<TaskColumns>('RuleTask').implement({
  description: 'A task amoCRM gets for the responsible user on every new lead of the quiz, once.',
  fields: (t) => ({
    enabled: t.boolean({ resolve: (r) => r.taskEnabled }),
    text: t.string({ nullable: true, resolve: (r) => r.taskText }),
    taskTypeId: t.int({ description: "amoCRM task_type_id: 1 call, 2 meeting, or one of the account's own types.", resolve: (r) => r.taskTypeId }),
    deadlineMinutes: t.int({ description: 'Due this many minutes (of working time, when workingHours are set) after the lead is created.', resolve: (r) => r.taskDeadlineMinutes }),
    workingHours: t.field({ type: WorkingHours, nullable: true, resolve: (r) => (r.taskWorkDays.length ? r : null) }),
  }),
});

export const WorkingHoursInput = builder.inputType('WorkingHoursInput', {
  fields: (t) => ({
    days: t.intList({ required: true, description: 'ISO weekdays: 1 Monday … 7 Sunday (at least one).' }),
    from: t.string({ required: true, description: 'HH:MM' }),
    to: t.string({ required: true, description: 'HH:MM, after from (24:00: midnight).' }),
    timezone: t.string({ description: "IANA time zone (e.g. Europe/Moscow); null or left out: the amoCRM account's." }),
  }),
});

export const RuleTaskInput = builder.inputType('RuleTaskInput', {
  description: 'The task on every new lead. In an update, a field left out is kept.',
  fields: (t) => ({
    enabled: t.boolean({ required: true }),
    text: t.string({ description: 'Required to enable the task (at most 2000 characters).' }),
    taskTypeId: t.int({ description: "1 call (default), 2 meeting, or the id of one of the account's own task types." }),
    deadlineMinutes: t.int({ description: 'Minutes after the lead is created (default 15).' }),
    workingHours: t.field({ type: WorkingHoursInput, description: 'Null: the deadline ignores working hours.' }),
  }),
});

export const RuleAssignmentInput = builder.inputType('RuleAssignmentInput', {
  fields: (t) => ({
    mode: t.field({ type: AssignmentModeEnum, required: true }),
    userIds: t.idList({
      description:
        "AmoUser ids to choose from (ROUND_ROBIN, UNIFORM; at least one, active ones only). A user deactivated later is skipped; none left: amoCRM's default user, with a warning on the delivery.",
    }),
  }),
});

builder.prismaObjectFields('Rule', (t) => ({
  task: t.field({
    type: RuleTask,
    select: { taskEnabled: true, taskText: true, taskTypeId: true, taskDeadlineMinutes: true, taskWorkDays: true, taskWorkFrom: true, taskWorkTo: true, taskTimezone: true },
    resolve: (rule) => rule,
  }),
  assignmentMode: t.field({ type: AssignmentModeEnum, select: { assignmentMode: true }, resolve: (rule) => rule.assignmentMode }),
  assignees: t.prismaField({
    type: ['AmoUser'],
    description: 'The users ROUND_ROBIN / UNIFORM choose among, in order (deleted ones left out; see AmoUser.isActive).',
    select: { assigneeIds: true },
    resolve: async (query, rule, _args, ctx) => {
      const users = await ctx.db.amoUser.findMany({ ...query, where: { id: { in: rule.assigneeIds }, deletedAt: null } });
      return rule.assigneeIds.flatMap((id) => users.filter((u) => u.id === id));
    },
  }),
}));
