// No unused dependencies: every package package.json names is imported by the code, run by a
// script (its command), or gives types to one that is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  scripts?: Record<string, string>;
};

/** Packages used through their command (in package.json scripts or shell scripts), by command. */
const COMMANDS: Record<string, string> = { tsx: 'tsx', prisma: 'prisma', typescript: 'tsc', prettier: 'prettier', eslint: 'eslint', '@graphql-codegen/cli': 'graphql-codegen' };
/** Packages a tool loads by name from its configuration rather than by import. */
const LOADED_BY_CONFIG: Record<string, string> = { '@graphql-codegen/client-preset': 'codegen.ts', '@prisma/client': 'prisma/schema.prisma' };

function files(dir: string, keep: (p: string) => boolean): string[] {
  return readdirSync(dir).flatMap((name) => {
    if (name === 'node_modules' || name === 'generated' || name.startsWith('.')) return [];
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? files(p, keep) : keep(p) ? [p] : [];
  });
}

const code = ['src', 'test', 'bench', 'scripts', 'packages', 'prisma']
  .flatMap((d) => files(path.join(root, d), (p) => /\.(ts|mts|js|mjs)$/.test(p)))
  // Tools' configuration files import their plugins (eslint.config.js: @eslint/js, typescript-eslint, …).
  .concat(['codegen.ts', 'prisma.config.ts', 'eslint.config.js'].map((f) => path.join(root, f)))
  .map((f) => readFileSync(f, 'utf8'))
  .join('\n');
const shell = [
  JSON.stringify(pkg.scripts ?? {}),
  ...files(path.join(root, 'scripts'), (p) => p.endsWith('.sh')).map((f) => readFileSync(f, 'utf8')),
  readFileSync(path.join(root, '.ci/run'), 'utf8'),
].join('\n');

const imported = new Set<string>();
for (const m of code.matchAll(/(?:from\s*|import\s*\(\s*|import\s+|require\(\s*)['"]((?:@[^/'"]+\/)?[^/'".][^/'"]*)(?:\/[^'"]*)?['"]/g)) imported.add(m[1]!);

function used(name: string): boolean {
  if (imported.has(name) || imported.has(`node:${name}`)) return true;
  const command = COMMANDS[name];
  if (command && new RegExp(`(^|[\\s"'])(npx (--no-install )?)?${command}\\b`).test(shell)) return true;
  const config = LOADED_BY_CONFIG[name];
  if (config && readFileSync(path.join(root, config), 'utf8').length > 0) return true;
  const typed = /^@types\/(.+)$/.exec(name)?.[1];
  return typed !== undefined && (typed === 'node' || used(typed));
}

test('every dependency in package.json is used', () => {
  const all = [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.devDependencies ?? {})];
  assert.deepEqual(
    all.filter((d) => !used(d)),
    [],
  );
});

test('the check finds what is imported and what is not', () => {
  assert.ok(imported.has('graphql-yoga') && imported.has('@pothos/core'), 'imports are read');
  assert.equal(used('left-pad'), false);
  assert.ok(used('eslint-plugin-import-x') && used('typescript-eslint'), 'the lint configuration is read');
});
