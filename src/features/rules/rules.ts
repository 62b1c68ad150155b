// A quiz's rule: where its leads go and which answer fills which field.
// Every id must be a live object of the caller's account, of the right kind.
import { badInput, conflict, notFound } from '../../platform/errors.ts';
import type { Db } from '../../platform/db.ts';
import { Prisma } from '../../platform/db.ts';
import type { AmoAccount, EntityType, MappingSource } from '../../generated/prisma/client.ts';
import { TOPICS, type Queue } from '../../platform/queue/index.ts';
import { localId } from '../../platform/ids.ts';
import { resolveTaskAssignment, type TaskAssignmentColumns, type TaskAssignmentInput } from './task-assignment.ts';
import { extrasColumns, resolveRuleExtras, type ResolvedExtras, type RuleExtrasInput } from './extras.ts';
import { SUPPORTED_FIELD_TYPES } from '../delivery/index.ts';
import { mergeRuleInput, namedByPatch, storedAsInput } from './patch.ts';
import { forgetDeletion } from './manage.ts';

export interface QuestionFieldInput {
  questionId: string | number;
  fieldId: string | number;
}
export interface ContactPropertyInput {
  property: string;
  fieldId: string | number;
}
export interface RuleInput {
  performerId?: string | number | null;
  /** Required: a create without it, or an update clearing it, is refused. */
  pipelineId?: string | number | null;
  stepId?: string | number | null;
  fieldsRule?: {
    lead?: QuestionFieldInput[] | null;
    contact?: { properties?: ContactPropertyInput[] | null; questions?: QuestionFieldInput[] | null } | null;
    company?: QuestionFieldInput[] | null;
    customer?: QuestionFieldInput[] | null;
  } | null;
  tagsToAdd?: Partial<Record<'lead' | 'contact' | 'company' | 'customer', (string | number)[] | null>> | null;
  toUnsorted?: boolean | null;
  mergeDuplicates?: boolean | null;
  /** the task for the responsible user and how that user is chosen (task-assignment.ts); left out: kept */
  task?: TaskAssignmentInput['task'];
  assignment?: TaskAssignmentInput['assignment'];
  /** the lead-name template, price question and tags by name (extras.ts) */
  leadNameTemplate?: RuleExtrasInput['leadNameTemplate'];
  priceQuestionId?: RuleExtrasInput['priceQuestionId'];
  tagNamesToAdd?: RuleExtrasInput['tagNamesToAdd'];
}

type Path = (string | number)[];
interface Issue {
  path: Path;
  message: string;
}

interface PlannedMapping {
  target: EntityType;
  source: MappingSource;
  key: string;
  fieldId: string;
  position: number;
}
interface PlannedTag {
  entity: EntityType;
  tagId: string;
  position: number;
}
export interface ResolvedRule {
  performerId: string | null;
  pipelineId: string;
  stepId: string;
  toUnsorted: boolean;
  mergeDuplicates: boolean;
  mappings: PlannedMapping[];
  tags: PlannedTag[];
  /** the task and assignment columns the caller named (task-assignment.ts) */
  taskAssignment?: TaskAssignmentColumns;
  /** the extras given (extras.ts); left out: not written */
  extras?: ResolvedExtras;
}

const ENTITY_KEYS = { lead: 'LEAD', contact: 'CONTACT', company: 'COMPANY', customer: 'CUSTOMER' } as const;
const MAX_LIST = 100;
const MAX_KEY = 255;

/**
 * One BAD_USER_INPUT naming every offending path (the first also as `field`). With `patch` (an
 * update), a path the caller did not send is said to be kept from the saved rule.
 */
function invalid(issues: Issue[], patch?: RuleInput) {
  if (patch) {
    issues = issues.map((i) => (namedByPatch(patch, i.path.slice(1)) ? i : { ...i, message: `${i.message} (kept from the saved rule: send it to change it)` }));
  }
  const message = issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ');
  const error = badInput(message, issues[0]?.path);
  error.extensions.issues = issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
  return error;
}

