/** The note every lead gets: the result id (the marker reconcile reads), every answer, the contact, UTMs, and what did not fit. */
import type { QuizResult } from './input.ts';
import { noteMarker, type Problem } from './payload-types.ts';
import { problemLine } from './payload-values.ts';

/**
 * The note of a lead: the result id, its time, every question (title or id) with its answer, the
 * contact, the UTMs, and the values that did not convert with why (the customer part: customers.ts).
 */
export function buildNote(result: QuizResult, extra: { problems: Problem[]; now?: Date }): string {
  const lines: string[] = [];
  lines.push(`Quiz ${result.quizId}`);
  lines.push(noteMarker(result.resultId));
  lines.push(`Submitted at: ${result.submittedAt ?? (extra.now ?? new Date()).toISOString()}`);
  lines.push('');
  lines.push('Answers:');
  if (result.answers.length === 0) lines.push('(none)');
  result.answers.forEach((a, i) => {
    // a file answer: each file's name (when given) and URL
    const shown = [...a.values, ...(a.files ?? []).map((f) => (f.name ? `${f.name} (${f.url})` : f.url))];
    lines.push(`${i + 1}. ${a.title ?? a.questionId}: ${shown.length ? shown.join(', ') : '(no answer)'}`);
  });
  const c = result.contact;
  const contactLines = [
    c?.name ? `Name: ${c.name}` : null,
    c?.phone ? `Phone: ${c.phone}` : null,
    c?.email ? `Email: ${c.email}` : null,
    ...(c?.extra ?? []).map((kv) => `${kv.key}: ${kv.value}`),
  ].filter((x): x is string => x !== null);
  if (contactLines.length) {
    lines.push('');
    lines.push('Contact:');
    lines.push(...contactLines);
  }
  if (result.utm?.length) {
    lines.push('');
    lines.push('UTM:');
    for (const u of result.utm) lines.push(`${u.key}: ${u.value}`);
  }
  if (extra.problems.length) {
    lines.push('');
    lines.push('Not transferred to fields:');
    for (const p of extra.problems) lines.push(`- ${problemLine(p)}`);
  }
  return lines.join('\n');
}
