// Test helpers for delivery: services from the app's own factory over a throwaway database and the
// in-process queue, the catalogue copied from a simulator account, rules written straight into the database.
import { randomBytes } from 'node:crypto';
import { loadConfig, type Config } from '../../src/platform/config.ts';
import type { Db } from '../../src/platform/db.ts';
import { createLogger } from '../../src/platform/logger.ts';
import { createQueue, TOPICS, type Queue } from '../../src/platform/queue/index.ts';
import { createServices, type CreateServicesOptions, type Services } from '../../src/platform/services.ts';
import { createDeliveryRuntime, runDeliveryPass, type DeliveryHooks, type DeliveryRuntime } from '../../src/features/delivery/worker.ts';
import { createAmoSimulator, type AmoSimulator, type CustomField as SimField, type SimulatorOptions } from '@quiz-gateway/amo-sim';
import { createTestDatabase, type TestDatabase } from './db.ts';
import { until } from './wait.ts';
import type { EntityType } from '../../src/generated/prisma/enums.ts';
import { connectSimAccount, TEST_AMO_CLIENT_ID, TEST_AMO_CLIENT_SECRET, TEST_AMO_REDIRECT, testAmoConfig, type ConnectedAccount } from './amo.ts';

/** Settings whose amoCRM part matches `testAmoConfig()` (same credentials and token key). */
export function deliveryTestConfig(): Config {
  const amo = testAmoConfig();
  return loadConfig({
    NODE_ENV: 'test',
    AUTH_JWT_SECRET: 'delivery-test-secret',
    AMO_CLIENT_ID: TEST_AMO_CLIENT_ID,
    AMO_CLIENT_SECRET: TEST_AMO_CLIENT_SECRET,
    AMO_REDIRECT_URI: TEST_AMO_REDIRECT,
    AMO_ALLOW_HTTP: 'true',
    AMO_RATE_LIMIT_RPS: String(amo.amo.rateLimitRps),
    TOKEN_ENCRYPTION_KEY: amo.tokenEncryptionKey.toString('base64'),
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
  });
}

/**
 * `createServices` over `db` (and `queue`, else an in-process one with short retries), without
 * metrics; `overrides` reach the factory (a logger, amoCRM client options …).
 */
export async function deliveryServices(db: Db, queue?: Queue, overrides: Omit<CreateServicesOptions, 'config' | 'db' | 'queue'> = {}): Promise<Services> {
  const config = deliveryTestConfig();
  return createServices({
    config,
    db,
    queue: queue ?? (await createQueue({ logger: createLogger({ level: 'silent' }), retryBackoffMs: 20 })),
    instanceId: `test-${randomBytes(3).toString('hex')}`,
    metrics: false,
    ...overrides,
  });
}

/**
 * Every `amo.events` message published from now on. `settled()` resolves once every message
 * published before it was recorded: its mark comes after them (the topic has one partition).
 */
export async function recordEvents(queue: Queue): Promise<{ events: any[]; settled(): Promise<void>; stop(): Promise<void> }> {
  const events: any[] = [];
  const sub = await queue.broadcast(TOPICS.amoEvents, async (m) => {
    events.push(m.value);
  });
  const settled = async () => {
    const mark = `mark-${randomBytes(4).toString('hex')}`;
    await queue.publish(TOPICS.amoEvents, mark, { type: 'test.mark', mark });
    await until('the amo.events mark', async () => events.some((e) => e?.mark === mark));
  };
  return { events, settled, stop: () => sub.stop() };
}

const ENTITY: Record<string, EntityType> = { leads: 'LEAD', contacts: 'CONTACT', companies: 'COMPANY', customers: 'CUSTOMER' };
const entityOf = (plural: string): EntityType => {
  const e = ENTITY[plural];
  if (!e) throw new Error(`catalogue: no entity type for "${plural}"`);
  return e;
};

export interface Catalogue {
  /** catalogue rows by amoCRM id: field ids are unique per entity, so key `${entity}:${amoId}` */
  field(entity: EntityType, amoId: number): { id: string; amoId: number };
  fieldBy(entity: EntityType, pred: (f: SimField) => boolean): SimField;
  pipelineId(amoId: number): string;
  stepId(pipelineAmoId: number, statusAmoId: number): string;
  userId(amoId: number): string;
  tagId(entity: EntityType, amoId: number): string;
}

