// A rule's optional extras: the lead-name template, the price question and tags by name.
// Checked when the rule is saved (every problem names its input path); used on delivery
// (src/features/delivery/lead-name.ts, price.ts, tag-names.ts).
//
// On save, a field left out (undefined) is not written: a new rule gets the default (no template,
// no price question, no tag names), a changed one keeps what it had; null clears it.
// tagNamesToAdd given replaces every entity's names (an entity left out then has none).
import { parseLeadNameTemplate } from '../delivery/index.ts';

export const TAG_NAME_MAX = 255;
const MAX_NAMES = 100;
const MAX_QUESTION_ID = 255;
const ENTITY_KEYS = ['lead', 'contact', 'company', 'customer'] as const;
type EntityKey = (typeof ENTITY_KEYS)[number];

export interface RuleExtrasInput {
  leadNameTemplate?: string | null;
  priceQuestionId?: string | number | null;
  tagNamesToAdd?: Partial<Record<EntityKey, string[] | null>> | null;
}
export interface ResolvedExtras {
  leadNameTemplate?: string | null;
  priceQuestionId?: string | null;
  tagNames?: Partial<Record<EntityKey, string[]>>;
}

type Path = (string | number)[];

/** The extras of `input` as they are to be stored; problems pushed to `issues`. */
export function resolveRuleExtras(input: RuleExtrasInput, base: Path, issues: { path: Path; message: string }[]): ResolvedExtras {
  const out: ResolvedExtras = {};

  if (input.leadNameTemplate !== undefined) {
    const template = input.leadNameTemplate?.trim() ?? '';
    if (template === '') out.leadNameTemplate = null;
    else {
      const parsed = parseLeadNameTemplate(template);
      if (parsed.ok) out.leadNameTemplate = template;
      else issues.push({ path: [...base, 'leadNameTemplate'], message: parsed.reason });
    }
  }

  if (input.priceQuestionId !== undefined) {
    const id = input.priceQuestionId === null ? '' : String(input.priceQuestionId).trim();
    if (input.priceQuestionId === null) out.priceQuestionId = null;
    else if (id === '') issues.push({ path: [...base, 'priceQuestionId'], message: 'must not be empty (null clears it)' });
    else if (id.length > MAX_QUESTION_ID) issues.push({ path: [...base, 'priceQuestionId'], message: `is longer than ${MAX_QUESTION_ID} characters` });
    else out.priceQuestionId = id;
  }

  if (input.tagNamesToAdd !== undefined) {
    const names: Partial<Record<EntityKey, string[]>> = {};
    for (const key of ENTITY_KEYS) {
      const list = input.tagNamesToAdd?.[key];
      if (!list?.length) continue;
      const path = [...base, 'tagNamesToAdd', key];
      if (list.length > MAX_NAMES) {
        issues.push({ path, message: `has more than ${MAX_NAMES} entries` });
        continue;
      }
      const seen = new Map<string, number>();
      const kept: string[] = [];
      list.forEach((raw, i) => {
        const name = raw.trim().replace(/\s+/g, ' ');
        if (name === '') return issues.push({ path: [...path, i], message: 'must not be empty' });
        if ([...name].length > TAG_NAME_MAX) return issues.push({ path: [...path, i], message: `is longer than ${TAG_NAME_MAX} characters` });
        const first = seen.get(name.toLowerCase());
        if (first !== undefined) {
          return issues.push({ path: [...path, i], message: `"${name}" is already entry ${first} (amoCRM matches tag names case-insensitively)` });
        }
        seen.set(name.toLowerCase(), i);
        kept.push(name);
      });
      names[key] = kept;
    }
    out.tagNames = names;
  }
  return out;
}

/** The rule's columns for the extras given (left out: not written). */
export function extrasColumns(e: ResolvedExtras) {
  return {
    ...(e.leadNameTemplate !== undefined ? { leadNameTemplate: e.leadNameTemplate } : {}),
    ...(e.priceQuestionId !== undefined ? { priceQuestionId: e.priceQuestionId } : {}),
    ...(e.tagNames !== undefined ? { tagNames: e.tagNames } : {}),
  };
}
