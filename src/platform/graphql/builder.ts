import SchemaBuilder from '@pothos/core';
import PrismaPlugin from '@pothos/plugin-prisma';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import ValidationPlugin from '@pothos/plugin-validation';
import { z } from 'zod';
import { Prisma } from '../../generated/prisma/client.ts';
import type PrismaTypes from '../../generated/pothos-types.ts';
import { getDatamodel } from '../../generated/pothos-types.ts';
import type { Context } from '../context.ts';
import { decodeGlobalIdSafely } from '../ids.ts';
import { badInput, unauthenticated } from '../errors.ts';

const pageSize = (name: string) => z.number().int().min(0, `${name} must not be negative`).max(MAX_PAGE_SIZE, `${name} must be at most ${MAX_PAGE_SIZE}`).nullish();

export const MAX_PAGE_SIZE = 100;

const NODE_TYPES = new Set(['Account', 'AmoUser', 'Pipeline', 'Step', 'Field', 'Tag', 'Rule', 'Utm', 'SyncJob', 'Delivery']);

export const builder = new SchemaBuilder<{
  Context: Context;
  PrismaTypes: PrismaTypes;
  AuthScopes: { tenant: boolean };
  Scalars: {
    DateTime: { Input: Date; Output: Date | string };
    BigInt: { Input: bigint; Output: bigint | number | string };
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
