import SchemaBuilder from '@pothos/core';
import PrismaPlugin from '@pothos/plugin-prisma';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import ValidationPlugin from '@pothos/plugin-validation';
import { z } from 'zod';
import { Prisma } from '../generated/prisma/client.ts';
import type PrismaTypes from '../generated/pothos-types.ts';
import { getDatamodel } from '../generated/pothos-types.ts';
import type { Context } from '../context.ts';
import { badInput, unauthenticated } from '../errors.ts';

const pageSize = (name: string) =>
  z.number().int().min(0, `${name} must not be negative`).max(MAX_PAGE_SIZE, `${name} must be at most ${MAX_PAGE_SIZE}`).nullish();

export const MAX_PAGE_SIZE = 100;

const NODE_TYPES = new Set(['Account', 'AmoUser', 'Pipeline', 'Step', 'Field', 'Tag', 'Rule', 'Utm', 'SyncJob', 'Delivery']);

/** Relay's own encoding (base64 of "Type:id"), decoded without throwing. */
export function decodeGlobalIdSafely(globalID: string): { typename: string; id: string } {
  const decoded = Buffer.from(String(globalID), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return { typename: '', id: '' };
  return { typename: decoded.slice(0, colon), id: decoded.slice(colon + 1) };
}

export const builder = new SchemaBuilder<{
  Context: Context;
  PrismaTypes: PrismaTypes;
  AuthScopes: { tenant: boolean };
  Scalars: {
    DateTime: { Input: Date; Output: Date | string };
    ID: { Input: string; Output: string | number };
  };
  DefaultFieldNullability: false;
}>({
  plugins: [ScopeAuthPlugin, PrismaPlugin, RelayPlugin, ValidationPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    authorizeOnSubscribe: true,
    authScopes: (ctx) => ({ tenant: !!ctx.caller?.quizAccountId }),
    unauthorizedError: () => unauthenticated(),
  },
  prisma: {
    // The client is taken from the context: tests and replicas bring their own.
    client: (ctx) => ctx.db,
    dmmf: getDatamodel(),
    exposeDescriptions: false,
    filterConnectionTotalCount: true,
    onUnusedQuery: null,
    maxConnectionSize: MAX_PAGE_SIZE,
    defaultConnectionSize: 25,
  },
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    nodesQueryOptions: false,
    // A malformed id, or one of a type that is no node, is simply not found (null), never an error.
    decodeGlobalID: (globalID) => decodeGlobalIdSafely(globalID),
    nodeQueryOptions: {
      resolve: (_root, { id }, _ctx, _info, resolveNode) => (NODE_TYPES.has(id.typename) ? resolveNode(id) : null),
    },
    // The contract: first/last default to 25 and more than 100 is refused, not silently cut.
    firstArgOptions: { validate: pageSize('first') },
    lastArgOptions: { validate: pageSize('last') },
  },
  validation: {
    validationError: (result) => {
      const issue = result.issues[0];
      const path = issue?.path?.map((p) => (typeof p === 'object' ? p.key : p)) as (string | number)[] | undefined;
      return badInput(issue?.message ?? 'Invalid input', path);
    },
  },
});

export { Prisma };
