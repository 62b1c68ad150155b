/**
 * A lead amoCRM refused is not lost when the refusal names a part the lead can go without. Real
 * accounts change after our last sync: a field, tag or user deleted, a user deactivated, Unsorted
 * switched off, a step that requires a field the quiz did not fill. Each such part is taken out
 * (the answers stay in the note) and the lead is sent again, with a warning saying what changed.
 * A refusal of anything else, or of a lead already repaired the same way, is final (FAILED).
 */
import type { AmoComplexLeadInput, AmoCustomFieldValue, AmoValidationIssue } from '../../platform/amo/index.ts';

export interface Repaired {
  lead: AmoComplexLeadInput;
  /** one line per part taken out, for the Delivery's warnings and the note */
  warnings: string[];
}

type Entity = { custom_fields_values?: AmoCustomFieldValue[]; responsible_user_id?: number; _embedded?: { tags?: unknown[] } };

const why = (i: AmoValidationIssue) => `${i.detail || i.code}${i.code && i.detail ? ` [${i.code}]` : ''}`;

/** Removes the listed indexes of an array (highest first, so the others keep theirs). */
function dropIndexes<T>(list: T[] | undefined, indexes: number[]): T[] | undefined {
  if (!list) return list;
  const out = list.filter((_, k) => !indexes.includes(k));
  return out.length ? out : undefined;
}

/**
 * The lead without the parts `issues` name, or null when one of them is nothing the lead can go
 * without. `stepAmoId` is the rule's step, used when Unsorted is refused. Several issues may name
 * the same part (the responsible user of lead and contact): each part is taken out once.
 */
export function repairLead(sent: AmoComplexLeadInput, issues: AmoValidationIssue[], options: { stepAmoId?: number } = {}): Repaired | null {
  const lead = structuredClone(sent);
  const warnings: string[] = [];
  const fieldDrops = new Map<Entity, number[]>();
  const tagDrops = new Map<Entity, number[]>();
  const done = new Set<string>();
  const once = (key: string, warning: string) => {
    if (done.has(key)) return;
    done.add(key);
    warnings.push(warning);
  };
  const entityAt = (prefix: string | undefined): Entity | undefined => {
    if (!prefix) return lead as Entity;
    const [kind, index] = prefix.split('.');
    const list = kind === 'contacts' ? lead._embedded?.contacts : lead._embedded?.companies;
    return list?.[Number(index)] as Entity | undefined;
  };
  const word = (prefix: string | undefined) => (!prefix ? 'lead' : prefix.startsWith('contacts') ? 'contact' : 'company');

  for (const issue of issues) {
    const path = issue.path.replace(/\[(\d+)\]/g, '.$1');
    const m = /^(?:_embedded\.((?:contacts|companies)\.\d+)\.)?(.*)$/.exec(path);
    const prefix = m?.[1];
    const rest = m?.[2] ?? path;
    const entity = entityAt(prefix);
    if (!entity) return null;
    let cf: RegExpExecArray | null;
    let tag: RegExpExecArray | null;
    if ((cf = /^custom_fields_values\.(\d+)(\..*)?$/.exec(rest))) {
      const k = Number(cf[1]);
      const entry = entity.custom_fields_values?.[k];
      if (!entry) return null;
      if (!done.has(`f:${prefix}:${k}`)) fieldDrops.set(entity, [...(fieldDrops.get(entity) ?? []), k]);
      once(`f:${prefix}:${k}`, `${word(prefix)} field #${entry.field_id ?? entry.field_code} refused by amoCRM (${why(issue)}): left out, the answer is in the note`);
    } else if ((tag = /^_embedded\.tags\.(\d+)(\..*)?$/.exec(rest))) {
      const k = Number(tag[1]);
      if (!entity._embedded?.tags?.[k]) return null;
      if (!done.has(`t:${prefix}:${k}`)) tagDrops.set(entity, [...(tagDrops.get(entity) ?? []), k]);
      once(`t:${prefix}:${k}`, `${word(prefix)} tag refused by amoCRM (${why(issue)}): not added`);
    } else if (rest === 'responsible_user_id') {
      if (entity.responsible_user_id === undefined) return null;
      // amoCRM then assigns the lead to the integration's own user
      once('responsible', `responsible user #${entity.responsible_user_id} refused by amoCRM (${why(issue)}): amoCRM assigned its default user`);
    } else if (!prefix && rest === '_embedded.metadata') {
      if (!sent._embedded?.metadata) return null;
      once('metadata', `Unsorted refused by amoCRM (${why(issue)}): the lead went straight to the rule's step`);
    } else if (!prefix && rest === 'pipeline_id') {
      if (sent.pipeline_id === undefined) return null;
      once('pipeline', `pipeline #${sent.pipeline_id} refused by amoCRM (${why(issue)}): the lead is in the main pipeline's first step; check the quiz's rule`);
    } else if (!prefix && (rest === 'status_id' || (issue.code === 'FieldMissing' && /^custom_fields_values/.test(rest)))) {
      // a deleted step, or a step that requires a field the quiz did not fill
      if (sent.status_id === undefined && !sent._embedded?.metadata) return null;
      if (!done.has('pipeline'))
        once('status', `step #${sent.status_id ?? options.stepAmoId} refused by amoCRM (${why(issue)}): the lead is in the pipeline's first step; check the quiz's rule`);
    } else {
      return null;
    }
  }
  const all = [lead as Entity, ...((lead._embedded?.contacts ?? []) as Entity[]), ...((lead._embedded?.companies ?? []) as Entity[])];
  if (done.has('responsible')) for (const e of all) delete e.responsible_user_id;
  if (done.has('metadata') && lead._embedded) {
    delete lead._embedded.metadata;
    if (options.stepAmoId !== undefined) lead.status_id = options.stepAmoId;
  }
  if (done.has('pipeline')) {
    delete lead.pipeline_id;
    delete lead.status_id;
    if (lead._embedded) delete lead._embedded.metadata;
  }
  if (done.has('status')) delete lead.status_id;
  for (const [entity, indexes] of fieldDrops) entity.custom_fields_values = dropIndexes(entity.custom_fields_values, indexes);
  for (const [entity, indexes] of tagDrops) if (entity._embedded) entity._embedded.tags = dropIndexes(entity._embedded.tags, indexes);
  for (const entity of all) {
    if (!entity.custom_fields_values) delete entity.custom_fields_values;
    if (entity._embedded && !entity._embedded.tags) delete entity._embedded.tags;
  }
  return warnings.length ? { lead, warnings } : null;
}
