/**
 * The lead's price from the answer to the rule's price question.
 *
 * The rule (amoCRM's `price` is a whole number):
 * - spaces anywhere are ignored (also no-break and thin spaces): `15 000` → 15000;
 * - one currency sign or word before or after is ignored: ₽ $ € £ ¥ ₸ ₴ руб руб. р. rub usd eur (any case);
 * - `,` and `.` both present: the last one is the decimal separator, the others group thousands
 *   (`1,500.50` → 1501, `1.500,50` → 1501); the same one several times groups thousands
 *   (`1,500,000` → 1500000); once, it is the decimal separator (`1,5` → 2, `1.5` → 2) — as
 *   numeric fields read answers (contract/README.md);
 * - the decimals are rounded half up; negative numbers, more than 2 147 483 647 and anything else
 *   (`1,5k`, `about 100`) are not a price: the lead gets none and the delivery a warning.
 * - A question with several values: the first non-empty one.
 */
import type { QuizResult } from './input.ts';
import type { Problem } from './payload-types.ts';

const MAX_PRICE = 2_147_483_647;
const CURRENCY = /^(?:₽|\$|€|£|¥|₸|₴|руб\.?|р\.?|rub|usd|eur)|(?:₽|\$|€|£|¥|₸|₴|руб\.?|р\.?|rub|usd|eur)$/iu;

/** The whole-number price an answer says, or null when it is not a price. */
export function parsePrice(answer: string): number | null {
  let s = answer.replace(/[\s\u00a0\u2007\u202f]+/g, '');
  s = s.replace(CURRENCY, '');
  if (!/^\d[\d.,]*$/.test(s) || /[.,]$/.test(s)) return null;
  const seps = s.replace(/\d/g, '');
  let int = s;
  let frac = '';
  if (seps.length > 0) {
    const last = Math.max(s.lastIndexOf(','), s.lastIndexOf('.'));
    const mixed = seps.includes(',') && seps.includes('.');
    if (mixed || seps.length === 1) {
      // the last separator is the decimal one; the others (one kind only) group thousands
      const groups = s.slice(0, last);
      if (mixed && new Set(groups.replace(/\d/g, '')).size > 1) return null;
      if (groups.includes(s[last] as string)) return null;
      int = groups;
      frac = s.slice(last + 1);
    }
    const grouped = int.split(/[.,]/);
    if (grouped.length > 1 && (!/^\d{1,3}$/.test(grouped[0] ?? '') || grouped.slice(1).some((g) => !/^\d{3}$/.test(g)))) return null;
    int = grouped.join('');
  }
  const value = Number(`${int}.${frac || '0'}`);
  const rounded = Math.floor(value + 0.5);
  return Number.isFinite(rounded) && rounded <= MAX_PRICE ? rounded : null;
}

/**
 * The price the rule's question gives: `price` when it parses; `problem` when the question was
 * answered with something that is not a price; neither when it was not answered.
 */
export function priceFromAnswer(result: QuizResult, questionId: string | null | undefined): { price?: number; problem?: Problem } {
  if (!questionId) return {};
  const a = result.answers.find((x) => x.questionId === questionId);
  const raw = a?.values.find((v) => v.trim() !== '');
  if (!a || raw === undefined) return {};
  const price = parsePrice(raw);
  if (price !== null) return { price };
  const source = a.title ? `"${a.title}" (${a.questionId})` : a.questionId;
  return {
    problem: {
      where: `lead price ← question ${source}`,
      value: raw,
      reason: 'is not a price (digits, spaces, one , or . as the decimal separator): the lead has no price from it',
    },
  };
}
