/**
 * A rule's lead-name template, e.g. `Quiz {quizName}: {contactName}`.
 *
 * Placeholders (in braces, spaces inside allowed):
 * - `{quizName}` the result's quizName, else its formName; `{quizId}`, `{resultId}`, `{leadName}` (the result's own)
 * - `{contactName}`, `{contactPhone}`, `{contactEmail}`
 * - `{answer:<question id>}` the answer's values joined by ", " (a file answer: its files' names, else URLs)
 * - `{utm:<key>}` the UTM value (key case-insensitive, e.g. `{utm:utm_source}`)
 * - `{date}` the result's day (YYYY-MM-DD, UTC), `{dateTime}` (YYYY-MM-DD HH:MM, UTC)
 * Anything else in braces, or a `{` without its `}`, is refused when the rule is saved. A
 * placeholder without a value renders empty; runs of spaces become one and the name is trimmed
 * (at most 255 characters, amoCRM's limit). An empty name, or no template, gives the default name.
 */
import type { QuizResult } from './input.ts';

export const LEAD_NAME_MAX = 255;
export const TEMPLATE_MAX = 1000;
const SIMPLE = ['quizName', 'quizId', 'resultId', 'leadName', 'contactName', 'contactPhone', 'contactEmail', 'date', 'dateTime'] as const;
type Simple = (typeof SIMPLE)[number];
export type Part = { text: string } | { name: Simple } | { answer: string } | { utm: string };

/** The template's parts, or why it is refused. */
export function parseLeadNameTemplate(template: string): { ok: true; parts: Part[] } | { ok: false; reason: string } {
  if (template.length > TEMPLATE_MAX) return { ok: false, reason: `is longer than ${TEMPLATE_MAX} characters` };
  const parts: Part[] = [];
  let i = 0;
  while (i < template.length) {
    const open = template.indexOf('{', i);
    if (open < 0) {
      parts.push({ text: template.slice(i) });
      break;
    }
    if (open > i) parts.push({ text: template.slice(i, open) });
    const close = template.indexOf('}', open);
    const inner = close < 0 ? null : template.slice(open + 1, close);
    if (inner === null || inner.includes('{')) return { ok: false, reason: `has a "{" without its "}" at character ${open + 1}` };
    const body = inner.trim();
    const colon = body.indexOf(':');
    const kind = colon < 0 ? body : body.slice(0, colon).trim();
    const arg = colon < 0 ? '' : body.slice(colon + 1).trim();
    if (colon < 0 && (SIMPLE as readonly string[]).includes(body)) parts.push({ name: body as Simple });
    else if (kind === 'answer' && arg) parts.push({ answer: arg });
    else if (kind === 'utm' && arg) parts.push({ utm: arg.toLowerCase() });
    else {
      return { ok: false, reason: `has an unknown placeholder {${inner}} (known: ${SIMPLE.map((s) => `{${s}}`).join(', ')}, {answer:<question id>}, {utm:<key>})` };
    }
    i = close + 1;
  }
  return { ok: true, parts };
}

const iso = (result: QuizResult, now: Date) => result.submittedAt ?? now.toISOString();

function valueOf(part: Exclude<Part, { text: string }>, result: QuizResult, now: Date): string {
  if ('answer' in part) {
    const a = result.answers.find((x) => x.questionId === part.answer);
    if (!a) return '';
    const values = a.values.filter((v) => v.trim() !== '');
    const files = (a.files ?? []).map((f) => f.name ?? f.url);
    return [...values, ...files].join(', ');
  }
  if ('utm' in part) return result.utm?.find((u) => u.key.trim().toLowerCase() === part.utm)?.value ?? '';
  switch (part.name) {
    case 'quizName':
      return result.quizName ?? result.formName ?? '';
    case 'quizId':
      return result.quizId;
    case 'resultId':
      return result.resultId;
    case 'leadName':
      return result.leadName ?? '';
    case 'contactName':
      return result.contact?.name ?? '';
    case 'contactPhone':
      return result.contact?.phone ?? '';
    case 'contactEmail':
      return result.contact?.email ?? '';
    case 'date':
      return iso(result, now).slice(0, 10);
    case 'dateTime':
      return iso(result, now).slice(0, 16).replace('T', ' ');
  }
}

/**
 * The lead's name from `template`; null when there is no template, it does not parse (it was
 * checked when saved) or it renders empty: the caller then keeps the default name.
 */
export function renderLeadName(template: string | null | undefined, result: QuizResult, now: Date): string | null {
  if (!template) return null;
  const parsed = parseLeadNameTemplate(template);
  if (!parsed.ok) return null;
  const text = parsed.parts
    .map((p) => ('text' in p ? p.text : valueOf(p, result, now)))
    .join('')
    .replace(/\s+/g, ' ')
    .trim();
  return text ? [...text].slice(0, LEAD_NAME_MAX).join('').trim() : null;
}
