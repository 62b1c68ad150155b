/**
 * What a delivery's lead is built from: the quiz's rule, its UTM mappings and the account's field
 * catalogue, read from the database in one go per quiz (payload.ts builds the lead from it).
 */
import type { Db } from '../../platform/db.ts';
import { amoId, amoIdOrNull } from '../../platform/amo-ids.ts';
import type { FieldOption } from './convert.ts';
import type { CatalogField, Entity, PayloadContext } from './payload-types.ts';
import { tagNamesOf } from './tag-names.ts';

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

const fieldSelect = { amoId: true, entity: true, name: true, code: true, rawType: true, options: true, deletedAt: true } as const;

/** The rule, UTM mappings and catalogue of one quiz; null when the quiz has no rule. */
export async function loadPayloadContext(db: Db, accountId: string, quizId: string): Promise<PayloadContext | null> {
  const rule = await db.rule.findUnique({
    where: { accountId_quizId: { accountId, quizId } },
    include: {
      pipeline: { select: { amoId: true } },
      step: { select: { amoId: true } },
      performer: { select: { amoId: true, deletedAt: true } },
      mappings: { include: { field: { select: fieldSelect } }, orderBy: [{ position: 'asc' }, { id: 'asc' }] },
      tags: { include: { tag: { select: { amoId: true, name: true, deletedAt: true } } }, orderBy: [{ position: 'asc' }, { tagId: 'asc' }] },
    },
  });
  if (!rule) return null;
  const [utms, fields, account] = await Promise.all([
    db.utm.findMany({ where: { accountId, quizId }, include: { field: { select: fieldSelect } }, orderBy: { createdAt: 'asc' } }),
    db.customField.findMany({
      where: {
        accountId,
        deletedAt: null,
        OR: [
          { entity: 'CONTACT', code: { in: ['PHONE', 'EMAIL'] } },
          { entity: 'LEAD', rawType: 'tracking_data' },
        ],
      },
      select: fieldSelect,
    }),
    db.amoAccount.findUnique({ where: { id: accountId }, select: { resultFieldId: true, quizAccountId: true } }),
  ]);
  return {
    rule: {
      quizId,
      pipelineAmoId: amoId(rule.pipeline.amoId),
      stepAmoId: amoId(rule.step.amoId),
      performerAmoId: rule.performer && !rule.performer.deletedAt ? amoId(rule.performer.amoId) : null,
      toUnsorted: rule.toUnsorted,
      mergeDuplicates: rule.mergeDuplicates,
      mappings: rule.mappings.map((m) => ({ target: m.target, source: m.source, key: m.key, field: toCatalogField(m.field) })),
      tags: rule.tags.map((t) => ({ entity: t.entity, amoId: amoId(t.tag.amoId), name: t.tag.name, deleted: t.tag.deletedAt !== null })),
      leadNameTemplate: rule.leadNameTemplate,
      priceQuestionId: rule.priceQuestionId,
      tagNames: tagNamesOf(rule.tagNames),
    },
    utms: utms.map((u) => ({ name: u.name, field: toCatalogField(u.field) })),
    fields: fields.map(toCatalogField),
    resultFieldId: amoIdOrNull(account?.resultFieldId),
    ...(account ? { quizAccountId: account.quizAccountId } : {}),
  };
}
