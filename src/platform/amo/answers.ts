/** Reading amoCRM's answers: Retry-After, network failures, problem+json bodies turned into typed errors. */
import { AmoHttpError, AmoNotFoundError, AmoPaymentRequiredError, AmoValidationError, type AmoError, type AmoValidationIssue } from './errors.ts';
import type { AmoValidationErrorGroup } from './types.ts';

/** Retry-After: seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Network failures after which the request certainly never reached amoCRM. */
export function notSent(err: unknown): boolean {
  const code = (err as { cause?: { code?: string } })?.cause?.code;
  return code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'UND_ERR_CONNECT_TIMEOUT';
}

export function describeNetworkError(err: unknown, timedOut: boolean): string {
  if (timedOut) return 'timed out';
  const code = (err as { cause?: { code?: string } })?.cause?.code;
  return code ? `failed (${code})` : 'failed (network error)';
}

export const isHtml = (contentType: string, text: string) => contentType.includes('text/html') || /^\s*</.test(text);

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function validationIssues(body: unknown): AmoValidationIssue[] {
  const groups = (body as { 'validation-errors'?: AmoValidationErrorGroup[] } | undefined)?.['validation-errors'];
  if (!Array.isArray(groups)) return [];
  const out: AmoValidationIssue[] = [];
  for (const g of groups) {
    const requestId = g?.request_id === undefined || g?.request_id === null ? null : String(g.request_id);
    for (const e of Array.isArray(g?.errors) ? g.errors : []) {
      out.push({ path: String(e?.path ?? ''), code: String(e?.code ?? ''), detail: String(e?.detail ?? ''), requestId });
    }
  }
  return out;
}

/** The error of a final non-2xx answer (not 401, 429, 5xx or the 403 block page): `what` is "METHOD /path". */
export function rejection(what: string, status: number, body: Record<string, unknown> | undefined, detail: string | undefined, accountId: string): AmoError {
  if (status === 402) return new AmoPaymentRequiredError(`amoCRM: ${detail ?? 'payment required / feature disabled'} (${what})`, { status, accountId });
  if (status === 404) return new AmoNotFoundError(`amoCRM: ${detail ?? 'not found'} (${what})`, { status, accountId });
  if (status === 400 || status === 422) {
    const issues = validationIssues(body);
    const listed = issues
      .slice(0, 5)
      .map((i) => `${i.path || '(entity)'}: ${i.detail || i.code}${i.code ? ` [${i.code}]` : ''}${i.requestId !== null ? ` (request ${i.requestId})` : ''}`)
      .join('; ');
    const more = issues.length > 5 ? `; and ${issues.length - 5} more` : '';
    const message = issues.length ? `amoCRM rejected ${what}: ${listed}${more}` : `amoCRM rejected ${what}: ${detail ?? `status ${status}`}`;
    return new AmoValidationError(message, issues, { status, accountId, detail });
  }
  return new AmoHttpError(`amoCRM answered ${status} to ${what}${detail ? `: ${detail}` : ''}`, { status, accountId });
}

/** amoCRM answers `request_id` as an array of strings (sometimes a plain string): always an array here. */
export function normalizeRequestId(v: unknown): string[] {
  if (Array.isArray(v)) return v.map(String);
  if (v === undefined || v === null || v === '') return [];
  return [String(v)];
}
