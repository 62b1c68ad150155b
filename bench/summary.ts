// The last lines of `npm run bench`: one per scenario run, read from bench/out/<scenario>.json
// (each scenario writes `summary: { figure, goal, met }` there) — its figure, its goal, met or not.
// A scenario that wrote no JSON in this run (it failed or timed out) says so.
//
//   node --import tsx bench/summary.ts <started epoch s> <scenario> …
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './lib.ts';

export interface ScenarioSummary {
  figure: string;
  goal: string;
  met: boolean;
}

export function summaryLines(scenarios: string[], startedMs: number, read = (f: string) => readFileSync(f, 'utf8')): string[] {
  const lines: string[] = [];
  for (const s of scenarios) {
    let record: { at?: string; summary?: ScenarioSummary } | undefined;
    try {
      record = JSON.parse(read(path.join(ROOT, 'bench/out', `${s}.json`)));
    } catch {
      record = undefined;
    }
    const summary = record?.summary;
    if (!record?.at || Date.parse(record.at) < startedMs) lines.push(`${s}: no result in this run (failed or timed out)`);
    else if (!summary) lines.push(`${s}: no summary in bench/out/${s}.json`);
    else lines.push(`${s}: ${summary.figure} | goal: ${summary.goal} | ${summary.met ? 'met' : 'NOT met'}`);
  }
  return lines;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [started, ...scenarios] = process.argv.slice(2);
  console.log('\n### summary');
  for (const line of summaryLines(scenarios, Number(started) * 1000)) console.log(line);
}
