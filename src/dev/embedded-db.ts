// PostgreSQL in WebAssembly (PGlite) behind the PostgreSQL wire protocol on a
// local port, with its data in a folder: the database of `npm start` when no
// DATABASE_URL is set. Prisma reaches it like any PostgreSQL server.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

export async function startEmbeddedDatabase(dataDir: string, port = 0): Promise<EmbeddedDatabase> {
  const dir = path.resolve(dataDir, 'pglite');
  mkdirSync(dir, { recursive: true });
  const db = await PGlite.create(dir);
  // Two connections: the gateway's one and a migration's; never used at the same time.
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: port || 54329, maxConnections: 4 });
  await server.start();
  const url = `postgresql://postgres@${server.getServerConn()}/postgres?sslmode=disable`;
  return {
    url,
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}
