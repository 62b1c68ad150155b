import { AppError } from '../errors.ts';
import { builder } from './builder.ts';

// ISO-8601 with a time zone, as the contract says.
const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;

export function parseDateTime(value: unknown): Date {
  if (typeof value !== 'string' || !ISO_WITH_ZONE.test(value)) {
    throw new TypeError('DateTime must be an ISO-8601 string with a time zone, e.g. 2026-11-21T10:00:00.000Z');
  }
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw new TypeError(`Invalid DateTime: ${value}`);
  return date;
}

builder.scalarType('DateTime', {
  description: 'ISO-8601 string with time zone, e.g. 2026-11-21T10:00:00.000Z',
  serialize: (value) => (value instanceof Date ? value.toISOString() : new Date(value).toISOString()),
  parseValue: parseDateTime,
});

// amoCRM ids are 64-bit; GraphQL's Int is 32-bit. The contract's Int fields stay and answer while the id
// fits (int32); each has a BigInt twin full<Name> that always answers (GitHub's databaseId/fullDatabaseId).
builder.scalarType('BigInt', {
  description: 'A whole number that may exceed 32 bits (an amoCRM id), encoded as a decimal string.',
  serialize: (value) => BigInt(value as bigint | number | string).toString(),
  parseValue: (value) => {
    if ((typeof value === 'string' && /^-?\d{1,19}$/.test(value)) || (typeof value === 'number' && Number.isSafeInteger(value))) return BigInt(value);
    throw new TypeError('BigInt must be a whole number, as a decimal string');
  },
});

const INT32_MAX = 2 ** 31 - 1;

/** An amoCRM id for a contract Int field: refused with a pointer to its BigInt twin when it does not fit 32 bits. */
export function int32(value: bigint | number, field: string): number {
  const n = Number(value);
  if (n > INT32_MAX || n < -INT32_MAX - 1) {
    throw new AppError('INTERNAL', `${field} ${value} does not fit GraphQL's 32-bit Int: read full${field[0]!.toUpperCase()}${field.slice(1)}`);
  }
  return n;
}

/** `int32` of a nullable column. */
export function int32OrNull(value: bigint | number | null | undefined, field: string): number | null {
  return value === null || value === undefined ? null : int32(value, field);
}