/**
 * Why a field of this amoCRM type cannot take a quiz answer (file, items, linked entity, chained
 * list, or any type the converter does not know), or null when it can: such a mapping would only
 * ever end in the lead's note, so it is refused when the rule is saved.
 */
export function unfillableType(rawType: string): string | null {
  const type = rawType.toLowerCase();
  return SUPPORTED_FIELD_TYPES.has(type) ? null : `is a field of type "${type}", which a quiz answer cannot fill`;
}

/** Checks a RuleInput against the account's cache; throws BAD_USER_INPUT naming every offending path. */
export async function resolveRuleInput(
  db: Db | Prisma.TransactionClient,
  account: AmoAccount,
  input: RuleInput,
  options: { base?: Path; patch?: RuleInput } = {},
): Promise<ResolvedRule> {
  const base = options.base ?? ['input'];
  const issues: Issue[] = [];
  const live = { accountId: account.id, deletedAt: null };

  // Bounds first: a rule is read on every delivery of its quiz.
  const lists: [Path, unknown[] | null | undefined][] = [
    [['fieldsRule', 'lead'], input.fieldsRule?.lead],
    [['fieldsRule', 'contact', 'properties'], input.fieldsRule?.contact?.properties],
    [['fieldsRule', 'contact', 'questions'], input.fieldsRule?.contact?.questions],
    [['fieldsRule', 'company'], input.fieldsRule?.company],
    [['fieldsRule', 'customer'], input.fieldsRule?.customer],
    ...Object.entries(input.tagsToAdd ?? {}).map(([k, v]) => [['tagsToAdd', k], v] as [Path, unknown[] | null | undefined]),
  ];
  for (const [path, list] of lists) {
    if ((list?.length ?? 0) > MAX_LIST) issues.push({ path: [...base, ...path], message: `has more than ${MAX_LIST} entries` });
  }
  const longKey =
    [...(input.fieldsRule?.lead ?? []), ...(input.fieldsRule?.contact?.questions ?? []), ...(input.fieldsRule?.company ?? []), ...(input.fieldsRule?.customer ?? [])].some(
      (m) => String(m.questionId).length > MAX_KEY,
    ) || (input.fieldsRule?.contact?.properties ?? []).some((m) => m.property.length > MAX_KEY);
  if (longKey) issues.push({ path: [...base, 'fieldsRule'], message: `names a question or property longer than ${MAX_KEY} characters` });
  if (issues.length) throw invalid(issues, options.patch);

  let performerId: string | null = null;
  if (input.performerId != null) {
    const id = localId(input.performerId, 'AmoUser');
    const user = id ? await db.amoUser.findFirst({ where: { id, ...live }, select: { id: true } }) : null;
    if (user) performerId = user.id;
    else issues.push({ path: [...base, 'performerId'], message: 'is not a user of the connected amoCRM account' });
  }

  if (input.pipelineId == null) issues.push({ path: [...base, 'pipelineId'], message: 'is required: a rule needs a pipeline' });
  if (input.stepId == null) issues.push({ path: [...base, 'stepId'], message: 'is required: a rule needs a step' });
  const pipelineId = input.pipelineId == null ? null : localId(input.pipelineId, 'Pipeline');
  const pipeline = pipelineId ? await db.pipeline.findFirst({ where: { id: pipelineId, ...live }, select: { id: true } }) : null;
  if (!pipeline && input.pipelineId != null) issues.push({ path: [...base, 'pipelineId'], message: 'is not a pipeline of the connected amoCRM account' });

  const stepId = input.stepId == null ? null : localId(input.stepId, 'Step');
  const step = stepId ? await db.step.findFirst({ where: { id: stepId, ...live }, select: { id: true, pipelineId: true } }) : null;
  if (!step && input.stepId != null) issues.push({ path: [...base, 'stepId'], message: 'is not a step of the connected amoCRM account' });
  else if (step && pipeline && step.pipelineId !== pipeline.id) issues.push({ path: [...base, 'stepId'], message: 'belongs to another pipeline' });

  // Field mappings: one lookup for every field id named anywhere.
  const wanted: { target: EntityType; source: MappingSource; key: string; fieldGlobalId: string | number; path: Path }[] = [];
  const rules = input.fieldsRule ?? {};
  const questions = (list: QuestionFieldInput[] | null | undefined, target: EntityType, path: Path) =>
    (list ?? []).forEach((m, i) => wanted.push({ target, source: 'QUESTION', key: String(m.questionId), fieldGlobalId: m.fieldId, path: [...path, i] }));
  questions(rules.lead, 'LEAD', [...base, 'fieldsRule', 'lead']);
  questions(rules.contact?.questions, 'CONTACT', [...base, 'fieldsRule', 'contact', 'questions']);
  questions(rules.company, 'COMPANY', [...base, 'fieldsRule', 'company']);
  questions(rules.customer, 'CUSTOMER', [...base, 'fieldsRule', 'customer']);
  (rules.contact?.properties ?? []).forEach((m, i) =>
    wanted.push({
      target: 'CONTACT',
      source: 'PROPERTY',
      key: m.property.trim(),
      fieldGlobalId: m.fieldId,
      path: [...base, 'fieldsRule', 'contact', 'properties', i],
    }),
  );

  const fieldIds = wanted.map((w) => localId(w.fieldGlobalId, 'Field')).filter((id): id is string => !!id);
  const fields = new Map((await db.customField.findMany({ where: { id: { in: fieldIds }, ...live }, select: { id: true, entity: true, rawType: true } })).map((f) => [f.id, f]));
  const seen = new Set<string>();
  const mappings: PlannedMapping[] = [];
  wanted.forEach((w, position) => {
    const keyLabel = w.source === 'QUESTION' ? 'questionId' : 'property';
    if (!w.key) return issues.push({ path: [...w.path, keyLabel], message: 'must not be empty' });
    const once = `${w.target}/${w.source}/${w.key}`;
    if (seen.has(once)) {
      return issues.push({ path: [...w.path, keyLabel], message: `"${w.key}" is mapped more than once for ${w.target.toLowerCase()}` });
    }
    seen.add(once);
    const id = localId(w.fieldGlobalId, 'Field');
    const field = id ? fields.get(id) : undefined;
    if (!field) return issues.push({ path: [...w.path, 'fieldId'], message: 'is not a field of the connected amoCRM account' });
    if (field.entity !== w.target) {
      return issues.push({ path: [...w.path, 'fieldId'], message: `is a ${field.entity.toLowerCase()} field, not a ${w.target.toLowerCase()} field` });
    }
    const unfillable = unfillableType(field.rawType);
    if (unfillable) return issues.push({ path: [...w.path, 'fieldId'], message: unfillable });
    mappings.push({ target: w.target, source: w.source, key: w.key, fieldId: field.id, position });
  });

  // Tags, likewise per entity.
  const tagInputs = Object.entries(input.tagsToAdd ?? {}).flatMap(([key, ids]) =>
    (ids ?? []).map((globalId, i) => ({ entity: ENTITY_KEYS[key as keyof typeof ENTITY_KEYS], globalId, path: [...base, 'tagsToAdd', key, i] })),
  );
  const tagIds = tagInputs.map((t) => localId(t.globalId, 'Tag')).filter((id): id is string => !!id);
  const tagRows = new Map((await db.tag.findMany({ where: { id: { in: tagIds }, ...live }, select: { id: true, entity: true } })).map((t) => [t.id, t]));
  const tags: PlannedTag[] = [];
  const seenTags = new Set<string>();
  tagInputs.forEach((t, position) => {
    const id = localId(t.globalId, 'Tag');
    const tag = id ? tagRows.get(id) : undefined;
    if (!tag) return issues.push({ path: t.path, message: 'is not a tag of the connected amoCRM account' });
    if (tag.entity !== t.entity) return issues.push({ path: t.path, message: `is a ${tag.entity.toLowerCase()} tag, not a ${t.entity.toLowerCase()} tag` });
    if (seenTags.has(tag.id)) return;
    seenTags.add(tag.id);
    tags.push({ entity: t.entity, tagId: tag.id, position });
  });
  // the extras as the caller sent them (an update: its patch, so that null clears)
  const extras = resolveRuleExtras(options.patch ?? input, base, issues);

  // as the caller sent them (an update: its patch), so what it leaves out is kept
  const taskAssignment = await resolveTaskAssignment(db, account, options.patch ?? input, base, issues);
  if (issues.length) throw invalid(issues, options.patch);
  return {
    performerId,
    pipelineId: pipeline!.id,
    stepId: step!.id,
    toUnsorted: input.toUnsorted ?? false,
    mergeDuplicates: input.mergeDuplicates ?? false,
    mappings,
    tags,
    taskAssignment,
    extras,
  };
}

