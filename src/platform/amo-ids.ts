// amoCRM ids: 64-bit integers in its API, BIGINT in the database (Prisma reads them as bigint), plain
// numbers in the code and the amoCRM client. Every id amoCRM issues is below 2^53, where a number is exact.

/** A stored amoCRM id as the number the code works with. */
export function amoId(value: bigint | number): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new RangeError(`amoCRM id ${value} is beyond 2^53`);
  return n;
}

/** `amoId` of a column that may be empty. */
export function amoIdOrNull(value: bigint | number | null | undefined): number | null {
  return value === null || value === undefined ? null : amoId(value);
}
