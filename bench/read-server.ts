// Child process of bench/read.ts: serves the read-path query, either through the gateway
// (`gateway`) or through a bare node:http handler with hand-written SQL (`bare`).
// Prints `READY {"url": …}` once it listens.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { jwtVerify } from 'jose';
import pg from 'pg';
import { buildApp } from '../src/app.ts';
import { createDb } from '../src/platform/db.ts';
import { testConfig, TEST_JWT_SECRET } from '../test/helpers/app.ts';

const [mode] = process.argv.slice(2);
const url = process.env.DATABASE_URL!;
const POOL = 10; // the gateway's default pool (createDb max)

/** One statement: the tenant's account, 50 pipelines, 30 steps each, as the GraphQL answer's JSON. */
export const BARE_SQL = `
  SELECT json_build_object('data', json_build_object('pipelines', json_build_object('edges',
           coalesce(json_agg(json_build_object('node', json_build_object('name', p.name,
             'steps', json_build_object('edges', s.edges)))
           ORDER BY p.sort, p.id), '[]'::json)))) AS body
  FROM (
    SELECT p.id, p.name, p.sort FROM pipeline p
    WHERE p.account_id = (SELECT a.id FROM amo_account a WHERE a.quiz_account_id = $1 AND a.deleted_at IS NULL LIMIT 1)
      AND p.deleted_at IS NULL AND p.is_archive = false
    ORDER BY p.sort, p.id LIMIT 50
  ) p
  CROSS JOIN LATERAL (
    SELECT coalesce(json_agg(json_build_object('node', json_build_object('name', s.name)) ORDER BY s.sort, s.id), '[]'::json) AS edges
    FROM (SELECT s.name, s.sort, s.id FROM step s WHERE s.pipeline_id = p.id AND s.deleted_at IS NULL ORDER BY s.sort, s.id LIMIT 30) s
  ) s`;

if (mode === 'gateway') {
  const config = testConfig({ DATABASE_URL: url, GRAPHIQL: 'false' });
  const app = await buildApp({ config, db: createDb(url, { max: POOL }), workers: false });
  const base = await app.start(0, '127.0.0.1');
  console.log(`READY ${JSON.stringify({ url: base + '/graphql', pid: process.pid })}`);
  process.on('SIGTERM', () => void app.stop().finally(() => process.exit(0)));
} else if (mode === 'bare') {
  const pool = new pg.Pool({ connectionString: url, max: POOL });
  const secret = new TextEncoder().encode(TEST_JWT_SECRET);
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      try {
        // same auth work as the gateway: verify the HS256 token, take the tenant claim
        const token = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
        if (!token) return void res.writeHead(401).end();
        const { payload } = await jwtVerify(token, secret, { algorithms: ['HS256'], requiredClaims: ['exp'] });
        const { rows } = await pool.query({ text: BARE_SQL, values: [String(payload.accountId)], rowMode: 'array' });
        const answer = rows[0]?.[0];
        if (answer === undefined) throw new Error('the bare statement returned no row');
        const body = JSON.stringify(answer);
        res.writeHead(200, { 'content-type': 'application/graphql-response+json; charset=utf-8', 'content-length': Buffer.byteLength(body) }).end(body);
      } catch (err) {
        res.writeHead(500).end(String(err));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  console.log(`READY ${JSON.stringify({ url: `http://127.0.0.1:${port}/graphql`, pid: process.pid })}`);
  process.on('SIGTERM', () => {
    server.close();
    void pool.end().finally(() => process.exit(0));
  });
} else {
  console.error('usage: read-server.ts gateway|bare');
  process.exit(2);
}
