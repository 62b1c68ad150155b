// What a caller may learn from an error: the contract's codes and our own
// messages; never a stack, SQL, a token or a secret.
import { randomUUID } from 'node:crypto';
import { PothosValidationError } from '@pothos/core';
import { GraphQLError } from 'graphql';
import { AppError } from '../errors.ts';
import type { Logger } from '../logger.ts';

function isOurs(error: GraphQLError): boolean {
  return typeof error.extensions?.code === 'string' && (!error.originalError || error.originalError instanceof GraphQLError);
}

export function createMaskError(logger: Logger) {
  return (error: unknown): Error => {
    if (error instanceof GraphQLError) {
      if (error.originalError instanceof AppError) {
        const { originalError } = error;
        return new GraphQLError(originalError.message, { ...error, extensions: originalError.extensions, originalError: undefined });
      }
      if (isOurs(error) && !error.originalError) return error;
      if (error.originalError instanceof PothosValidationError) {
        return new GraphQLError(error.originalError.message, {
          nodes: error.nodes,
          path: error.path,
          extensions: { code: 'BAD_USER_INPUT' },
        });
      }
      // No path: the request failed before execution (syntax, validation, variable coercion).
      if (!error.path) {
        return new GraphQLError(error.message, { nodes: error.nodes, extensions: { ...error.extensions, code: error.extensions?.code ?? 'BAD_USER_INPUT' } });
      }
    }
    const errorId = randomUUID();
    logger.error({ err: error, errorId }, 'unexpected error in a resolver');
    return new GraphQLError('Internal server error', {
      path: error instanceof GraphQLError ? error.path : undefined,
      extensions: { code: 'INTERNAL', errorId },
    });
  };
}
