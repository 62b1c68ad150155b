// updateQuizRule changes only what its input names. The saved rule is read back in RuleInput's
// shape (storedAsInput), the caller's input is laid over it as a JSON Merge Patch (RFC 7386), and
// the result is checked like a new rule (resolveRuleInput): an omitted field is kept, an explicit
// null clears it (performer: amoCRM's default; toUnsorted, mergeDuplicates: false; a mapping or tag
// list: none), a list given replaces that list as a whole, and a field a rule cannot do without
// (pipelineId, stepId) is refused when cleared.
//
// A new optional RuleInput field needs one line in storedAsInput (so an update that omits it keeps
// it) and its check in resolveRuleInput; the merge itself needs nothing.
import type { Prisma } from '../../generated/prisma/client.ts';
import type { RuleInput } from './rules.ts';

type Json = unknown;
const isObject = (v: Json): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** RFC 7386: objects merge key by key (null removes the key), anything else replaces; absent keys keep. */
export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return patch;
  const out: Record<string, Json> = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

/** The saved rule with the caller's changes: what resolveRuleInput checks and updateRule writes. */
export const mergeRuleInput = (current: RuleInput, patch: RuleInput): RuleInput => mergePatch(current, patch) as RuleInput;

/** Whether `path` (below the input) was named by the caller's patch, rather than kept from the saved rule. */
export function namedByPatch(patch: Json, path: (string | number)[]): boolean {
  let at: Json = patch;
  for (const key of path) {
    // a list given replaces the saved one as a whole: everything in it is the caller's
    if (Array.isArray(at)) return true;
    if (!isObject(at) || !(key in at) || at[key] === undefined) return false;
    at = at[key];
  }
  return true;
}

const globalId = (type: string, id: string) => Buffer.from(`${type}:${id}`).toString('base64');

export type StoredRule = Prisma.RuleGetPayload<{ include: { mappings: true; tags: true } }>;

/** The saved rule as the RuleInput that would create it (global ids, lists in their saved order). */
export function storedAsInput(rule: StoredRule): RuleInput {
  const mappings = [...rule.mappings].sort((a, b) => a.position - b.position);
  const questions = (target: StoredRule['mappings'][number]['target']) =>
    mappings.filter((m) => m.target === target && m.source === 'QUESTION').map((m) => ({ questionId: m.key, fieldId: globalId('Field', m.fieldId) }));
  const tags = [...rule.tags].sort((a, b) => a.position - b.position);
  const tagsOf = (entity: StoredRule['tags'][number]['entity']) => tags.filter((t) => t.entity === entity).map((t) => globalId('Tag', t.tagId));
  return {
    ...(rule.performerId ? { performerId: globalId('AmoUser', rule.performerId) } : {}),
    pipelineId: globalId('Pipeline', rule.pipelineId),
    stepId: globalId('Step', rule.stepId),
    fieldsRule: {
      lead: questions('LEAD'),
      contact: {
        properties: mappings.filter((m) => m.target === 'CONTACT' && m.source === 'PROPERTY').map((m) => ({ property: m.key, fieldId: globalId('Field', m.fieldId) })),
        questions: questions('CONTACT'),
      },
      company: questions('COMPANY'),
      customer: questions('CUSTOMER'),
    },
    tagsToAdd: { lead: tagsOf('LEAD'), contact: tagsOf('CONTACT'), company: tagsOf('COMPANY'), customer: tagsOf('CUSTOMER') },
    toUnsorted: rule.toUnsorted,
    mergeDuplicates: rule.mergeDuplicates,
  };
}
