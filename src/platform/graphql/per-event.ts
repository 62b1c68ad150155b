import DataLoader from 'dataloader';
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

/**
 * `loadOncePerEvent` whose loads of one tick go out as one: the events published in one turn (a
 * round of one per tenant, a Kafka batch) cost one query, not one each. `loadMany` answers, for
 * each event in order, its row or null; a null is `missing()`, the error its subscribers receive.
 */
export function loadPerEventInBatches<E extends object, T>(
  loadMany: (events: readonly E[], db: Db) => Promise<(T | null)[]>,
  missing: () => Error,
): (event: E, db: Db) => Promise<T> {
  const loaders = new WeakMap<Db, DataLoader<E, T>>();
  const loaded = new WeakMap<E, Promise<T>>();
  return (event, db) => {
    let row = loaded.get(event);
    if (!row) {
      let loader = loaders.get(db);
      if (!loader) loaders.set(db, (loader = new DataLoader<E, T>(async (events) => (await loadMany(events, db)).map((row) => row ?? missing()), { cache: false })));
      row = loader.load(event);
      loaded.set(event, row);
    }
    return row;
  };
}