/** Copies users, pipelines with statuses, fields and tags of the simulator account into the catalogue. */
export async function copyCatalogue(db: Db, sim: AmoSimulator, accountId: string, amoId: number): Promise<Catalogue> {
  const acc = sim.account(amoId);
  const users = new Map<number, string>();
  for (const u of acc.users) {
    const row = await db.amoUser.create({ data: { accountId, amoId: u.id, name: u.name, email: u.email }, select: { id: true } });
    users.set(u.id, row.id);
  }
  const pipelines = new Map<number, string>();
  const steps = new Map<string, string>();
  for (const p of acc.pipelines) {
    const row = await db.pipeline.create({ data: { accountId, amoId: p.id, name: p.name, sort: p.sort, isMain: p.is_main, isUnsortedOn: p.is_unsorted_on }, select: { id: true } });
    pipelines.set(p.id, row.id);
    for (const s of p.statuses) {
      const st = await db.step.create({ data: { accountId, pipelineId: row.id, amoId: s.id, name: s.name, sort: s.sort, type: s.type, color: s.color }, select: { id: true } });
      steps.set(`${p.id}:${s.id}`, st.id);
    }
  }
  const fields = new Map<string, string>();
  const simFields = new Map<EntityType, SimField[]>();
  for (const [entity, list] of Object.entries(acc.fields)) {
    const e = entityOf(entity);
    simFields.set(e, list);
    for (const f of list) {
      const row = await db.customField.create({
        data: {
          accountId,
          entity: e,
          amoId: f.id,
          name: f.name,
          code: f.code,
          rawType: f.type,
          sort: f.sort,
          isApiOnly: f.is_api_only,
          options: (f.enums ?? []).map((o) => ({ amoId: o.id, value: o.value, sort: o.sort })),
        },
        select: { id: true },
      });
      fields.set(`${e}:${f.id}`, row.id);
    }
  }
  const tags = new Map<string, string>();
  for (const [plural, list] of Object.entries(acc.tags)) {
    const entity = entityOf(plural);
    for (const t of list) {
      const row = await db.tag.create({ data: { accountId, entity, amoId: t.id, name: t.name, color: t.color }, select: { id: true } });
      tags.set(`${entity}:${t.id}`, row.id);
    }
  }
  const must = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new Error(`catalogue: no ${what}`);
    return v;
  };
  return {
    field: (entity, id) => ({ id: must(fields.get(`${entity}:${id}`), `field ${entity}:${id}`), amoId: id }),
    fieldBy: (entity, pred) => must((simFields.get(entity) ?? []).find(pred), `${entity} field matching`),
    pipelineId: (id) => must(pipelines.get(id), `pipeline ${id}`),
    stepId: (p, s) => must(steps.get(`${p}:${s}`), `step ${p}:${s}`),
    userId: (id) => must(users.get(id), `user ${id}`),
    tagId: (entity, id) => must(tags.get(`${entity}:${id}`), `tag ${entity}:${id}`),
  };
}

export interface RuleSpec {
  quizId: string;
  pipelineAmoId: number;
  statusAmoId: number;
  performerAmoId?: number;
  toUnsorted?: boolean;
  mergeDuplicates?: boolean;
  mappings?: { target: EntityType; source: 'QUESTION' | 'PROPERTY'; key: string; fieldAmoId: number }[];
  tags?: { entity: EntityType; amoId: number }[];
  utms?: { name: string; fieldAmoId: number }[];
}

/** Writes a rule (and the quiz's UTM mappings) for the account. */
export async function createRule(db: Db, cat: Catalogue, accountId: string, spec: RuleSpec): Promise<string> {
  const rule = await db.rule.create({
    data: {
      accountId,
      quizId: spec.quizId,
      pipelineId: cat.pipelineId(spec.pipelineAmoId),
      stepId: cat.stepId(spec.pipelineAmoId, spec.statusAmoId),
      performerId: spec.performerAmoId !== undefined ? cat.userId(spec.performerAmoId) : null,
      toUnsorted: spec.toUnsorted ?? false,
      mergeDuplicates: spec.mergeDuplicates ?? false,
      mappings: {
        create: (spec.mappings ?? []).map((m, position) => ({ target: m.target, source: m.source, key: m.key, fieldId: cat.field(m.target, m.fieldAmoId).id, position })),
      },
      tags: { create: (spec.tags ?? []).map((t, position) => ({ entity: t.entity, tagId: cat.tagId(t.entity, t.amoId), position })) },
    },
    select: { id: true },
  });
  for (const u of spec.utms ?? []) {
    await db.utm.create({ data: { accountId, quizId: spec.quizId, name: u.name, fieldId: cat.field('LEAD', u.fieldAmoId).id } });
  }
  return rule.id;
}

