// Issue 15, shipping: the compiled build runs under plain node (no tsx), and the Dockerfile,
// docker-compose.yml, .env.example and the README's settings table stay in step.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { freePort } from './helpers/stack.ts';
import { TEST_AUTH_CLAIMS, tokenFor } from './helpers/token.ts';
import { until } from './helpers/wait.ts';

const root = path.resolve(import.meta.dirname, '..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');
const cleanups: (() => Promise<unknown> | unknown)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** Names of the README's "Settings" table, in order. */
function readmeSettings(): string[] {
  const section = read('README.md').split('\n## Settings\n')[1]?.split('\n## ')[0] ?? '';
  const names = section
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .flatMap((line) => [...(line.split('|')[1] ?? '').matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((m) => m[1]!));
  assert.ok(names.length > 20, `the README's settings table was not found (${names.length} names)`);
  return names;
}

/** Keys of the gateway service's `environment:` block in docker-compose.yml. */
function composeGatewayEnvironment(): string[] {
  const gateway = /\n {2}gateway:\n([\s\S]*?)\n {2}\S/.exec(read('docker-compose.yml'))?.[1] ?? '';
  const environment = /\n {4}environment:\n((?: {6}.*\n?)+)/.exec(gateway)?.[1] ?? '';
  return [...environment.matchAll(/^ {6}([A-Z][A-Z0-9_]*):/gm)].map((m) => m[1]!);
}

test('the README settings table, .env.example and the compose file name the same settings', () => {
  const table = readmeSettings().sort();
  const example = [...read('.env.example').matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!).sort();
  assert.deepEqual(example, table, '.env.example lists every setting of the README, and no other');
  assert.deepEqual(composeGatewayEnvironment().sort(), table, "docker-compose.yml's gateway gets every setting of the README, and no other");
});

test('the Dockerfile builds in one stage and runs compiled JavaScript with production dependencies as a non-root user', () => {
  const dockerfile = read('Dockerfile');
  const stages = [...dockerfile.matchAll(/^FROM \S+ AS (\w+)/gm)].map((m) => m[1]);
  assert.deepEqual(stages, ['build', 'runtime']);
  const runtime = dockerfile.split(/^FROM .* AS runtime$/m)[1] ?? '';
  assert.match(runtime, /^RUN npm ci --omit=dev/m);
  assert.match(runtime, /^COPY --from=build \/app\/dist dist$/m);
  assert.match(runtime, /^USER node$/m);
  assert.match(runtime, /^HEALTHCHECK [\s\S]*\/healthz/m);
  assert.match(runtime, /^CMD \["node", "dist\/main\.js"\]$/m);
  assert.doesNotMatch(runtime, /tsx/);
  const ignored = read('.dockerignore').split('\n');
  for (const entry of ['node_modules', '.env', '.git', 'dist']) assert.ok(ignored.includes(entry), `.dockerignore leaves out ${entry}`);
  assert.match(read('docker-compose.yml'), /\n {2}gateway:\n(?: {4}.*\n|\s*#.*\n)*? {4}build: \.\n/);
});

test('the compiled build (tsc -p tsconfig.build.json) answers /readyz under plain node in production', async () => {
  // prisma generate already ran (scripts/test.sh); regenerating here would rewrite files other suites are loading.
  const tsc = await promisify(execFile)(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: root }).catch(
    (err: { stdout?: string; code?: number }) => ({ stdout: err.stdout ?? String(err), failed: err.code ?? 1 }),
  );
  assert.equal('failed' in tsc ? tsc.failed : 0, 0, `tsc -p tsconfig.build.json failed:\n${tsc.stdout}`);

  const database: TestDatabase = await createTestDatabase();
  cleanups.push(() => database.drop());
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    NODE_ENV: 'production',
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    DATABASE_URL: database.url,
    AUTH_JWT_SECRET: randomBytes(32).toString('hex'),
    AMO_CLIENT_ID: 'shipping-test-client',
    AMO_CLIENT_SECRET: randomBytes(16).toString('hex'),
    AMO_REDIRECT_URI: `http://127.0.0.1:${port}/webhook/create`,
    TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    ...TEST_AUTH_CLAIMS,
    LOG_LEVEL: 'warn',
  };
  // No --import tsx: a .ts import left in the output would fail right here.
  const child: ChildProcess = spawn(process.execPath, ['dist/main.js'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  cleanups.push(() => child.exitCode === null && child.kill('SIGKILL'));

  const ready = await until(
    'the compiled gateway to answer /readyz',
    async () => {
      if (child.exitCode !== null) throw new Error(`node dist/main.js exited ${child.exitCode}:\n${output}`);
      const res = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null);
      return res && { status: res.status, body: await res.text() };
    },
    60_000,
    200,
  );
  assert.equal(ready.status, 200, ready.body);
  // A query through the compiled schema, Prisma client and auth: a tenant with nothing connected yet.
  const token = await tokenFor('shipping-tenant', { secret: env.AUTH_JWT_SECRET, expiresIn: '5m' });
  const graphql = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: '{ account { id } deliveries(first: 1) { totalCount } }' }),
  });
  assert.deepEqual(await graphql.json(), { data: { account: null, deliveries: { totalCount: 0 } } });
  child.kill('SIGTERM');
  assert.equal(await exited, 0, `a SIGTERM stops the compiled gateway cleanly:\n${output}`);
});