const ruleColumns = (r: ResolvedRule) => ({
  performerId: r.performerId,
  pipelineId: r.pipelineId,
  stepId: r.stepId,
  toUnsorted: r.toUnsorted,
  mergeDuplicates: r.mergeDuplicates,
  ...r.taskAssignment,
  ...extrasColumns(r.extras ?? {}),
  // A changed rule is checked against amoCRM again.
  problems: [],
  checkedAt: null,
});

async function writeChildren(tx: Prisma.TransactionClient, ruleId: string, r: ResolvedRule) {
  await tx.ruleFieldMapping.deleteMany({ where: { ruleId } });
  await tx.ruleTag.deleteMany({ where: { ruleId } });
  await tx.ruleFieldMapping.createMany({ data: r.mappings.map((m) => ({ ruleId, ...m })) });
  await tx.ruleTag.createMany({ data: r.tags.map((t) => ({ ruleId, ...t })) });
}

export function publishRuleChanged(queue: Queue, account: AmoAccount, rule: { id: string; quizId: string }) {
  return queue.publish(TOPICS.amoTasks, account.quizAccountId, {
    type: 'rule.changed',
    quizAccountId: account.quizAccountId,
    quizId: rule.quizId,
    ruleId: rule.id,
  });
}

/** createRule's writes, in the caller's transaction (also draft.ts's, rolled back). */
export async function insertRule(tx: Prisma.TransactionClient, account: AmoAccount, quizId: string, resolved: ResolvedRule) {
  const rule = await tx.rule.create({ data: { accountId: account.id, quizId, ...ruleColumns(resolved) } });
  await writeChildren(tx, rule.id, resolved);
  await forgetDeletion(tx, account, quizId);
  return rule;
}

