// Ids as callers send them: Relay global ids ("Type:uuid" in base64) decoded
// without throwing, so a malformed or foreign id is simply not found.

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A UUID no row has: ids that are not UUIDs find nothing instead of failing in SQL. */
export const NIL_UUID = '00000000-0000-0000-0000-000000000000';

export const uuidOrNil = (id: string | number): string => (UUID.test(String(id)) ? String(id) : NIL_UUID);

/** Relay's own encoding (base64 of "Type:id"), decoded without throwing. */
export function decodeGlobalIdSafely(globalID: string): { typename: string; id: string } {
  const decoded = Buffer.from(String(globalID), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return { typename: '', id: '' };
  return { typename: decoded.slice(0, colon), id: decoded.slice(colon + 1) };
}

/**
 * The database id inside a Relay global id of the expected type, or null when
 * the id is malformed or names another type.
 */
export function localId(globalId: string | number, typename: string): string | null {
  const { typename: actual, id } = decodeGlobalIdSafely(String(globalId));
  return actual === typename ? uuidOrNil(id) : null;
}
