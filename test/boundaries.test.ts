// The layout's rules, checked on every import of src/: a feature is entered only through its
// index.ts, platform/ imports no feature, and only development code loads the simulator.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const src = path.join(root, 'src');

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return name === 'generated' ? [] : filesUnder(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

const IMPORT = /(?:^|\s)(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|^import\s+['"]([^'"]+)['"]/gm;

/** Every (file, imported path) of src/, relative imports resolved against the file. */
function imports(): { file: string; spec: string; target: string | null }[] {
  const out: { file: string; spec: string; target: string | null }[] = [];
  for (const file of filesUnder(src)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2] ?? m[3]!;
      out.push({ file: path.relative(root, file), spec, target: spec.startsWith('.') ? path.relative(root, path.resolve(path.dirname(file), spec)) : null });
    }
  }
  return out;
}

const featureOf = (p: string) => /^src\/features\/([^/]+)\//.exec(p)?.[1] ?? null;

test('features enter each other only through index.ts', () => {
  const bad = imports().filter(({ file, target }) => {
    if (!target) return false;
    const from = featureOf(file);
    const to = featureOf(target);
    if (to === null || to === from) return false;
    // the schema's index registers every feature's GraphQL module on the one builder
    if (file === 'src/schema/index.ts' && new RegExp(`^src/features/${to}/graphql(\\.ts|/index\\.ts)$`).test(target)) return false;
    return !new RegExp(`^src/features/${to}/index\\.ts$`).test(target);
  });
  assert.deepEqual(
    bad.map((b) => `${b.file} → ${b.target}`),
    [],
  );
});

test('platform/ imports no feature', () => {
  const bad = imports().filter(({ file, target }) => file.startsWith('src/platform/') && target !== null && featureOf(target) !== null);
  assert.deepEqual(
    bad.map((b) => `${b.file} → ${b.target}`),
    [],
  );
});

test('only development code loads the amoCRM simulator (and only as a type elsewhere)', () => {
  const bad = imports().filter(({ file, spec }) => spec === '@quiz-gateway/amo-sim' && file !== 'src/main.ts' && !file.startsWith('src/dev/'));
  assert.deepEqual(
    bad.map((b) => b.file),
    [],
  );
  const main = readFileSync(path.join(src, 'main.ts'), 'utf8');
  assert.doesNotMatch(main, /^import (?!type )[^\n]*'@quiz-gateway\/amo-sim'/m, 'main.ts imports the simulator only as a type at the top');
});

test('the checks see the imports they check', () => {
  const all = imports();
  assert.ok(
    all.some((i) => i.target === 'src/features/delivery/index.ts'),
    'a feature import through index.ts is seen',
  );
  assert.ok(
    all.some((i) => i.target?.startsWith('src/platform/')),
    'platform imports are seen',
  );
});

test('features call amoCRM only through the typed client methods (no raw paths)', () => {
  const bad = filesUnder(path.join(src, 'features')).flatMap((file) =>
    [...readFileSync(file, 'utf8').matchAll(/\.(request|paginate|listAll)\s*[<(]/g)].map((m) => `${path.relative(root, file)}: .${m[1]}(`),
  );
  assert.deepEqual(bad, []);
});
