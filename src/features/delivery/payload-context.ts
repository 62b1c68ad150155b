/**
 * What a delivery's lead is built from: the quiz's rule, its UTM mappings and the account's field
 * catalogue, read in one statement per quiz (rule-row.ts; payload.ts builds the lead from it).
 */
import type { Db } from '../../platform/db.ts';
import { amoId, amoIdOrNull } from '../../platform/amo-ids.ts';
import type { FieldOption } from './convert.ts';
import type { CatalogField, Entity, PayloadContext } from './payload-types.ts';
import { tagNamesOf } from './tag-names.ts';
import { loadRuleRow, type FieldJson, type RuleRow } from './rule-row.ts';

interface FieldRow {
  amoId: bigint | number;
  entity: Entity;
  name: string;
  code: string | null;
  rawType: string;
  options: unknown;
  deletedAt: Date | null;
}

function toOptions(v: unknown): FieldOption[] {
  if (!Array.isArray(v)) return [];
  return v
    .filter((o): o is Record<string, unknown> => typeof o === 'object' && o !== null)
    .map((o) => ({ amoId: Number(o.amoId ?? o.id), value: String(o.value ?? ''), sort: o.sort === undefined ? null : Number(o.sort) }))
    .filter((o) => Number.isFinite(o.amoId));
}

export function toCatalogField(row: FieldRow): CatalogField {
  return {
    amoId: amoId(row.amoId),
    entity: row.entity,
    name: row.name,
    code: row.code,
    rawType: row.rawType.toLowerCase(),
    options: toOptions(row.options),
    deleted: row.deletedAt !== null,
  };
}

const fieldOf = (f: FieldJson): CatalogField => toCatalogField({ ...f, deletedAt: f.deleted ? new Date(0) : null });

/** The lead's context from the rule's row (rule-row.ts). */
export function payloadContextOf(row: RuleRow, quizId: string): PayloadContext {
  return {
    rule: {
      quizId,
      pipelineAmoId: amoId(row.pipelineAmoId),
      stepAmoId: amoId(row.stepAmoId),
      performerAmoId: row.performerAmoId !== null && !row.performerDeleted ? amoId(row.performerAmoId) : null,
      toUnsorted: row.toUnsorted,
      mergeDuplicates: row.mergeDuplicates,
      mappings: row.mappings.map((m) => ({ target: m.target, source: m.source, key: m.key, field: fieldOf(m.field) })),
      tags: row.tags.map((t) => ({ entity: t.entity, amoId: amoId(t.amoId), name: t.name, deleted: t.deleted })),
      leadNameTemplate: row.leadNameTemplate,
      priceQuestionId: row.priceQuestionId,
      tagNames: tagNamesOf(row.tagNames),
    },
    utms: row.utms.map((u) => ({ name: u.name, field: fieldOf(u.field) })),
    fields: row.fields.map(fieldOf),
    resultFieldId: amoIdOrNull(row.resultFieldId),
    ...(row.quizAccountId !== null ? { quizAccountId: row.quizAccountId } : {}),
  };
}

/** The rule, UTM mappings and catalogue of one quiz; null when the quiz has no rule. */
export async function loadPayloadContext(db: Db, accountId: string, quizId: string): Promise<PayloadContext | null> {
  const row = await loadRuleRow(db, accountId, quizId);
  return row ? payloadContextOf(row, quizId) : null;
}
