// Exactly once across real process deaths: a gateway process (test/fixtures/delivery-process.ts)
// is SIGKILLed at each step of a delivery, or SIGTERMed while amoCRM is answering, then a fresh
// process is started on the same database: one lead (and one note) each time.
//
// Which kill covers which gap of the protocol (docs/delivery.md):
//   beforeSend        SENDING committed, leads/complex not called: amoCRM has nothing; the next
//                     process reconciles (finds no lead) and sends.
//   (in flight)       killed by the test while leads/complex is at amoCRM (a slow answer): amoCRM
//                     finishes the lead after the process is gone; the next process takes over
//                     only when the lease runs out, reconciles and adopts that lead.
//   afterSend         amoCRM answered leads/complex (the lead exists there), LEAD_CREATED not yet
//                     committed: "amoCRM created the lead but the database never learned it". The
//                     row is SENDING without a lead id; the next process must find the lead (by
//                     the result-id field, or by its content where amoCRM refused that field)
//                     instead of sending again.
//   afterLeadCreated  LEAD_CREATED + ids committed, no note yet: the next process checks the
//                     lead's notes, finds none, adds one.
//   afterNote         the note is posted, DONE not committed: the next process finds the note
//                     and only finishes.
//   SIGTERM           a clean stop with leads/complex in flight: the worker aborts the call,
//                     leaves the row SENDING (maybe processed) for `reconcileDelayMs`, and the
//                     process exits 0; after a restart the lead amoCRM created is adopted.
//
// Every case runs in both reconcile modes (RESULT_FIELD, and LEAD_CONTENT for an account whose
// user may not create fields), and counts leads/complex calls at the simulator: exactly one, so "one lead" comes from
// reconciliation and not from luck.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { createAmoSimulator, type AmoSimulator } from '@quiz-gateway/amo-sim';
import type { Delivery } from '../src/generated/prisma/client.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { connectSimAccount, testAmoConfig, TEST_AMO_CLIENT_ID, TEST_AMO_CLIENT_SECRET, TEST_AMO_REDIRECT, type ConnectedAccount } from './helpers/amo.ts';
import { copyCatalogue, createRule } from './helpers/delivery.ts';
import { at } from './helpers/narrow.ts';
import { TEST_JWT_SECRET, tokenFor } from './helpers/app.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const FIXTURE = path.join(import.meta.dirname, 'fixtures/delivery-process.ts');
/**
 * The crashing process's lease: how long a dead process keeps its Deliveries from the next one.
 * Short, so the restart does not wait long; its leads/complex timeout (at most 3/4 of it) stays
 * long enough for a loaded machine.
 */
const CRASH_ENV = { DELIVERY_LEASE_MS: '4000', DELIVERY_SEND_TIMEOUT_MS: '3000' };

const amoConfig = testAmoConfig();
let sim: AmoSimulator;
/** one database per case: the cases run side by side, and a restarted process must see only its case */
const databases: TestDatabase[] = [];
/** settings shared by every gateway process of this file */
let baseEnv: Record<string, string>;
const children = new Set<GatewayProcess>();

// ---- gateway processes ---------------------------------------------------------------------------

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

class GatewayProcess {
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
async function startGateway(c: Case, env: Record<string, string> = {}): Promise<GatewayProcess> {
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

// ---- helpers -------------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value; throws `what` after `ms`. */
async function waitFor<T>(fn: () => T | Promise<T>, what: () => string, ms = 30_000): Promise<NonNullable<T>> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > until) throw new Error(`timed out (${ms} ms) waiting for ${what()}`);
    await sleep(25);
  }
}

type Mode = 'RESULT_FIELD' | 'LEAD_CONTENT';

