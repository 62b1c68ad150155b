// Drops the throwaway databases tests left behind (a crashed run, a killed test).
import pg from 'pg';

const client = new pg.Client({ connectionString: process.env.TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres' });
await client.connect();
const { rows } = await client.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'gateway_test_%'");
for (const { datname } of rows) await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
await client.end();
