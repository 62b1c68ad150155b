// The layout's rules are lint rules (eslint.config.js, run by `npm run lint` in npm test): a
// feature is entered only through its index.ts, platform/ imports no feature, only development
// code loads the simulator, the simulator imports nothing of src/, and no feature calls amoCRM by
// a raw path. These tests show that each rule fires on a crossing and stays quiet on what is allowed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { ESLint } from 'eslint';

const root = path.resolve(import.meta.dirname, '..');
const eslint = new ESLint({ cwd: root });

const BOUNDARY_RULES = new Set(['import-x/no-restricted-paths', '@typescript-eslint/no-restricted-imports', 'no-restricted-syntax']);

/** The boundary rules `code` breaks as if it were the file at `file` (relative to the root). */
async function crossings(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(root, file) });
  assert.ok(result, `${file} is linted`);
  const fatal = result.messages.filter((m) => m.fatal);
  assert.deepEqual(fatal, [], `${file} parses`);
  return result.messages.filter((m) => m.ruleId !== null && BOUNDARY_RULES.has(m.ruleId)).map((m) => `${m.ruleId}: ${m.message}`);
}

/** A file of the delivery feature other than its index.ts (what another module may not import). */
const deliveryInternal = readdirSync(path.join(root, 'src/features/delivery')).find((f) => f.endsWith('.ts') && f !== 'index.ts');
assert.ok(deliveryInternal, 'src/features/delivery has files besides index.ts');

test('a feature enters another feature only through its index.ts', async () => {
  const file = 'src/features/rules/probe.ts';
  const inside = await crossings(file, `import * as d from '../delivery/${deliveryInternal}';\nexport { d };\n`);
  assert.equal(inside.length, 1, inside.join('\n'));
  assert.match(inside[0]!, /no-restricted-paths: .*delivery feature only through src\/features\/delivery\/index\.ts/);
  assert.deepEqual(await crossings(file, `export * from '../delivery/index.ts';\nexport * from './index.ts';\n`), []);
});

test('the rest of src/ enters a feature only through its index.ts (the schema also through its GraphQL module)', async () => {
  assert.equal((await crossings('src/workers/probe.ts', `export * from '../features/delivery/${deliveryInternal}';\n`)).length, 1);
  assert.deepEqual(await crossings('src/workers/probe.ts', `export * from '../features/delivery/index.ts';\n`), []);
  assert.deepEqual(await crossings('src/schema/index.ts', `import '../features/delivery/graphql/index.ts';\nimport '../features/rules/graphql/index.ts';\n`), []);
  assert.equal((await crossings('src/schema/index.ts', `import '../features/delivery/${deliveryInternal}';\n`)).length, 1);
});

test('platform/ imports no feature, not even its index.ts', async () => {
  const found = await crossings('src/platform/probe.ts', `import { x } from '../features/delivery/index.ts';\nexport { x };\n`);
  assert.equal(found.length, 1, found.join('\n'));
  assert.match(found[0]!, /src\/platform\/ imports no feature/);
  assert.deepEqual(await crossings('src/platform/probe.ts', `export * from './ids.ts';\n`), []);
});

test('only development code loads the amoCRM simulator', async () => {
  const loads = `import { createAmoSimulator } from '@quiz-gateway/amo-sim';\nexport const sim = createAmoSimulator;\n`;
  for (const file of ['src/routes.ts', 'src/platform/probe.ts', 'src/features/delivery/probe.ts']) {
    const found = await crossings(file, loads);
    assert.equal(found.length, 1, `${file}: ${found.join('\n')}`);
    assert.match(found[0]!, /Only development code/);
  }
  // A dynamic import and a type-only import are crossings too outside the entry points.
  assert.equal((await crossings('src/workers/index.ts', `export const load = () => import('@quiz-gateway/amo-sim');\n`)).length, 1);
  assert.equal((await crossings('src/routes.ts', `import type { AmoSimulator } from '@quiz-gateway/amo-sim';\nexport type S = AmoSimulator;\n`)).length, 1);
  assert.deepEqual(await crossings('src/dev/probe.ts', loads), []);
});

test('main.ts names the simulator as a type at the top and loads it with import() in its development branch', async () => {
  const allowed = `import type { AmoSimulator } from '@quiz-gateway/amo-sim';\nexport let sim: AmoSimulator | undefined;\nif (process.env.DEV) sim = (await import('@quiz-gateway/amo-sim')).createAmoSimulator({} as never);\n`;
  assert.deepEqual(await crossings('src/main.ts', allowed), []);
  const found = await crossings('src/main.ts', `import { createAmoSimulator } from '@quiz-gateway/amo-sim';\nexport const sim = createAmoSimulator;\n`);
  assert.equal(found.length, 1, found.join('\n'));
  assert.match(found[0]!, /no-restricted-imports/);
});

test("the simulator imports nothing of the gateway's src/", async () => {
  const found = await crossings('packages/amo-sim/src/probe.ts', `export * from '../../../src/platform/ids.ts';\n`);
  assert.equal(found.length, 1, found.join('\n'));
  assert.match(found[0]!, /imports nothing of the gateway's src\//);
  assert.deepEqual(await crossings('packages/amo-sim/src/probe.ts', `export * from './index.ts';\n`), []);
});

test('features call amoCRM only through the typed client methods (no raw paths)', async () => {
  const file = 'src/features/delivery/probe.ts';
  const raw = `declare const http: { request<T>(m: string, p: string): Promise<T>; listAll(p: string): Promise<unknown[]>; paginate(p: string): unknown };\nexport const a = () => http.request<unknown>('GET', 'leads');\nexport const b = () => http?.listAll('users');\nexport const c = () => http['paginate']('x');\n`;
  assert.deepEqual(
    (await crossings(file, raw)).map((m) => /not (\.\w+|\['\w+'\])\(\)/.exec(m)?.[1]),
    ['.request', '.listAll', "['paginate']"],
  );
  assert.deepEqual(await crossings(file, `declare const amo: { leads: { list(): Promise<unknown[]> } };\nexport const a = () => amo.leads.list();\n`), []);
  // Outside the features the transport itself makes these calls.
  assert.deepEqual(await crossings('src/platform/amo/probe.ts', raw), []);
});
