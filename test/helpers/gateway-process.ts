// Real gateway processes for the crash tests (test/crash*.test.ts): the fixture
// test/fixtures/delivery-process.ts (or the real src/main.ts) started on a case's own database, killed or stopped by the test,
// and the checks after a fresh process took over. `useGatewayProcesses()` starts the simulator they
// share before the file's tests and cleans up after them.
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { createAmoSimulator, type AmoSimulator } from '@quiz-gateway/amo-sim';
import type { Delivery } from '../../src/generated/prisma/client.ts';
import { resultMarker } from '../../src/features/delivery/payload.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';
import { connectSimAccount, testAmoConfig, TEST_AMO_CLIENT_ID, TEST_AMO_CLIENT_SECRET, TEST_AMO_REDIRECT, type ConnectedAccount } from './amo.ts';
import { copyCatalogue, createRule } from './delivery.ts';
import { at } from './narrow.ts';
import { TEST_JWT_SECRET, tokenFor } from './app.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const FIXTURE = path.join(import.meta.dirname, '../fixtures/delivery-process.ts');
const MAIN = path.join(ROOT, 'src/main.ts');

/**
 * The crashing process's lease: how long a dead process keeps its Deliveries from the next one.
 * Short, so the restart does not wait long; its leads/complex timeout (at most 3/4 of it) stays
 * long enough for a loaded machine.
 */
export const CRASH_ENV = { DELIVERY_LEASE_MS: '4000', DELIVERY_SEND_TIMEOUT_MS: '3000' };

const amoConfig = testAmoConfig();
/** the simulator every process of the file talks to (started by useGatewayProcesses) */
export let sim: AmoSimulator;
/** one database per case: the cases run side by side, and a restarted process must see only its case */
const databases: TestDatabase[] = [];
/** settings shared by every gateway process of the file */
let baseEnv: Record<string, string>;
const children = new Set<GatewayProcess>();

// ---- gateway processes ---------------------------------------------------------------------------

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class GatewayProcess {
  url = '';
  output = '';
  readonly exited: Promise<Exit>;
  exit: Exit | null = null;

  constructor(readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8').on('data', (s: string) => (this.output += s));
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (this.output += s));
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        children.delete(this);
        resolve(this.exit);
      });
    });
  }

  /** the last lines it wrote, for failure messages */
  tail(lines = 40): string {
    return this.output.split('\n').slice(-lines).join('\n');
  }

  /** Resolves with how it ended, or throws after `ms`. */
  async waitExit(ms: number): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`gateway process ${this.child.pid} still running after ${ms} ms\n${this.tail()}`)), ms);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGTERM, then how it ended (bounded). */
  async terminate(ms = 20_000): Promise<Exit> {
    if (this.exit) return this.exit;
    this.child.kill('SIGTERM');
    return this.waitExit(ms);
  }
}

/** Starts the fixture on the case's database and waits for its READY line. */
export async function startGateway(c: Case, env: Record<string, string> = {}): Promise<GatewayProcess> {
  const processEnv: Record<string, string | undefined> = { ...process.env, ...baseEnv, DATABASE_URL: c.tdb.url, ...env };
  // the test runner's marker would make a child that loads node:test report to us
  delete processEnv.NODE_TEST_CONTEXT;
  if (process.env.KAFKA_BROKERS) {
    // A group of its own per process: a SIGKILLed member stays in its group until the session
    // timeout (30 s), and a newcomer's first join waits for it. What this file tests is the
    // database protocol, not Kafka's rebalance.
    processEnv.DELIVERY_GROUP = `crash-${randomBytes(4).toString('hex')}`;
  }
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], { cwd: ROOT, env: processEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const gw = new GatewayProcess(child);
  children.add(gw);
  const started = Date.now();
  while (!/^READY (\S+)$/m.test(gw.output)) {
    if (gw.exit) throw new Error(`gateway process exited (${JSON.stringify(gw.exit)}) before it was ready\n${gw.tail()}`);
    if (Date.now() - started > 60_000) throw new Error(`gateway process not ready after 60 s\n${gw.tail()}`);
    await sleep(25);
  }
  gw.url = /^READY (\S+)$/m.exec(gw.output)![1]!;
  return gw;
}

