// Summarises a V8 .cpuprofile (node --cpu-prof): self time by package/file and the top functions.
//   node --import tsx bench/prof-summary.ts bench/prof/<file>.cpuprofile [top]
import { readFileSync } from 'node:fs';
import path from 'node:path';

// the project's files by their path in the repository, wherever it is checked out
const ROOT = path.resolve(import.meta.dirname, '..') + '/';
const rel = (url: string) => url.replace(/^file:\/\//, '').replace(ROOT, '');

const [file, topArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node --import tsx bench/prof-summary.ts <file>.cpuprofile [top]');
  process.exit(2);
}
const top = Number(topArg ?? 25);
const prof = JSON.parse(readFileSync(file, 'utf8')) as {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }[];
  samples: number[];
  timeDeltas: number[];
};
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
prof.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)));
const total = [...self.values()].reduce((a, b) => a + b, 0);

const where = (url: string) => {
  if (!url) return '(native/gc/idle)';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m?.[1]) return m[1];
  if (url.startsWith('node:')) return 'node:' + url.slice(5).split('/')[0];
  const s = /^(src\/[^/]+|bench|test)/.exec(rel(url));
  return s?.[1] ?? url;
};
const byPkg = new Map<string, number>();
const byFn = new Map<string, number>();
for (const [id, us] of self) {
  const n = byId.get(id)!;
  const pkg = n.callFrame.functionName === '(idle)' ? '(idle)' : n.callFrame.functionName === '(garbage collector)' ? '(gc)' : where(n.callFrame.url);
  byPkg.set(pkg, (byPkg.get(pkg) ?? 0) + us);
  const fn = `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url
    .replace(/.*node_modules\//, '')
    .replace(/^file:\/\//, '')
    .replace(ROOT, '')}:${n.callFrame.lineNumber + 1}`;
  byFn.set(fn, (byFn.get(fn) ?? 0) + us);
}
const pct = (us: number) => ((100 * us) / total).toFixed(1).padStart(5) + '%';
console.log(`total sampled ${(total / 1e6).toFixed(1)} s`);
console.log('\nself time by package:');
for (const [k, v] of [...byPkg].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`${pct(v)}  ${k}`);
console.log('\ntop functions (self):');
for (const [k, v] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(v)}  ${k}`);
