// The rule editor's state, from a saved Rule and to a RuleInput. Rows go to the server in the
// order shown (empty ones too), so the index in a BAD_USER_INPUT path is the row on screen.
import type { RuleFieldsFragment, RuleInput } from '../../gql/graphql.ts';
import { emptyTaskForm, taskFormFromRule, taskInputFromForm, type TaskForm } from './task-form.ts';

export const TAG_ENTITIES = ['lead', 'contact', 'company', 'customer'] as const;
export type TagEntity = (typeof TAG_ENTITIES)[number];
export const MAPPING_LISTS = ['lead', 'contactQuestions', 'contactProperties', 'company', 'customer'] as const;
export type MappingList = (typeof MAPPING_LISTS)[number];

export interface MappingRow {
  /** React's key: stable while rows are added and removed */
  key: number;
  /** question id, or for contactProperties the property name */
  source: string;
  fieldId: string;
}

export interface RuleForm {
  pipelineId: string;
  stepId: string;
  performerId: string;
  lists: Record<MappingList, MappingRow[]>;
  tags: Record<TagEntity, string[]>;
  toUnsorted: boolean;
  mergeDuplicates: boolean;
  /** the lead-name template ('' = none), the price question id ('' = none), tag names per entity as typed (comma-separated) */
  leadNameTemplate: string;
  priceQuestionId: string;
  tagNames: Record<TagEntity, string>;
  /** the task for the responsible user and how that user is chosen (task-form.ts) */
  taskAssignment: TaskForm;
}

let nextKey = 1;
export const newRow = (source = '', fieldId = ''): MappingRow => ({ key: nextKey++, source, fieldId });

export function emptyForm(): RuleForm {
  return {
    pipelineId: '',
    stepId: '',
    performerId: '',
    lists: { lead: [], contactQuestions: [], contactProperties: [], company: [], customer: [] },
    tags: { lead: [], contact: [], company: [], customer: [] },
    toUnsorted: false,
    mergeDuplicates: false,
    leadNameTemplate: '',
    priceQuestionId: '',
    tagNames: { lead: '', contact: '', company: '', customer: '' },
    taskAssignment: emptyTaskForm(),
  };
}

/** Comma-separated names → the list sent (empty entries dropped, so the server's index is the n-th name typed). */
export const namesOf = (text: string) =>
  text
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');

export function formFromRule(rule: RuleFieldsFragment): RuleForm {
  const q = (list: { questionId: string; field: { id: string } }[]) => list.map((m) => newRow(m.questionId, m.field.id));
  const f = rule.fieldsRule;
  return {
    pipelineId: rule.pipeline.id,
    stepId: rule.step.id,
    performerId: rule.performer?.id ?? '',
    lists: {
      lead: q(f.lead),
      contactQuestions: q(f.contact.questions),
      contactProperties: f.contact.properties.map((m) => newRow(m.property, m.field.id)),
      company: q(f.company),
      customer: q(f.customer),
    },
    tags: {
      lead: rule.tagsToAdd.lead.map((t) => t.id),
      contact: rule.tagsToAdd.contact.map((t) => t.id),
      company: rule.tagsToAdd.company.map((t) => t.id),
      customer: rule.tagsToAdd.customer.map((t) => t.id),
    },
    toUnsorted: rule.toUnsorted,
    mergeDuplicates: rule.mergeDuplicates,
    leadNameTemplate: rule.leadNameTemplate ?? '',
    priceQuestionId: rule.priceQuestionId ?? '',
    tagNames: {
      lead: rule.tagNamesToAdd.lead.join(', '),
      contact: rule.tagNamesToAdd.contact.join(', '),
      company: rule.tagNamesToAdd.company.join(', '),
      customer: rule.tagNamesToAdd.customer.join(', '),
    },
    taskAssignment: taskFormFromRule(rule),
  };
}

export function inputFromForm(form: RuleForm): RuleInput {
  const q = (rows: MappingRow[]) => rows.map((r) => ({ questionId: r.source.trim(), fieldId: r.fieldId }));
  return {
    pipelineId: form.pipelineId,
    stepId: form.stepId,
    performerId: form.performerId || null,
    toUnsorted: form.toUnsorted,
    mergeDuplicates: form.mergeDuplicates,
    fieldsRule: {
      lead: q(form.lists.lead),
      contact: { questions: q(form.lists.contactQuestions), properties: form.lists.contactProperties.map((r) => ({ property: r.source.trim(), fieldId: r.fieldId })) },
      company: q(form.lists.company),
      customer: q(form.lists.customer),
    },
    tagsToAdd: { ...form.tags },
    leadNameTemplate: form.leadNameTemplate.trim() || null,
    priceQuestionId: form.priceQuestionId.trim() || null,
    tagNamesToAdd: {
      lead: namesOf(form.tagNames.lead),
      contact: namesOf(form.tagNames.contact),
      company: namesOf(form.tagNames.company),
      customer: namesOf(form.tagNames.customer),
    },
    ...taskInputFromForm(form.taskAssignment),
  };
}

/** The server's path of a row's input (see inputFromForm). */
export function rowPath(list: MappingList, index: number, part: 'source' | 'fieldId'): string {
  const base = {
    lead: 'input.fieldsRule.lead',
    contactQuestions: 'input.fieldsRule.contact.questions',
    contactProperties: 'input.fieldsRule.contact.properties',
    company: 'input.fieldsRule.company',
    customer: 'input.fieldsRule.customer',
  }[list];
  const key = part === 'fieldId' ? 'fieldId' : list === 'contactProperties' ? 'property' : 'questionId';
  return `${base}.${index}.${key}`;
}

/** The entity a list's fields belong to. */
export const LIST_ENTITY = { lead: 'LEAD', contactQuestions: 'CONTACT', contactProperties: 'CONTACT', company: 'COMPANY', customer: 'CUSTOMER' } as const;
