// Drops the throwaway databases a test run left behind (a crashed or killed test):
// those named with this run's TEST_DB_PREFIX, or every test database without one.
import pg from 'pg';

const client = new pg.Client({ connectionString: process.env.TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres' });
await client.connect();
const prefix = process.env.TEST_DB_PREFIX ?? 'gateway_test_';
const { rows } = await client.query<{ datname: string }>('SELECT datname FROM pg_database WHERE starts_with(datname, $1)', [prefix]);
for (const { datname } of rows) await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
await client.end();
