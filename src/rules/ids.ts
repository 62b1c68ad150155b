import { decodeGlobalIdSafely } from '../schema/builder.ts';
import { uuidOrNil } from '../schema/tenancy.ts';

/**
 * The database id inside a Relay global id of the expected type, or null when
 * the id is malformed or names another type.
 */
export function localId(globalId: string | number, typename: string): string | null {
  const { typename: actual, id } = decodeGlobalIdSafely(String(globalId));
  return actual === typename ? uuidOrNil(id) : null;
}
