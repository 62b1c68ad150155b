// Shared by the benchmark scripts: throwaway databases (named gateway_bench_*, so a parallel
// `npm test` cleaning up gateway_test_* leaves them alone), child processes, percentiles, the
// machine, and a JSON record of every run under bench/out/.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createDb, type Db, type DbOptions } from '../src/platform/db.ts';
import { databaseUrl, ensureTemplate } from '../test/helpers/db.ts';

export const ROOT = path.resolve(import.meta.dirname, '..');
const adminUrl = process.env.TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export interface BenchDatabase {
  name: string;
  url: string;
  db: Db;
  drop(): Promise<void>;
}

/** A migrated database of its own (copied from the tests' template). */
export async function benchDatabase(options: DbOptions = {}): Promise<BenchDatabase> {
  const template = await ensureTemplate();
  const name = `gateway_bench_${randomBytes(4).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`));
  const url = databaseUrl(name);
  const db = createDb(url, options);
  return {
    name,
    url,
    db,
    async drop() {
      await db.$disconnect().catch(() => {});
      if (process.env.BENCH_KEEP_DB) return;
      await admin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? NaN;
}

export function summary(values: number[]) {
  const s = [...values].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), max: s[s.length - 1] ?? NaN };
}

export const round = (v: number, d = 1) => (Number.isFinite(v) ? Math.round(v * 10 ** d) / 10 ** d : v);

export function machine() {
  return {
    nproc: os.cpus().length,
    cpu: os.cpus()[0]?.model,
    memGiB: round(os.totalmem() / 2 ** 30, 1),
    freeGiB: round(os.freemem() / 2 ** 30, 1),
    loadavg: os.loadavg().map((v) => round(v, 2)),
    node: process.version,
    ...tree(),
  };
}

/** Prints a block of figures and keeps it as bench/out/<name>.json. */
export function report(name: string, figures: Record<string, unknown>) {
  const record = { scenario: name, at: new Date().toISOString(), machine: machine(), ...figures };
  const dir = path.join(ROOT, 'bench/out');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, `${name}.json`), JSON.stringify(record, null, 2) + '\n');
  console.log(`\n==== ${name} ====`);
  console.log(JSON.stringify(record, null, 2));
}

export interface Child {
  proc: ChildProcess;
  /** the first line the child printed that matched READY <json> */
  ready: Promise<any>;
  /** Sends a line of JSON on stdin; answers come as `MSG <json>` lines. */
  send(msg: unknown): void;
  next(): Promise<any>;
  stop(): Promise<void>;
}

/** Runs `tsx <script>` as a child; it prints `READY <json>` when it serves, `MSG <json>` for answers. */
export function startChild(script: string, args: string[], env: Record<string, string> = {}, nodeArgs: string[] = []): Child {
  const proc = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', path.join(ROOT, script), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let buffer = '';
  const queue: any[] = [];
  const waiters: ((v: any) => void)[] = [];
  let markReady!: (v: any) => void;
  let failReady!: (e: Error) => void;
  const ready = new Promise<any>((resolve, reject) => {
    markReady = resolve;
    failReady = reject;
  });
  proc.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line.startsWith('READY ')) markReady(JSON.parse(line.slice(6)));
      else if (line.startsWith('MSG ')) {
        const v = JSON.parse(line.slice(4));
        const w = waiters.shift();
        if (w) w(v);
        else queue.push(v);
      } else if (line.trim()) console.log(`  [${path.basename(script)}] ${line}`);
    }
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.once('exit', (code) => failReady(new Error(`${script} exited with ${code} before it was ready`)));
  return {
    proc,
    ready,
    send: (msg) => proc.stdin!.write(JSON.stringify(msg) + '\n'),
    next: () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((resolve) => waiters.push(resolve))),
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** In a child: reads JSON lines from stdin. */
export function onStdinLines(fn: (msg: any) => void | Promise<void>) {
  let buffer = '';
  process.stdin.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line.trim()) void fn(JSON.parse(line));
    }
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CPU of this process in ms (user + system) since `from`. */
export function cpuMs(from?: NodeJS.CpuUsage) {
  const u = process.cpuUsage(from);
  return (u.user + u.system) / 1000;
}

/** RSS of a process in MiB from /proc (Linux). */
export function rssMiB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /VmRSS:\s+(\d+) kB/.exec(status);
    return m ? round(Number(m[1]) / 1024, 1) : NaN;
  } catch {
    return NaN;
  }
}

/** The commit measured, and the files under src/ changed on top of it (the work tree is shared). */
export function tree() {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'prisma'], { cwd: ROOT }).toString().trim().split('\n').filter(Boolean);
    return { commit, srcChangesOnTop: dirty };
  } catch {
    return {};
  }
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU of a process (utime + stime from /proc/<pid>/stat) in ms; null once it is gone. */
export function procCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after the command name (in parentheses, which may hold spaces): state is field 3, utime 14, stime 15
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
  } catch {
    return null;
  }
}

/** Every process with its command line (NUL → space). */
export function processes(): { pid: number; cmdline: string }[] {
  const out: { pid: number; cmdline: string }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      out.push({ pid: Number(name), cmdline: readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ').trim() });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** The Kafka broker (java) whose server.properties listens on `port`, if it runs here. */
export function kafkaBrokerPid(port: number): number | null {
  for (const p of processes()) {
    if (!/^\S*java /.test(p.cmdline) || !p.cmdline.includes('kafka.Kafka')) continue;
    const props = p.cmdline.split(' ').find((a) => a.endsWith('server.properties'));
    try {
      if (props && new RegExp(`listeners=.*:${port}\\b`).test(readFileSync(props, 'utf8'))) return p.pid;
    } catch {
      // unreadable: not ours to measure
    }
  }
  return null;
}

/** PostgreSQL's processes here: backends of `database`, the server's own (postmaster, writers, …), and other databases' backends. */
export function postgresPids(database: string): { bench: number[]; server: number[]; others: number[] } {
  const out = { bench: [] as number[], server: [] as number[], others: [] as number[] };
  for (const p of processes()) {
    if (!/^(\S*\/)?postgres( |:)/.test(p.cmdline)) continue;
    if (p.cmdline.includes(` ${database} `) || p.cmdline.endsWith(` ${database}`)) out.bench.push(p.pid);
    else if (
      /^\S*\/postgres /.test(p.cmdline) ||
      /: (checkpointer|background writer|walwriter|autovacuum launcher|logical replication launcher|archiver|stats collector)\b/.test(p.cmdline)
    )
      out.server.push(p.pid);
    else out.others.push(p.pid);
  }
  return out;
}

/** CPU ms of each part's processes now; `pids` is asked again at the end, so a backend started meanwhile counts from 0. */
export type CpuParts = Record<string, () => number[]>;
export type CpuSnapshot = Record<string, Map<number, number>>;

export function cpuSnapshot(parts: CpuParts): CpuSnapshot {
  const snap: CpuSnapshot = {};
  for (const [part, pids] of Object.entries(parts)) {
    const m = new Map<number, number>();
    for (const pid of pids()) {
      const ms = procCpuMs(pid);
      if (ms !== null) m.set(pid, ms);
    }
    snap[part] = m;
  }
  return snap;
}

/** CPU ms per part between two snapshots (a process gone by the end is not counted: its last interval is unknown). */
export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [part, m] of Object.entries(after)) {
    let ms = 0;
    for (const [pid, v] of m) ms += v - (before[part]?.get(pid) ?? 0);
    out[part] = ms;
  }
  return out;
}
