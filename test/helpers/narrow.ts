// Narrowing for tests under noUncheckedIndexedAccess: a missing element fails the test with a message
// naming what was expected, instead of a TypeError a few lines later.

/** The element at `index` (negative counts from the end); throws when there is none. */
export function at<T>(list: readonly T[], index: number, what = 'element'): T {
  const value = list.at(index);
  if (value === undefined) throw new Error(`expected a ${what} at index ${index}, the list has ${list.length}`);
  return value;
}

/** The single element of `list`; throws unless it has exactly one. */
export function only<T>(list: readonly T[], what = 'element'): T {
  if (list.length !== 1) throw new Error(`expected exactly one ${what}, got ${list.length}`);
  return list[0] as T;
}

/** `value` when it is neither undefined nor null; throws naming `what` otherwise. */
export function defined<T>(value: T | undefined | null, what = 'value'): T {
  if (value === undefined || value === null) throw new Error(`expected a ${what}, got ${value}`);
  return value;
}