/**
 * Starts the real entry point, `src/main.ts`, on the case's database with its workers, and waits
 * for the address it prints. Its delivery options are the production defaults but for what the
 * environment carries (DELIVERY_BACKOFF_MS, DELIVERY_RECONCILE_DELAY_MS, …).
 */
export async function startMain(c: Case, env: Record<string, string> = {}): Promise<GatewayProcess> {
  const processEnv: Record<string, string | undefined> = { ...process.env, ...baseEnv, DATABASE_URL: c.tdb.url, ...env };
  delete processEnv.NODE_TEST_CONTEXT;
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], { cwd: ROOT, env: processEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const gw = new GatewayProcess(child);
  children.add(gw);
  const started = Date.now();
  // outside production it prints its GraphiQL address once it serves (workers started before)
  const listening = /GraphiQL:\s+(\S+)\/graphql/;
  while (!listening.test(gw.output)) {
    if (gw.exit) throw new Error(`src/main.ts exited (${JSON.stringify(gw.exit)}) before it listened\n${gw.tail()}`);
    if (Date.now() - started > 90_000) throw new Error(`src/main.ts not listening after 90 s\n${gw.tail()}`);
    await sleep(25);
  }
  gw.url = listening.exec(gw.output)![1]!;
  return gw;
}

// ---- helpers -------------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value; throws `what` after `ms`. */
export async function waitFor<T>(fn: () => T | Promise<T>, what: () => string, ms = 30_000): Promise<NonNullable<T>> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > until) throw new Error(`timed out (${ms} ms) waiting for ${what()}`);
    await sleep(25);
  }
}

export type Mode = 'RESULT_FIELD' | 'LEAD_CONTENT';

export interface Case extends ConnectedAccount {
  tdb: TestDatabase;
  token: string;
  resultId: string;
  mode: Mode;
}

/**
 * A database, an amoCRM account (so the counts below are this case's), its catalogue and a rule.
 * LEAD_CONTENT: the account's user is no administrator, so amoCRM refuses the result-id field and
 * the gateway must recognise its lead by content.
 */
export async function setupCase(name: string, mode: Mode): Promise<Case> {
  const tdb = await createTestDatabase();
  databases.push(tdb);
  const conn = await connectSimAccount(tdb.db, sim, amoConfig, { seed: { pipelines: 1 } });
  if (mode === 'LEAD_CONTENT') sim.setAccountOptions(conn.amoId, { tokenUserIsAdmin: false });
  const cat = await copyCatalogue(tdb.db, sim, conn.accountId, conn.amoId);
  const p = at(sim.account(conn.amoId).pipelines, 0, 'pipeline');
  const status = p.statuses.find((s) => s.type === 0 && s.id !== 142 && s.id !== 143)!;
  await createRule(tdb.db, cat, conn.accountId, { quizId: 'quiz-crash', pipelineAmoId: p.id, statusAmoId: status.id });
  return { ...conn, tdb, mode, token: await tokenFor(conn.quizAccountId), resultId: `${name}-${randomBytes(3).toString('hex')}` };
}

/** The `submitQuizResult` mutation through the gateway process's HTTP port. */
export async function submit(gw: GatewayProcess, c: Case): Promise<Delivery> {
  const res = await fetch(`${gw.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${c.token}` },
    body: JSON.stringify({
      query: 'mutation Submit($input: QuizResultInput!) { submitQuizResult(input: $input) { id status } }',
      variables: {
        input: {
          resultId: c.resultId,
          quizId: 'quiz-crash',
          contact: { name: 'Иван', phone: '+7 900 111-22-33' },
          answers: [{ questionId: 'q1', title: 'Площадь', values: ['42'] }],
        },
      },
    }),
  });
  const body = (await res.json()) as { data?: { submitQuizResult?: { id: string } }; errors?: unknown };
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.ok(body.data?.submitQuizResult?.id, JSON.stringify(body));
  return row(c);
}

export const row = (c: Case) => c.tdb.db.delivery.findUniqueOrThrow({ where: { quizAccountId_resultId: { quizAccountId: c.quizAccountId, resultId: c.resultId } } });

