import type { CustomField, RuleFieldMapping, RuleTag, Tag } from '../../../generated/prisma/client.ts';
import { builder } from '../../../platform/graphql/builder.ts';
import { FieldRef, TagRef } from '../../catalogue/index.ts';
import { quizIdSchema } from '../../../platform/graphql/args.ts';
import { createRule, publishRuleChanged, resolveRuleInput, updateRule, type RuleInput as RuleInputData } from '../rules.ts';
import type { Context } from '../../../platform/context.ts';
import { ofLiveAccount, requireLiveAccount, uuidOrNil } from '../../../platform/graphql/tenancy.ts';
import { RuleAssignmentInput, RuleTaskInput } from './task.ts';
import { LEAD_NAME_TEMPLATE_HELP, TagNamesInput } from './extras.ts';

type MappingWithField = RuleFieldMapping & { field: CustomField };
type RuleTagWithTag = RuleTag & { tag: Tag };

const QuestionFieldMapping = builder.objectRef<MappingWithField>('QuestionFieldMapping').implement({
  fields: (t) => ({
    questionId: t.id({ resolve: (m) => m.key }),
    field: t.field({ type: FieldRef, resolve: (m) => m.field }),
  }),
});

const ContactPropertyMapping = builder.objectRef<MappingWithField>('ContactPropertyMapping').implement({
  description: 'How the contact is filled: a contact property of the quiz form (name, phone, email, ...) to a contact field, plus quiz questions to contact fields.',
  fields: (t) => ({
    property: t.string({ resolve: (m) => m.key }),
    field: t.field({ type: FieldRef, resolve: (m) => m.field }),
  }),
});

const ContactRules = builder.objectRef<MappingWithField[]>('ContactRules').implement({
  fields: (t) => ({
    properties: t.field({ type: [ContactPropertyMapping], resolve: (ms) => ms.filter((m) => m.source === 'PROPERTY') }),
    questions: t.field({ type: [QuestionFieldMapping], resolve: (ms) => ms.filter((m) => m.source === 'QUESTION') }),
  }),
});

const questionsOf = (ms: MappingWithField[], target: RuleFieldMapping['target']) => ms.filter((m) => m.target === target && m.source === 'QUESTION');

const FieldsRule = builder.objectRef<MappingWithField[]>('FieldsRule').implement({
  fields: (t) => ({
    lead: t.field({ type: [QuestionFieldMapping], resolve: (ms) => questionsOf(ms, 'LEAD') }),
    contact: t.field({ type: ContactRules, resolve: (ms) => ms.filter((m) => m.target === 'CONTACT') }),
    company: t.field({ type: [QuestionFieldMapping], resolve: (ms) => questionsOf(ms, 'COMPANY') }),
    customer: t.field({ type: [QuestionFieldMapping], resolve: (ms) => questionsOf(ms, 'CUSTOMER') }),
  }),
});

const tagsOf = (tags: RuleTagWithTag[], entity: RuleTag['entity']) => tags.filter((t) => t.entity === entity).map((t) => t.tag);

const TagsToAdd = builder.objectRef<RuleTagWithTag[]>('TagsToAdd').implement({
  fields: (t) => ({
    lead: t.field({ type: [TagRef], resolve: (tags) => tagsOf(tags, 'LEAD') }),
    contact: t.field({ type: [TagRef], resolve: (tags) => tagsOf(tags, 'CONTACT') }),
    company: t.field({ type: [TagRef], resolve: (tags) => tagsOf(tags, 'COMPANY') }),
    customer: t.field({ type: [TagRef], resolve: (tags) => tagsOf(tags, 'CUSTOMER') }),
  }),
});

