// Errors a caller may see, each with the contract's extensions.code.
import { GraphQLError } from 'graphql';

export type ErrorCode = 'UNAUTHENTICATED' | 'BAD_USER_INPUT' | 'NOT_FOUND' | 'CONFLICT' | 'ACCOUNT_NOT_CONNECTED' | 'ACCOUNT_STALE' | 'RATE_LIMITED' | 'INTERNAL';

export class AppError extends GraphQLError {
  constructor(code: ErrorCode, message: string, extra: Record<string, unknown> = {}) {
    super(message, { extensions: { ...extra, code } });
  }
}

export const unauthenticated = (message = 'A valid bearer token is required') => new AppError('UNAUTHENTICATED', message, { http: { status: 401 } });

/** `path` names the offending input, e.g. ["input", "fieldsRule", "lead", 0, "fieldId"]. */
export const badInput = (message: string, path?: (string | number)[]) => new AppError('BAD_USER_INPUT', message, path ? { field: path.join('.'), inputPath: path } : {});

export const notFound = (what: string) => new AppError('NOT_FOUND', `${what} not found`);
export const conflict = (message: string) => new AppError('CONFLICT', message);
export const accountNotConnected = () => new AppError('ACCOUNT_NOT_CONNECTED', 'No amoCRM account is connected: call connectAccount first');
export const accountStale = () => new AppError('ACCOUNT_STALE', 'The amoCRM account must be connected again: its tokens can no longer be refreshed');
