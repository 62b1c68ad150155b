import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client.ts';
import { amoIdOrNull } from './amo-ids.ts';

export type Db = PrismaClient;
export { Prisma } from '../generated/prisma/client.ts';

export interface DbOptions {
  /** Pool size; the embedded database serves few connections. */
  max?: number;
  /** Called with every SQL statement (tests count them). */
  /** every statement, with how long it took (ms, Prisma's measure) */
  onQuery?: (sql: string, durationMs: number) => void;
}

/**
 * The BIGINT columns holding amoCRM ids (migration 20261203152700_amo_ids_bigint). They are read as
 * numbers, as amoCRM's JSON and the amoCRM client carry them: every id amoCRM issues is below 2^53,
 * where a number is exact. Prisma's generated types still say bigint; code converts through
 * `amoId()` (src/platform/amo-ids.ts), which takes either. Raw SQL ($queryRaw) still gives bigint.
 */
const AMO_ID_COLUMNS = {
  amoAccount: ['amoId', 'resultFieldId'],
  amoUser: ['amoId', 'role', 'group'],
  pipeline: ['amoId'],
  step: ['amoId'],
  customField: ['amoId'],
  tag: ['amoId'],
  delivery: ['amoLeadId', 'amoContactId', 'amoCompanyId', 'amoCustomerId', 'leadPipelineAmoId', 'leadStatusAmoId', 'assignedUserAmoId', 'amoTaskId'],
  amoRateLimit: ['amoId'],
} as const;
const AMO_ID_KEYS = new Set<string>(Object.values(AMO_ID_COLUMNS).flat());

/** Rewrites, in place, every amoCRM id column of a result (relations included) as a number; other bigints stay. */
function amoIdsAsNumbers<T>(value: T): T {
  if (Array.isArray(value)) {
    for (const item of value) amoIdsAsNumbers(item);
  } else if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const row = value as Record<string, unknown>;
    for (const key of Object.keys(row)) {
      const v = row[key];
      if (typeof v === 'bigint') {
        if (AMO_ID_KEYS.has(key)) row[key] = amoIdOrNull(v);
      } else if (v !== null && typeof v === 'object') amoIdsAsNumbers(v);
    }
  }
  return value;
}

export function createDb(databaseUrl: string, options: DbOptions = {}): Db {
  const adapter = new PrismaPg({ connectionString: databaseUrl, max: options.max ?? 10 });
  const db = new PrismaClient({
    adapter,
    log: options.onQuery ? [{ emit: 'event', level: 'query' }] : [],
  });
  if (options.onQuery) {
    const onQuery = options.onQuery;
    (db as unknown as { $on(event: 'query', cb: (e: { query: string; duration: number }) => void): void }).$on('query', (e) => onQuery(e.query, Number(e.duration)));
  }
  return db.$extends({ query: { $allModels: { $allOperations: async ({ args, query }) => amoIdsAsNumbers(await query(args)) } } }) as unknown as Db;
}