export const RuleRef = builder.prismaNode('Rule', {
  id: { field: 'id' },
  // node(id) of a missing or foreign object is null, like any missing one.
  nullable: true,
  description: 'One quiz has at most one rule.',
  findUnique: (id, ctx) => ({ id: uuidOrNil(id), account: ofLiveAccount(ctx).account }),
  fields: (t) => ({
    quizId: t.exposeID('quizId'),
    performer: t.relation('performer', {
      nullable: true,
      description: "Responsible user of created leads; null: amoCRM's default.",
    }),
    pipeline: t.relation('pipeline'),
    step: t.relation('step'),
    fieldsRule: t.field({
      type: FieldsRule,
      select: { mappings: { include: { field: true }, orderBy: { position: 'asc' } } },
      resolve: (rule) => rule.mappings,
    }),
    tagsToAdd: t.field({
      type: TagsToAdd,
      select: { tags: { include: { tag: true }, orderBy: { position: 'asc' } } },
      resolve: (rule) => rule.tags,
    }),
    toUnsorted: t.exposeBoolean('toUnsorted', {
      description: "Leads go to amoCRM's Unsorted (incoming leads) with the quiz as their form, instead of straight into the step.",
    }),
    mergeDuplicates: t.exposeBoolean('mergeDuplicates', {
      description: 'The lead is attached to an existing contact with the same phone or email (and an existing company of the same name) instead of a new one.',
    }),
    problems: t.exposeStringList('problems', {
      description: 'What the last check against amoCRM found missing (pipeline, step, user, fields or tags deleted there).',
    }),
    checkedAt: t.expose('checkedAt', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

builder.queryField('rule', (t) =>
  t.prismaField({
    type: 'Rule',
    nullable: true,
    description: 'The integration rule of one quiz; null when the quiz has none.',
    args: { quizId: t.arg.id({ required: true }) },
    resolve: async (query, _root, args, ctx) => {
      const account = await ctx.liveAccount();
      if (!account) return null;
      return ctx.db.rule.findUnique({ ...query, where: { accountId_quizId: { accountId: account.id, quizId: String(args.quizId) } } });
    },
  }),
);

// ---------------------------------------------------------------- inputs and mutations

const QuestionFieldInput = builder.inputType('QuestionFieldInput', {
  fields: (t) => ({
    questionId: t.id({ required: true }),
    fieldId: t.id({ required: true, description: "A Field id (global id) of the caller's account." }),
  }),
});

const ContactPropertyInput = builder.inputType('ContactPropertyInput', {
  fields: (t) => ({
    property: t.string({ required: true }),
    fieldId: t.id({ required: true }),
  }),
});

const ContactRulesInput = builder.inputType('ContactRulesInput', {
  fields: (t) => ({
    properties: t.field({ type: [ContactPropertyInput] }),
    questions: t.field({ type: [QuestionFieldInput] }),
  }),
});

const FieldsRuleInput = builder.inputType('FieldsRuleInput', {
  fields: (t) => ({
    lead: t.field({ type: [QuestionFieldInput] }),
    contact: t.field({ type: ContactRulesInput }),
    company: t.field({ type: [QuestionFieldInput] }),
    customer: t.field({ type: [QuestionFieldInput] }),
  }),
});

const TagsToAddInput = builder.inputType('TagsToAddInput', {
  description: "Tag ids (global ids) of the caller's account, per entity.",
  fields: (t) => ({
    lead: t.idList(),
    contact: t.idList(),
    company: t.idList(),
    customer: t.idList(),
  }),
});

export const RuleInput = builder.inputType('RuleInput', {
  fields: (t) => ({
    performerId: t.id({ description: 'An AmoUser id.' }),
    pipelineId: t.id({ description: 'Required by createQuizRule; updateQuizRule keeps the saved one when omitted.' }),
    stepId: t.id({ description: 'A Step of that pipeline. Required by createQuizRule; updateQuizRule keeps the saved one when omitted.' }),
    fieldsRule: t.field({ type: FieldsRuleInput }),
    tagsToAdd: t.field({ type: TagsToAddInput }),
    tagNamesToAdd: t.field({ type: TagNamesInput, description: "Tags by name, per entity (replaces every entity's names; left out: kept)." }),
    leadNameTemplate: t.string({ description: LEAD_NAME_TEMPLATE_HELP }),
    priceQuestionId: t.id({
      description:
        "The question whose answer sets the lead's price (a number by contract/README.md's numeric rule — 15 000, 15,000, 1,500.50 — with a currency sign allowed; rounded). Null clears it; left out: kept.",
    }),
    toUnsorted: t.boolean({
      description: "Send leads to amoCRM's Unsorted (incoming leads) instead of straight into the step. Default false.",
    }),
    task: t.field({ type: RuleTaskInput, description: 'A task for the responsible user on every new lead. Null: no task; left out: kept.' }),
    assignment: t.field({ type: RuleAssignmentInput, description: "How each lead's responsible user is chosen. Null: the performer; left out: kept." }),
    mergeDuplicates: t.boolean({
      description:
        'Attach the lead to an existing contact with the same phone or email (and company of the same name) instead of creating one. Default false: always a new contact.',
    }),
  }),
});

/** Saves the rule (a create checks the whole input, an update merges it into the saved rule) and announces the change; the rule's id. */
async function saveRule(ctx: Context, quizId: string | number, input: RuleInputData, mode: 'create' | 'update'): Promise<string> {
  const account = await requireLiveAccount(ctx);
  const rule =
    mode === 'create'
      ? await createRule(ctx.db, account, String(quizId), await resolveRuleInput(ctx.db, account, input))
      : await updateRule(ctx.db, account, String(quizId), input);
  await publishRuleChanged(ctx.services.queue, account, rule);
  return rule.id;
}

builder.mutationFields((t) => {
  const ruleArgs = () => ({ quizId: t.arg.id({ required: true, validate: quizIdSchema }), input: t.arg({ type: RuleInput, required: true }) });
  return {
    createQuizRule: t.prismaField({
      type: 'Rule',
      description: "SetQuizSettings: creates the quiz's rule; CONFLICT when it has one.",
      args: ruleArgs(),
      resolve: async (query, _root, args, ctx) => ctx.db.rule.findUniqueOrThrow({ ...query, where: { id: await saveRule(ctx, args.quizId, args.input, 'create') } }),
    }),
    updateQuizRule: t.prismaField({
      type: 'Rule',
      description:
        'ChangeQuizSettings: changes what the input names and keeps the rest (an omitted field is kept; null clears the performer, a list or a flag; a list given replaces that list); NOT_FOUND when the quiz has no rule.',
      args: ruleArgs(),
      resolve: async (query, _root, args, ctx) => ctx.db.rule.findUniqueOrThrow({ ...query, where: { id: await saveRule(ctx, args.quizId, args.input, 'update') } }),
    }),
  };
});
