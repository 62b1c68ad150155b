/** Shared by the simulator's tests. */
import assert from 'node:assert/strict';

/** list[index], failing the test when the list has no such item. */
export function nth<T>(list: readonly T[], index: number): T {
  const v = list[index];
  if (v === undefined) assert.fail(`no item ${index} in a list of ${list.length}`);
  return v;
}
