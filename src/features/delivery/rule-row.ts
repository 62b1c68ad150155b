/**
 * Everything a batch needs of a quiz's rule, in one plain SQL statement: the rule with its
 * pipeline, step and performer, its mappings and tags with their catalogue entries, the quiz's
 * UTM mappings, the account's contact and tracking fields, the chosen users and the account's
 * result field, tenant and timezone. The lead's context (payload-context.ts), the assignment and
 * task (assign.ts) and the paused state (rule-state.ts) are read from it: one round trip and no
 * model queries per batch and quiz, where there were six or more.
 */
import type { AssignmentMode } from '../../generated/prisma/enums.ts';
import type { Db } from '../../platform/db.ts';
import type { Entity } from './payload-types.ts';

/** A catalogue field as the statement builds it (json_build_object). */
export interface FieldJson {
  amoId: number;
  entity: Entity;
  name: string;
  code: string | null;
  rawType: string;
  options: unknown;
  deleted: boolean;
}

export interface RuleRow {
  id: string;
  pausedAt: Date | null;
  toUnsorted: boolean;
  mergeDuplicates: boolean;
  leadNameTemplate: string | null;
  priceQuestionId: string | null;
  tagNames: unknown;
  assignmentMode: AssignmentMode;
  assigneeIds: string[];
  taskEnabled: boolean;
  taskText: string | null;
  taskTypeId: number;
  taskDeadlineMinutes: number;
  taskWorkDays: number[];
  taskWorkFrom: number;
  taskWorkTo: number;
  taskTimezone: string | null;
  pipelineAmoId: bigint | number;
  stepAmoId: bigint | number;
  performerAmoId: bigint | number | null;
  performerActive: boolean | null;
  performerDeleted: boolean | null;
  resultFieldId: bigint | number | null;
  quizAccountId: string | null;
  accountTimezone: string | null;
  mappings: { target: Entity; source: 'QUESTION' | 'PROPERTY'; key: string; field: FieldJson }[];
  tags: { entity: Entity; amoId: number; name: string; deleted: boolean }[];
  utms: { name: string; field: FieldJson }[];
  fields: FieldJson[];
  assignees: { id: string; amoId: number; isActive: boolean; deleted: boolean }[];
}

/** The rule of `quizId` in `accountId` with everything a delivery reads of it; null when the quiz has no rule. */
export async function loadRuleRow(db: Db, accountId: string, quizId: string): Promise<RuleRow | null> {
  const rows = await db.$queryRaw<RuleRow[]>`
    SELECT r.id, r.paused_at AS "pausedAt", r.to_unsorted AS "toUnsorted", r.merge_duplicates AS "mergeDuplicates",
      r.lead_name_template AS "leadNameTemplate", r.price_question_id AS "priceQuestionId", r.tag_names AS "tagNames",
      r.assignment_mode::text AS "assignmentMode", r.assignee_ids::text[] AS "assigneeIds",
      r.task_enabled AS "taskEnabled", r.task_text AS "taskText", r.task_type_id AS "taskTypeId",
      r.task_deadline_minutes AS "taskDeadlineMinutes", r.task_work_days AS "taskWorkDays",
      r.task_work_from AS "taskWorkFrom", r.task_work_to AS "taskWorkTo", r.task_timezone AS "taskTimezone",
      p.amo_id AS "pipelineAmoId", s.amo_id AS "stepAmoId",
      pu.amo_id AS "performerAmoId", pu.is_active AS "performerActive", (pu.deleted_at IS NOT NULL) AS "performerDeleted",
      a.result_field_id AS "resultFieldId", a.quiz_account_id AS "quizAccountId", a.timezone AS "accountTimezone",
      coalesce((
        SELECT json_agg(json_build_object('target', m.target, 'source', m.source, 'key', m.key,
          'field', json_build_object('amoId', f.amo_id, 'entity', f.entity, 'name', f.name, 'code', f.code, 'rawType', f.raw_type, 'options', f.options, 'deleted', f.deleted_at IS NOT NULL))
          ORDER BY m.position, m.id)
        FROM rule_field_mapping m JOIN custom_field f ON f.id = m.field_id WHERE m.rule_id = r.id), '[]') AS mappings,
      coalesce((
        SELECT json_agg(json_build_object('entity', rt.entity, 'amoId', t.amo_id, 'name', t.name, 'deleted', t.deleted_at IS NOT NULL) ORDER BY rt.position, rt.tag_id)
        FROM rule_tag rt JOIN tag t ON t.id = rt.tag_id WHERE rt.rule_id = r.id), '[]') AS tags,
      coalesce((
        SELECT json_agg(json_build_object('name', u.name,
          'field', json_build_object('amoId', f.amo_id, 'entity', f.entity, 'name', f.name, 'code', f.code, 'rawType', f.raw_type, 'options', f.options, 'deleted', f.deleted_at IS NOT NULL))
          ORDER BY u.created_at)
        FROM utm u JOIN custom_field f ON f.id = u.field_id WHERE u.account_id = r.account_id AND u.quiz_id = r.quiz_id), '[]') AS utms,
      coalesce((
        SELECT json_agg(json_build_object('amoId', f.amo_id, 'entity', f.entity, 'name', f.name, 'code', f.code, 'rawType', f.raw_type, 'options', f.options, 'deleted', false))
        FROM custom_field f
        WHERE f.account_id = r.account_id AND f.deleted_at IS NULL
          AND ((f.entity = 'CONTACT' AND f.code IN ('PHONE', 'EMAIL')) OR (f.entity = 'LEAD' AND f.raw_type = 'tracking_data'))), '[]') AS fields,
      coalesce((
        SELECT json_agg(json_build_object('id', au.id, 'amoId', au.amo_id, 'isActive', au.is_active, 'deleted', au.deleted_at IS NOT NULL))
        FROM amo_user au WHERE au.id = ANY(r.assignee_ids) AND au.account_id = r.account_id), '[]') AS assignees
    FROM rule r
    JOIN pipeline p ON p.id = r.pipeline_id
    JOIN step s ON s.id = r.step_id
    LEFT JOIN amo_user pu ON pu.id = r.performer_id
    LEFT JOIN amo_account a ON a.id = r.account_id
    WHERE r.account_id = ${accountId}::uuid AND r.quiz_id = ${quizId}`;
  return rows[0] ?? null;
}
