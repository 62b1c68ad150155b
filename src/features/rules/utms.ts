// UTM parameters of a quiz and the lead fields they fill.
import { badInput } from '../../platform/errors.ts';
import type { Db } from '../../platform/db.ts';
import type { AmoAccount } from '../../generated/prisma/client.ts';
import { localId } from '../../platform/ids.ts';
import { unfillableType } from './rules.ts';

export interface UtmInput {
  name: string;
  fieldId: string | number;
}

const UTM_NAME = /^[a-z][a-z0-9_]{0,63}$/;

/** Saves the mappings the quiz does not have yet and returns those it saved. */
const MAX_UTMS = 100;

export async function addUtms(db: Db, account: AmoAccount, quizId: string, utms: UtmInput[]) {
  if (utms.length > MAX_UTMS) throw badInput(`utms has more than ${MAX_UTMS} entries`, ['utms']);
  const names = new Set<string>();
  const planned: { name: string; fieldId: string }[] = [];
  const fieldIds = utms.map((u) => localId(u.fieldId, 'Field')).filter((id): id is string => !!id);
  const fields = new Map(
    (await db.customField.findMany({ where: { id: { in: fieldIds }, accountId: account.id, deletedAt: null }, select: { id: true, entity: true, rawType: true } })).map((f) => [
      f.id,
      f,
    ]),
  );
  utms.forEach((utm, i) => {
    const name = utm.name.trim().toLowerCase();
    if (!UTM_NAME.test(name)) throw badInput(`utms.${i}.name "${utm.name}" is not a UTM parameter name (like utm_source)`, ['utms', i, 'name']);
    if (names.has(name)) throw badInput(`utms.${i}.name "${name}" is given twice`, ['utms', i, 'name']);
    names.add(name);
    const id = localId(utm.fieldId, 'Field');
    const field = id ? fields.get(id) : undefined;
    if (!field) throw badInput(`utms.${i}.fieldId is not a field of the connected amoCRM account`, ['utms', i, 'fieldId']);
    if (field.entity !== 'LEAD') throw badInput(`utms.${i}.fieldId is a ${field.entity.toLowerCase()} field; UTMs fill lead fields`, ['utms', i, 'fieldId']);
    const unfillable = unfillableType(field.rawType);
    if (unfillable) throw badInput(`utms.${i}.fieldId ${unfillable}`, ['utms', i, 'fieldId']);
    planned.push({ name, fieldId: field.id });
  });
  return db.utm.createManyAndReturn({
    data: planned.map((p) => ({ accountId: account.id, quizId, ...p })),
    skipDuplicates: true,
  });
}

/** Deletes the caller's UTM mappings among `ids` (global ids); returns the ids it deleted. */
export async function deleteUtms(db: Db, account: AmoAccount | null, ids: (string | number)[]): Promise<string[]> {
  if (ids.length > MAX_UTMS) throw badInput(`ids has more than ${MAX_UTMS} entries`, ['ids']);
  if (!account) return [];
  const byLocal = new Map(ids.map((g) => [localId(g, 'Utm'), String(g)] as const).filter(([local]) => !!local) as [string, string][]);
  const owned = await db.utm.findMany({ where: { id: { in: [...byLocal.keys()] }, accountId: account.id }, select: { id: true } });
  await db.utm.deleteMany({ where: { id: { in: owned.map((u) => u.id) } } });
  return owned.map((u) => byLocal.get(u.id)!);
}
