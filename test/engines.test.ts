// Issue 15: `npm ci` on Node 20 prints no EBADENGINE warning. Every package in the lock file
// admits the oldest Node that package.json's `engines` allows, and that range is Node 20's
// (what the Dockerfile and CI run).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import semver from 'semver';

const root = path.resolve(import.meta.dirname, '..');
const readJson = (file: string) => JSON.parse(readFileSync(path.join(root, file), 'utf8')) as Record<string, unknown>;

interface LockedPackage {
  version?: string;
  engines?: { node?: string } | string[];
}

test("package.json's engines name Node 20, the line the Dockerfile and the tests run", () => {
  const range = (readJson('package.json').engines as { node?: string } | undefined)?.node;
  assert.ok(range && semver.validRange(range), `engines.node is a semver range (${range})`);
  assert.ok(semver.subset(range, '^20'), `engines.node (${range}) allows Node 20 only`);
  assert.match(readFileSync(path.join(root, 'Dockerfile'), 'utf8'), /^FROM node:20-/m);
});

test("every locked package's engines.node admits the oldest Node package.json allows", () => {
  const range = (readJson('package.json').engines as { node: string }).node;
  const oldest = semver.minVersion(range)!.version;
  const packages = readJson('package-lock.json').packages as Record<string, LockedPackage>;
  let checked = 0;
  const refused: string[] = [];
  for (const [location, locked] of Object.entries(packages)) {
    // npm also accepts the old array form; it states nothing about node
    const wanted = Array.isArray(locked.engines) ? undefined : locked.engines?.node;
    if (!location || !wanted) continue;
    checked++;
    if (!semver.satisfies(oldest, wanted)) refused.push(`${location}@${locked.version}: node ${wanted}`);
  }
  assert.ok(checked > 100, `the lock file's engines were read (${checked})`);
  assert.deepEqual(refused, [], `packages that would warn EBADENGINE on Node ${oldest}`);
});
