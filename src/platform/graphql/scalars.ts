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
