/**
 * The numeric rule: how an answer's text reads as a number, for a lead's price (price.ts) and for
 * numeric / price / monetary custom fields (convert.ts). contract/README.md documents it.
 *
 * - spaces anywhere are ignored (also no-break and thin spaces): `15 000` → 15000;
 * - `,` and `.` both present: the last one is the decimal separator, the others (one kind only)
 *   group thousands: `1,500.50` → 1500.50, `1.500,50` → 1500.50;
 * - the same one several times groups thousands: `1,500,000` → 1500000;
 * - once: followed by exactly three digits, with 1–3 digits before it (not starting with 0), it
 *   groups thousands — quiz owners writing `15,000` or `1.500` mean fifteen thousand and one
 *   thousand five hundred far more often than 15.000 and 1.500; otherwise it is the decimal
 *   separator: `1,5`, `1.50`, `15,0000`, `1234,567`, `0,500`, `,5`;
 * - grouped thousands are 1–3 digits, then groups of exactly three: `1,50,0` is not a number.
 */

/** A number read by the rule: its sign, integer digits (no leading zeros) and decimal digits. */
export interface ReadNumber {
  negative: boolean;
  int: string;
  frac: string;
}

const GROUPED = /^[1-9]\d{0,2}$/;

/** Reads `answer` by the numeric rule; null when it is not a number. */
export function readNumber(answer: string): ReadNumber | null {
  let s = answer.replace(/[\s\u00a0\u2007\u202f]+/g, '');
  const negative = s.startsWith('-');
  if (/^[+-]/.test(s)) s = s.slice(1);
  if (!/^[\d.,]*\d$/.test(s)) return null;
  const seps = s.replace(/\d/g, '');
  let int = s;
  let frac = '';
  if (seps.length > 0) {
    const last = Math.max(s.lastIndexOf(','), s.lastIndexOf('.'));
    const mixed = seps.includes(',') && seps.includes('.');
    const thousandsOnce = seps.length === 1 && GROUPED.test(s.slice(0, last)) && /^\d{3}$/.test(s.slice(last + 1));
    if (mixed || (seps.length === 1 && !thousandsOnce)) {
      // the last separator is the decimal one; the others (one kind only) group thousands
      const groups = s.slice(0, last);
      if (mixed && new Set(groups.replace(/\d/g, '')).size > 1) return null;
      if (groups.includes(s[last] as string)) return null;
      int = groups;
      frac = s.slice(last + 1);
    }
    const grouped = int.split(/[.,]/);
    if (grouped.length > 1 && (!GROUPED.test(grouped[0] ?? '') || grouped.slice(1).some((g) => !/^\d{3}$/.test(g)))) return null;
    int = grouped.join('');
  }
  return { negative, int: int.replace(/^0+(?=\d)/, '') || '0', frac };
}