/** A delivery runtime with test-short backoffs and no reconcile delay (a long lease, so nothing is taken over). */
export function testDeliveryRuntime(services: Services, hooks: DeliveryHooks = {}, extra: Parameters<typeof createDeliveryRuntime>[1] = {}): DeliveryRuntime {
  return createDeliveryRuntime(services, {
    backoffMs: 20,
    maxBackoffMs: 100,
    reconcileDelayMs: 0,
    leaseMs: 20_000,
    amoClient: { backoffMs: 20, maxBackoffMs: 200 },
    hooks,
    ...extra,
  });
}

/** Runs passes until no Delivery of the quiz account is PENDING (or the time is up). */
export async function drainDeliveries(rt: DeliveryRuntime, db: Db, quizAccountId: string, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const n = await runDeliveryPass(rt);
    const pending = await db.delivery.count({ where: { quizAccountId, status: 'PENDING' } });
    if (pending === 0) return;
    if (Date.now() > until) throw new Error(`still ${pending} PENDING`);
    if (n === 0) await new Promise((r) => setTimeout(r, 30));
  }
}

/** What the delivery suites run against: a simulator over HTTP, a throwaway database, Services over them. */
export interface DeliveryKit {
  sim: AmoSimulator;
  tdb: TestDatabase;
  services: Services;
  stop(): Promise<void>;
}

export async function startDeliveryKit(simOptions: Partial<SimulatorOptions> = {}): Promise<DeliveryKit> {
  const sim = createAmoSimulator({ clientId: TEST_AMO_CLIENT_ID, clientSecret: TEST_AMO_CLIENT_SECRET, redirectUri: TEST_AMO_REDIRECT, rateLimitRps: 7, ...simOptions });
  await sim.start();
  const tdb = await createTestDatabase();
  const services = await deliveryServices(tdb.db);
  return {
    sim,
    tdb,
    services,
    async stop() {
      await services.queue.close();
      await tdb.drop();
      await sim.stop();
    },
  };
}

/** A connected simulator account with its catalogue copied, and the statuses its rules point at. */
export interface DeliveryAccount extends ConnectedAccount {
  cat: Catalogue;
  /** amoCRM id of the account's first pipeline */
  pipeline: number;
  /** its first ordinary status (neither Unsorted nor won / lost) */
  firstStatus: number;
  /** its Unsorted status */
  unsortedStatus: number;
  /** writes a rule of `quizId` into the first pipeline's first ordinary status (`spec` overrides) */
  rule(quizId: string, spec?: Partial<RuleSpec>): Promise<string>;
}

/** A fresh simulator account with `pipelines` pipelines, connected to the kit's database. */
export async function connectDeliveryAccount(kit: Pick<DeliveryKit, 'sim' | 'tdb'>, pipelines: number): Promise<DeliveryAccount> {
  const { sim, tdb } = kit;
  const conn = await connectSimAccount(tdb.db, sim, testAmoConfig(), { seed: { pipelines } });
  const cat = await copyCatalogue(tdb.db, sim, conn.accountId, conn.amoId);
  const p = sim.account(conn.amoId).pipelines[0];
  if (!p) throw new Error('the seeded account has no pipeline');
  const status = (what: string, pred: (s: { id: number; type: number }) => boolean) => {
    const found = p.statuses.find(pred);
    if (!found) throw new Error(`pipeline ${p.id} has no ${what} status`);
    return found.id;
  };
  const firstStatus = status('ordinary', (s) => s.type === 0 && s.id !== 142 && s.id !== 143);
  return {
    ...conn,
    cat,
    pipeline: p.id,
    firstStatus,
    unsortedStatus: status('Unsorted', (s) => s.type === 1),
    rule: (quizId, spec = {}) => createRule(tdb.db, cat, conn.accountId, { quizId, pipelineAmoId: p.id, statusAmoId: firstStatus, ...spec }),
  };
}

/** The text of the first note of the simulator's lead `leadId` ('' without a note). */
export const leadNote = (sim: AmoSimulator, amoId: number, leadId: number) => {
  const lead = sim.leads(amoId).find((l) => l.id === leadId);
  if (!lead) throw new Error(`no lead ${leadId} in amoCRM account ${amoId}`);
  return String(lead.notes[0]?.params.text ?? '');
};

/** A minimal quiz result: a contact and one answer. */
export const simpleResult = (resultId: string, quizId = 'quiz-1') => ({
  resultId,
  quizId,
  contact: { name: 'Иван', phone: '+7 900 111-22-33' },
  answers: [{ questionId: 'q1', title: 'Площадь', values: ['42'] }],
});

/** Every lease runs out now: as if the process holding them had died. */
export const expireLeases = (db: Db) => db.$executeRaw`UPDATE delivery SET locked_until = now() - interval '1 second' WHERE locked_until IS NOT NULL`;