interface Case extends ConnectedAccount {
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
async function setupCase(name: string, mode: Mode): Promise<Case> {
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
async function submit(gw: GatewayProcess, c: Case): Promise<Delivery> {
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

const row = (c: Case) => c.tdb.db.delivery.findUniqueOrThrow({ where: { quizAccountId_resultId: { quizAccountId: c.quizAccountId, resultId: c.resultId } } });

/**
 * The case's leads at the simulator: those whose result-id field holds its result id; without
 * that field (LEAD_CONTENT) every lead of its account (a case sends one result).
 */
const leadsOf = (c: Case) =>
  c.mode === 'LEAD_CONTENT'
    ? sim.leads(c.amoId)
    : sim.leads(c.amoId).filter((l) => (l.custom_fields_values ?? []).some((f) => (f.values ?? []).some((v) => String(v.value) === c.resultId)));

const complexCalls = (c: Case) => sim.requestLog(c.amoId).filter((e) => e.method === 'POST' && e.path.startsWith('/api/v4/leads/complex')).length;

/** A fresh process without CRASH_AT delivers; then: one lead, one note, one send, DELIVERED. */
async function restartAndCheck(c: Case, why: string): Promise<void> {
  const gw = await startGateway(c, { DELIVERY_POLL_MS: '200' });
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

// ---- setup ---------------------------------------------------------------------------------------

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

// ---- the cases -----------------------------------------------------------------------------------

// The cases are independent (a database and an amoCRM account each) and mostly wait (leases,
// slow answers, process start-up): they run side by side.
for (const mode of ['RESULT_FIELD', 'LEAD_CONTENT'] as const) {
  describe(`gateway processes killed during a delivery (reconciled by ${mode})`, { concurrency: 3 }, () => {
    const points = [
      { point: 'beforeSend', stage: 'SENDING', leads: 0, notes: 0 },
      // amoCRM answered, the commit of LEAD_CREATED never happened
      { point: 'afterSend', stage: 'SENDING', leads: 1, notes: 0 },
      { point: 'afterLeadCreated', stage: 'LEAD_CREATED', leads: 1, notes: 0 },
      { point: 'afterNote', stage: 'LEAD_CREATED', leads: 1, notes: 1 },
    ] as const;

    for (const p of points) {
      test(`SIGKILL at ${p.point}, then a restart: one lead`, async () => {
        const c = await setupCase(p.point, mode);
        const gw = await startGateway(c, { CRASH_AT: p.point, ...CRASH_ENV });
        const d = await submit(gw, c);
        const exit = await gw.waitExit(30_000);
        assert.deepEqual(exit, { code: null, signal: 'SIGKILL' }, gw.tail());
        assert.match(gw.output, new RegExp(`^CRASH ${p.point} .*${d.id}`, 'm'), 'it died in the hook, on this Delivery');

        // what the dead process left behind
        const mid = await row(c);
        assert.equal(mid.status, 'PENDING');
        assert.equal(mid.stage, p.stage);
        assert.notEqual(mid.lockedUntil, null, 'its lease was never released');
        assert.equal(leadsOf(c).length, p.leads, 'leads at amoCRM when it died');
        assert.equal(leadsOf(c)[0]?.notes.length ?? 0, p.notes, 'notes at amoCRM when it died');
        if (p.point === 'afterSend') assert.equal(mid.amoLeadId, null, 'amoCRM has the lead, the database does not know it');
        else if (p.stage === 'LEAD_CREATED') assert.equal(mid.amoLeadId, at(leadsOf(c), 0, 'lead').id);

        await restartAndCheck(c, `killed at ${p.point}`);
      });
    }

    test('SIGKILL while leads/complex is in flight (amoCRM finishes the lead afterwards), then a restart: one lead', async () => {
      const c = await setupCase('inflight', mode);
      const gw = await startGateway(c, CRASH_ENV);
      sim.injectFault(c.amoId, { kind: 'slow', delayMs: 1_000, count: 1, path: 'leads/complex' });
      await submit(gw, c);
      await waitFor(
        () => sim.faults(c.amoId).length === 0,
        () => `leads/complex to reach the simulator\n${gw.tail()}`,
      );
      gw.child.kill('SIGKILL');
      assert.deepEqual(await gw.waitExit(10_000), { code: null, signal: 'SIGKILL' });
      const mid = await row(c);
      assert.equal(mid.stage, 'SENDING');
      assert.equal(mid.amoLeadId, null);
      assert.notEqual(mid.lockedUntil, null, 'its lease was never released');
      // The restart comes after amoCRM finished the lead. (Had the lease run out first, the next
      // process would search too early and send again: the window worker.ts documents, closed in
      // production by a lease far longer than any request.)
      await waitFor(
        () => leadsOf(c).length === 1,
        () => 'amoCRM to finish the lead of the dead process',
      );
      await restartAndCheck(c, 'killed in flight');
    });

    test('SIGTERM with leads/complex in flight: exit 0, and after a restart exactly one lead, DELIVERED', async () => {
      const c = await setupCase('sigterm', mode);
      const slowMs = 5_000;
      // the stopping process leaves the row SENDING for this long: longer than amoCRM takes to
      // finish the request it is cut off from, so the restart finds that lead (worker.ts: "the
      // remaining window")
      const gw = await startGateway(c, { DELIVERY_RECONCILE_DELAY_MS: String(slowMs + 1_500), DELIVERY_LEASE_MS: '30000' });
      sim.injectFault(c.amoId, { kind: 'slow', delayMs: slowMs, count: 1, path: 'leads/complex' });
      await submit(gw, c);
      await waitFor(
        () => sim.faults(c.amoId).length === 0,
        () => `leads/complex to reach the simulator\n${gw.tail()}`,
      );
      assert.equal(leadsOf(c).length, 0, 'the call is still in flight');

      const exit = await gw.terminate(20_000);
      assert.deepEqual(exit, { code: 0, signal: null }, `a clean exit\n${gw.tail()}`);
      const mid = await row(c);
      assert.equal(mid.status, 'PENDING');
      assert.equal(mid.stage, 'SENDING', 'maybe processed: kept for reconciliation');
      assert.equal(mid.lockedUntil, null, 'the lease was given back');
      assert.equal(mid.attempts, 1);
      assert.ok(mid.nextAttemptAt > mid.updatedAt, 'to be reconciled later, not at once');

      // amoCRM finishes the request the stopped process was cut off from; the restart must adopt it
      await waitFor(
        () => leadsOf(c).length === 1,
        () => 'amoCRM to finish the cut-off request',
      );
      await restartAndCheck(c, 'SIGTERM in flight');
    });
  });
}
