// The adapter Prisma's CLI (WebAssembly schema engine) migrates through.
// It works around three bugs of @prisma/adapter-pg 6.19 on this path
// (see docs/notes/prisma-offline.md); the runtime client needs none of this.
import pg from 'pg';
import { PrismaPg } from '@prisma/adapter-pg';

const PG_NAME = 19;
const PG_CHAR = 18;
const PG_TEXT = 25;

type QueryResult = { fields?: { dataTypeID: number }[] };

/** Catalog columns of type `name` and `"char"` are reported as text, which the adapter can read. */
function asText<T>(result: T): T {
  for (const field of (result as QueryResult)?.fields ?? []) {
    if (field.dataTypeID === PG_NAME || field.dataTypeID === PG_CHAR) field.dataTypeID = PG_TEXT;
  }
  return result;
}

function patchQuery<Q extends { query: (...args: any[]) => any }>(target: Q): Q {
  const original = target.query.bind(target);
  target.query = ((...args: any[]) => {
    const out = original(...args);
    return out && typeof out.then === 'function' ? out.then(asText) : out;
  }) as Q['query'];
  return target;
}

class CatalogSafePool extends pg.Pool {
  constructor(config: pg.PoolConfig) {
    super({ ...config, allowExitOnIdle: true });
    patchQuery(this);
    // pg-pool's own query() checks clients out through connect(callback): patch them there.
    const connect = this.connect.bind(this) as (cb?: (err: Error | undefined, client?: pg.PoolClient, done?: unknown) => void) => unknown;
    (this as any).connect = (callback?: (err: Error | undefined, client?: pg.PoolClient, done?: unknown) => void) => {
      if (callback) return connect((err, client, done) => callback(err, client && patchQuery(client), done));
      return (connect() as Promise<pg.PoolClient>).then(patchQuery);
    };
  }
}

async function withWholeScripts(adapterPromise: ReturnType<PrismaPg['connect']>, onDispose?: () => Promise<void>) {
  const adapter = await adapterPromise;
  // One simple-protocol call runs the whole migration in one implicit
  // transaction and keeps $$-quoted bodies intact.
  adapter.executeScript = async (script: string) => {
    await adapter.underlyingDriver().query(script);
  };
  if (onDispose) {
    const dispose = adapter.dispose.bind(adapter);
    adapter.dispose = async () => {
      await dispose();
      await onDispose();
    };
  }
  return adapter;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export function migrationAdapter(databaseUrl: string) {
  const factory = new PrismaPg(new CatalogSafePool({ connectionString: databaseUrl, max: 2 }));
  return {
    provider: factory.provider,
    adapterName: factory.adapterName,
    connect: () => withWholeScripts(factory.connect()),
    // The stock shadow connection silently points at the main database; use a real throwaway one.
    connectToShadowDb: async () => {
      const shadowUrl = process.env.SHADOW_DATABASE_URL;
      if (shadowUrl) return withWholeScripts(new PrismaPg(new CatalogSafePool({ connectionString: shadowUrl })).connect());
      const name = `prisma_shadow_${process.pid}_${Date.now()}`;
      const admin = new pg.Client({ connectionString: databaseUrl });
      await admin.connect();
      await admin.query(`CREATE DATABASE "${name}"`);
      await admin.end();
      const shadow = new PrismaPg(new CatalogSafePool({ connectionString: withDatabase(databaseUrl, name), max: 1 }));
      return withWholeScripts(shadow.connect(), async () => {
        const drop = new pg.Client({ connectionString: databaseUrl });
        await drop.connect();
        await drop.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
        await drop.end();
      });
    },
  };
}
