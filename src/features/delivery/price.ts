/**
 * The lead's price from the answer to the rule's price question.
 *
 * The rule (amoCRM's `price` is a whole number): the numeric rule (number-rule.ts, contract/README.md)
 * — `15 000` → 15000, `15,000` → 15000, `1.500` → 1500, `1,500.50` → 1501, `1,5` → 2 — and:
 * - one currency sign or word before or after is ignored: ₽ $ € £ ¥ ₸ ₴ руб руб. р. rub usd eur (any case);
 * - the decimals are rounded half up; negative numbers, more than 2 147 483 647 and anything else
 *   (`1,5k`, `about 100`) are not a price: the lead gets none and the delivery a warning.
 * - A question with several values: the first non-empty one.
 */
import type { QuizResult } from './input.ts';
import type { Problem } from './payload-types.ts';
import { readNumber } from './number-rule.ts';

const MAX_PRICE = 2_147_483_647;
const CURRENCY = /^(?:₽|\$|€|£|¥|₸|₴|руб\.?|р\.?|rub|usd|eur)|(?:₽|\$|€|£|¥|₸|₴|руб\.?|р\.?|rub|usd|eur)$/iu;

/** The whole-number price an answer says, or null when it is not a price. */
export function parsePrice(answer: string): number | null {
  const n = readNumber(answer.replace(/[\s\u00a0\u2007\u202f]+/g, '').replace(CURRENCY, ''));
  if (!n || n.negative) return null;
  const rounded = Math.floor(Number(`${n.int}.${n.frac || '0'}`) + 0.5);
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
      reason: 'is not a price (digits, spaces, thousands grouped by , or . and a decimal , or .): the lead has no price from it',
    },
  };
}