/**
 * The case's leads at the simulator: those whose result-id field holds its result id; without
 * that field (LEAD_CONTENT) every lead of its account (a case sends one result).
 */
export const leadsOf = (c: Case) =>
  c.mode === 'LEAD_CONTENT'
    ? sim.leads(c.amoId)
    : sim.leads(c.amoId).filter((l) => (l.custom_fields_values ?? []).some((f) => (f.values ?? []).some((v) => String(v.value) === resultMarker(c.quizAccountId, c.resultId))));

const complexCalls = (c: Case) => sim.requestLog(c.amoId).filter((e) => e.method === 'POST' && e.path.startsWith('/api/v4/leads/complex')).length;

/** A fresh process without CRASH_AT delivers; then: one lead, one note, one send, DELIVERED. */
export async function restartAndCheck(c: Case, why: string, start: () => Promise<GatewayProcess> = () => startGateway(c, { DELIVERY_POLL_MS: '200' })): Promise<void> {
  const gw = await start();
  try {
    const done = await waitFor(
      async () => {
        const r = await row(c);
        return r.status === 'DELIVERED' ? r : null;
      },
      () => `the Delivery to be DELIVERED after the restart (${why})\n${gw.tail()}`,
    );
    const leads = leadsOf(c);
    assert.equal(leads.length, 1, `one lead carries the result id (${why})`);
    assert.equal(sim.leads(c.amoId).length, 1, 'no other lead in the account');
    const lead = leads[0]!;
    assert.equal(lead.notes.length, 1, 'one note');
    assert.ok(String(lead.notes[0]!.params.text ?? '').includes(c.resultId), 'the note names the result');
    assert.equal(done.amoLeadId, lead.id, 'the Delivery points at that lead');
    assert.equal(done.stage, 'DONE');
    assert.equal(complexCalls(c), 1, 'leads/complex was called once: the restart reconciled, it did not send again');
    assert.equal(await c.tdb.db.delivery.count({ where: { quizAccountId: c.quizAccountId } }), 1);
    const account = await c.tdb.db.amoAccount.findUniqueOrThrow({ where: { id: c.accountId } });
    assert.equal(account.reconcileMode, c.mode, 'reconciled the way the account allows');
    if (c.mode === 'LEAD_CONTENT')
      assert.equal(
        sim.account(c.amoId).fields.leads.some((f) => f.code === 'QUIZ_RESULT_ID'),
        false,
        'no result-id field',
      );
  } finally {
    const exit = await gw.terminate();
    assert.deepEqual(exit, { code: 0, signal: null }, `the restarted process stops cleanly\n${gw.tail()}`);
  }
}

/** Starts the shared simulator before the file's tests; after them kills what a failed test left running and drops the databases. */
export function useGatewayProcesses(): void {
  before(async () => {
    sim = createAmoSimulator({ clientId: TEST_AMO_CLIENT_ID, clientSecret: TEST_AMO_CLIENT_SECRET, redirectUri: TEST_AMO_REDIRECT });
    await sim.start();
    baseEnv = {
      NODE_ENV: 'test',
      PORT: '0',
      HOST: '127.0.0.1',
      AUTH_JWT_SECRET: TEST_JWT_SECRET,
      AMO_CLIENT_ID: TEST_AMO_CLIENT_ID,
      AMO_CLIENT_SECRET: TEST_AMO_CLIENT_SECRET,
      AMO_REDIRECT_URI: TEST_AMO_REDIRECT,
      AMO_AUTH_URL: `${sim.url}/oauth`,
      AMO_ALLOW_HTTP: 'true',
      TOKEN_ENCRYPTION_KEY: amoConfig.tokenEncryptionKey.toString('base64'),
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
      KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? '',
      KAFKA_TOPIC_PREFIX: process.env.KAFKA_BROKERS ? `crash${randomBytes(4).toString('hex')}.` : '',
      DELIVERY_BACKOFF_MS: '200',
    };
  });

  after(async () => {
    // whatever a failed test left running
    for (const gw of [...children]) {
      gw.child.kill('SIGKILL');
      await gw.waitExit(5_000).catch(() => {});
    }
    await Promise.all(databases.map((d) => d.drop()));
    await sim?.stop();
  });
}
