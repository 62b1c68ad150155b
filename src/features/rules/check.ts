// After a rule changes, it is checked against amoCRM itself (not only the
// cache), so the owner learns what no longer exists before a lead fails.
import type { AmoEntity } from '../../platform/amo/index.ts';
import type { EntityType } from '../../generated/prisma/enums.ts';
import type { Services } from '../../platform/services.ts';
import { amoId } from '../../platform/amo-ids.ts';

const AMO_ENTITY: Record<EntityType, AmoEntity> = { LEAD: 'leads', CONTACT: 'contacts', COMPANY: 'companies', CUSTOMER: 'customers' };

/**
 * Records on the rule what amoCRM no longer has; returns the problems found (null when not
 * checked). `signal` (the worker stopping) cuts the amoCRM reads short: nothing is recorded.
 */
export async function checkRule(services: Services, ruleId: string, options: { signal?: AbortSignal } = {}): Promise<string[] | null> {
  const { signal } = options;
  const { db } = services;
  const rule = await db.rule.findUnique({
    where: { id: ruleId },
    include: {
      account: true,
      pipeline: true,
      step: true,
      performer: true,
      mappings: { include: { field: true } },
      tags: { include: { tag: true } },
    },
  });
  // A rule of a disconnected or stale account cannot be checked now; the next change checks it.
  if (!rule || rule.account.deletedAt || rule.account.stale || rule.account.blockedAt) return null;
  const client = services.amo.client(rule.accountId);
  const problems: string[] = [];

  const pipeline = (await client.listPipelines({ signal })).find((p) => p.id === amoId(rule.pipeline.amoId));
  if (!pipeline) problems.push(`pipeline «${rule.pipeline.name}» (${rule.pipeline.amoId}) no longer exists in amoCRM`);
  else if (!(pipeline._embedded?.statuses ?? []).some((s) => s.id === amoId(rule.step.amoId))) {
    problems.push(`step «${rule.step.name}» (${rule.step.amoId}) no longer exists in pipeline «${pipeline.name}»`);
  }
  if (rule.performer && !(await client.listUsers({ signal })).some((u) => u.id === amoId(rule.performer!.amoId))) {
    problems.push(`responsible user «${rule.performer.name}» (${rule.performer.amoId}) no longer exists in amoCRM`);
  }

  const fieldEntities = new Set(rule.mappings.map((m) => m.field.entity));
  for (const entity of fieldEntities) {
    const live = new Set((await client.listCustomFields(AMO_ENTITY[entity], { signal })).map((f) => f.id));
    for (const { field, key } of rule.mappings.filter((m) => m.field.entity === entity)) {
      if (!live.has(amoId(field.amoId))) problems.push(`${entity.toLowerCase()} field «${field.name}» (${field.amoId}) for «${key}» no longer exists in amoCRM`);
    }
  }
  const tagEntities = new Set(rule.tags.map((t) => t.entity));
  for (const entity of tagEntities) {
    const live = new Set((await client.listTags(AMO_ENTITY[entity], { signal })).map((t) => t.id));
    for (const { tag } of rule.tags.filter((t) => t.entity === entity)) {
      if (!live.has(amoId(tag.amoId))) problems.push(`${entity.toLowerCase()} tag «${tag.name}» (${tag.amoId}) no longer exists in amoCRM`);
    }
  }

  // A check is not an edit: updatedAt stays the owner's.
  await db.rule.update({ where: { id: rule.id }, data: { problems, checkedAt: new Date(), updatedAt: rule.updatedAt } });
  return problems;
}
