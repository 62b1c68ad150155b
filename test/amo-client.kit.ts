// Shared set-up of the amoCRM client suites (test/amo-client*.test.ts): the simulator (7 requests/s,
// refused requests counted), a database, and clients with short backoffs.
import type { AmoSimulator } from '@quiz-gateway/amo-sim';
import { createDb, type Db } from '../src/platform/db.ts';
import { createLogger } from '../src/platform/logger.ts';
import { createAmoClient, type AmoClient, type AmoClientOptions } from '../src/platform/amo/index.ts';
import type { TestDatabase } from './helpers/db.ts';
import { startSimAndDatabase, testAmoConfig } from './helpers/amo.ts';

export const config = testAmoConfig();
export const logger = createLogger({ level: 'silent' });

export interface AmoClientKit {
  sim: AmoSimulator;
  tdb: TestDatabase;
  db: Db;
  /** A client of the account over the kit's database, backing off 20–200 ms. */
  client(accountId: string, options?: Partial<AmoClientOptions>): AmoClient;
  /** Another connection to the database (one more replica); closed by stop(). */
  newDb(): Db;
  stop(): Promise<void>;
}

export async function startAmoClientKit(): Promise<AmoClientKit> {
  const { sim, tdb, db } = await startSimAndDatabase();
  const extraDbs: Db[] = [];
  return {
    sim,
    tdb,
    db,
    client: (accountId, options = {}) => createAmoClient({ db, config, accountId, logger, backoffMs: 20, maxBackoffMs: 200, ...options }),
    newDb() {
      const d = createDb(tdb.url, { max: 1 });
      extraDbs.push(d);
      return d;
    },
    async stop() {
      await Promise.all(extraDbs.map((d) => d.$disconnect()));
      await tdb.drop();
      await sim.stop();
    },
  };
}