export async function createRule(db: Db, account: AmoAccount, quizId: string, resolved: ResolvedRule) {
  try {
    return await db.$transaction((tx) => insertRule(tx, account, quizId, resolved));
  } catch (err) {
    if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') {
      throw conflict(`Quiz ${quizId} already has a rule: use updateQuizRule`);
    }
    throw err;
  }
}

/**
 * Changes only what `patch` names (patch.ts): the saved rule, locked so that two updates at once
 * each keep the other's change, with the patch laid over it, checked as a whole.
 */
export async function updateRule(db: Db, account: AmoAccount, quizId: string, patch: RuleInput) {
  return db.$transaction(async (tx) => {
    const rule = await patchRule(tx, account, quizId, patch);
    if (!rule) throw notFound(`Rule of quiz ${quizId}`);
    return rule;
  });
}

/** updateRule's lock, check and writes, in the caller's transaction (also draft.ts's, rolled back); null when the quiz has no rule. */
export async function patchRule(tx: Prisma.TransactionClient, account: AmoAccount, quizId: string, patch: RuleInput) {
  const [locked] = await tx.$queryRaw<{ id: string }[]>`SELECT id FROM rule WHERE account_id = ${account.id}::uuid AND quiz_id = ${quizId} FOR UPDATE`;
  if (!locked) return null;
  const saved = await tx.rule.findUniqueOrThrow({ where: { id: locked.id }, include: { mappings: true, tags: true } });
  const resolved = await resolveRuleInput(tx, account, mergeRuleInput(storedAsInput(saved), patch), { patch });
  const rule = await tx.rule.update({ where: { id: saved.id }, data: ruleColumns(resolved) });
  await writeChildren(tx, rule.id, resolved);
  return rule;
}
