import type { Db } from '../db.ts';

/**
 * Every subscriber of one replica receives the same event object from the
 * pub/sub, so the row an event names is loaded once for all of them, not once
 * per subscriber (10,000 subscribers: one query, not 10,000). The rows loaded
 * this way have no relations a subscriber could select.
 */
export function loadOncePerEvent<E extends object, T>(load: (event: E, db: Db) => Promise<T>): (event: E, db: Db) => Promise<T> {
  const loaded = new WeakMap<E, Promise<T>>();
  return (event, db) => {
    let row = loaded.get(event);
    if (!row) {
      row = load(event, db);
      loaded.set(event, row);
    }
    return row;
  };
}
