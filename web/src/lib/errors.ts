// The gateway's errors as the page shows them: the contract's extensions.code, and for
// BAD_USER_INPUT the offending input's path (extensions.issues / extensions.field).
import { CombinedGraphQLErrors, ServerError } from '@apollo/client/errors';

export function errorCodes(error: unknown): string[] {
  if (CombinedGraphQLErrors.is(error)) return error.errors.map((e) => String(e.extensions?.code ?? ''));
  if (ServerError.is(error) && error.statusCode === 401) return ['UNAUTHENTICATED'];
  return [];
}

export const hasCode = (error: unknown, code: string) => errorCodes(error).includes(code);

/** BAD_USER_INPUT messages by input path ("input.fieldsRule.lead.1.questionId" → "… is mapped more than once …"). */
export function inputIssues(error: unknown): Map<string, string> {
  const issues = new Map<string, string>();
  if (!CombinedGraphQLErrors.is(error)) return issues;
  for (const e of error.errors) {
    if (e.extensions?.code !== 'BAD_USER_INPUT') continue;
    const list = e.extensions.issues as { path: string; message: string }[] | undefined;
    if (Array.isArray(list)) for (const i of list) issues.set(i.path, i.message);
    else if (typeof e.extensions.field === 'string') issues.set(e.extensions.field, e.message);
  }
  return issues;
}

/** One line for the owner: the server's message (never a stack: the gateway masks those). */
export function errorText(error: unknown): string {
  if (CombinedGraphQLErrors.is(error)) return error.errors.map((e) => e.message).join('; ');
  if (error instanceof Error) return error.message;
  return String(error);
}
