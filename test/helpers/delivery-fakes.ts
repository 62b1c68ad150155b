// Small fakes for the delivery unit tests (test/delivery-units*.test.ts): a database that keeps
// Delivery rows in memory and fences writes by `locked_until` like PostgreSQL would, a queue that
// records what is published, and an amoCRM client scripted per test. No PostgreSQL, no simulator.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import type { Delivery } from '../../src/generated/prisma/client.ts';
import { AmoValidationError, type AmoClient, type AmoComplexLeadInput, type AmoValidationIssue } from '../../src/platform/amo/index.ts';
import { AccountRun, type Item } from '../../src/features/delivery/batch.ts';
import { Lease } from '../../src/features/delivery/lease.ts';
import { resolveOptions, type DeliveryRuntime, type DeliveryWorkerOptions } from '../../src/features/delivery/options.ts';
import type { QuizResult } from '../../src/features/delivery/input.ts';
import { createEventPublisher } from '../../src/platform/events.ts';
import { createLogger } from '../../src/platform/logger.ts';

export const NOW = Date.UTC(2027, 0, 15, 8, 0, 0);
export const ACCOUNT = 'acc-1';
/** the account's result-id lead field */
export const RESULT_FIELD = 5;
/** the rule's responsible user (amoCRM may refuse it: a repairable part of the lead) */
export const PERFORMER = 7;

type Row = Delivery & Record<string, unknown>;
type Where = { id?: string | { in: string[] }; lockedUntil?: Date | null; status?: string };

export function delivery(id: string, patch: Partial<Delivery> = {}): Delivery {
  // as stored in Delivery.payload (JSON: no undefined keys)
  const result = { resultId: `r-${id}`, quizId: 'q1', contact: { name: `Anna ${id}` }, answers: [{ questionId: 'q', title: 'Area', values: ['42'] }] } as QuizResult;
  return {
    id,
    quizAccountId: 'qa-1',
    accountId: ACCOUNT,
    quizId: 'q1',
    resultId: result.resultId,
    payload: result as never,
    traceParent: null,
    status: 'PENDING',
    stage: 'QUEUED',
    attempts: 0,
    nextAttemptAt: new Date(NOW),
    lockedUntil: null,
    amoLeadId: null,
    amoContactId: null,
    amoCompanyId: null,
    lastError: null,
    reason: 'QUEUED',
    firstSentAt: null,
    sentLead: null,
    amoCustomerId: null,
    customerSentAt: null,
    sentCustomer: null,
    customerLinkedAt: null,
    warnings: [],
    leadPipelineAmoId: null,
    leadStatusAmoId: null,
    leadStatusChangedAt: null,
    assignedUserAmoId: null,
    taskSentAt: null,
    sentTask: null,
    amoTaskId: null,
    leadDeletedAt: null,
    createdAt: new Date(NOW - 60_000),
    updatedAt: new Date(NOW - 60_000),
    deliveredAt: null,
    ...patch,
  };
}

/** The in-memory database: `rows` is what PostgreSQL would hold, `writes` every fenced update by id. */
export function fakeDb(initial: Delivery[], leaseUntil: Date) {
  const rows = new Map<string, Row>(initial.map((d) => [d.id, { ...d, lockedUntil: leaseUntil } as Row]));
  const writes: { id: string; data: Record<string, unknown> }[] = [];
  const sending: { id: string; lead: AmoComplexLeadInput; warnings: string[] }[] = [];
  const releases: string[][] = [];
  const renewals: string[][] = [];
  const accountWrites: Record<string, unknown>[] = [];
  const fenced = (r: Row | undefined, until: Date | null | undefined) => !!r && r.lockedUntil?.getTime() === until?.getTime();
  /** batch.ts' fenced commits of a chunk (SENDING, LEAD_CREATED, DONE): one statement, rows as JSON, the lease last */
  const chunkCommit = (sql: string, values: unknown[]) => {
    const until = values.at(-1) as string;
    const list = JSON.parse(values.at(-2) as string) as Record<string, any>[];
    const out: { id: string }[] = [];
    for (const x of list) {
      const r = rows.get(x.id);
      if (!r || r.lockedUntil?.toISOString() !== until || r.status !== 'PENDING') continue;
      if (sql.includes("stage = 'SENDING'")) {
        if (!['QUEUED', 'SENDING'].includes(r.stage)) continue;
        sending.push({ id: x.id, lead: x.lead, warnings: x.warnings });
        Object.assign(r, { stage: 'SENDING', attempts: r.attempts + 1, warnings: x.warnings, sentLead: x.lead, firstSentAt: r.firstSentAt ?? new Date() });
      } else {
        const data: Record<string, unknown> = sql.includes("stage = 'LEAD_CREATED'")
          ? { stage: 'LEAD_CREATED', amoLeadId: x.lead_id, amoContactId: x.contact_id, amoCompanyId: x.company_id, reason: 'ADDING_NOTE', lastError: null, warnings: x.warnings }
          : {
              stage: 'DONE',
              status: 'DELIVERED',
              reason: null,
              deliveredAt: new Date(values[0] as string),
              lastError: null,
              ...(x.warnings !== null ? { warnings: x.warnings } : {}),
              lockedUntil: null,
            };
        writes.push({ id: x.id, data });
        Object.assign(r, data);
      }
      out.push({ id: x.id });
    }
    return out;
  };
  const db = {
    delivery: {
      async updateMany({ where, data }: { where: Where; data: Record<string, unknown> }) {
        if (typeof where.id === 'object') {
          releases.push(where.id.in);
          let count = 0;
          for (const id of where.id.in) {
            const r = rows.get(id);
            if (fenced(r, where.lockedUntil)) {
              Object.assign(r!, data);
              count++;
            }
          }
          return { count };
        }
        const r = rows.get(where.id as string);
        if (!fenced(r, where.lockedUntil) || (where.status && r!.status !== where.status)) return { count: 0 };
        writes.push({ id: where.id as string, data });
        Object.assign(r!, data);
        return { count: 1 };
      },
      async findMany() {
        return [];
      },
    },
    /** the SENDING commit of batch.ts (values: warnings, sent lead, id, lease) */
    async $executeRaw(strings: TemplateStringsArray, ...values: unknown[]) {
      if (!strings.join('?').includes("stage = 'SENDING'")) throw new Error(`unexpected $executeRaw: ${strings.join('?')}`);
      const [warnings, lead, id, until] = values as [string[], string, string, string];
      const r = rows.get(id);
      if (!r || r.lockedUntil?.toISOString() !== until || r.status !== 'PENDING' || !['QUEUED', 'SENDING'].includes(r.stage)) return 0;
      sending.push({ id, lead: JSON.parse(lead), warnings });
      Object.assign(r, { stage: 'SENDING', attempts: r.attempts + 1, warnings, sentLead: JSON.parse(lead), firstSentAt: r.firstSentAt ?? new Date() });
      return 1;
    },
    /** the lease renewal of lease.ts (values: leaseMs, ids, lease; each renewal moves the lease on by 1 s), and batch.ts' chunk commits */
    async $queryRaw(strings: TemplateStringsArray, ...values: unknown[]) {
      const sql = strings.join('?');
      if (sql.includes('jsonb_to_recordset')) return chunkCommit(sql, values);
      // reconcile.ts' read of the account's setup, rule-row.ts' read of the rule
      if (sql.includes('FROM amo_account WHERE id')) return [{ resultFieldId: RESULT_FIELD, reconcileMode: 'RESULT_FIELD', reconcileCheckedAt: new Date() }];
      if (sql.includes('FROM rule r')) return [RULE_ROW];
      if (!sql.includes('SET locked_until')) throw new Error(`unexpected $queryRaw: ${sql}`);
      const [leaseMs, ids, until] = values as [number, string[], string];
      renewals.push(ids);
      const out: { id: string; locked_until: Date }[] = [];
      for (const id of ids) {
        const r = rows.get(id);
        if (!r || r.lockedUntil?.toISOString() !== until || r.status !== 'PENDING') continue;
        r.lockedUntil = new Date(Math.max(Date.now() + leaseMs, r.lockedUntil.getTime() + 1000));
        out.push({ id, locked_until: r.lockedUntil });
      }
      return out;
    },
    async $transaction(list: Promise<unknown>[]) {
      return Promise.all(list);
    },
    amoAccount: {
      async findUnique() {
        return { resultFieldId: RESULT_FIELD, reconcileMode: 'RESULT_FIELD', reconcileCheckedAt: new Date() };
      },
      async updateMany({ data }: { data: Record<string, unknown> }) {
        accountWrites.push(data);
        return { count: 1 };
      },
    },
  };
  /** another process took the row (its lease moved on): every fenced write of ours now misses it */
  const steal = (id: string) => {
    rows.get(id)!.lockedUntil = new Date(NOW + 999_999);
  };
  const row = (id: string) => rows.get(id)!;
  return { db, rows, row, writes, sending, releases, renewals, accountWrites, steal };
}

/** The rule as rule-row.ts reads it: performer PERFORMER, no mappings, no task. */
const RULE_ROW = {
  id: 'rule-1',
  pausedAt: null,
  toUnsorted: false,
  mergeDuplicates: false,
  leadNameTemplate: null,
  priceQuestionId: null,
  tagNames: {},
  assignmentMode: 'PERFORMER',
  assigneeIds: [],
  taskEnabled: false,
  taskText: null,
  taskTypeId: 1,
  taskDeadlineMinutes: 15,
  taskWorkDays: [],
  taskWorkFrom: 540,
  taskWorkTo: 1080,
  taskTimezone: null,
  pipelineAmoId: 1,
  stepAmoId: 10,
  performerAmoId: PERFORMER,
  performerActive: true,
  performerDeleted: false,
  resultFieldId: RESULT_FIELD,
  quizAccountId: null,
  accountTimezone: null,
  mappings: [],
  tags: [],
  utms: [],
  fields: [],
  assignees: [],
};

/** What a test scripts of amoCRM; every call is recorded in `calls`. */
export interface Script {
  complex?: (body: AmoComplexLeadInput[], call: number) => unknown;
  notes?: (body: { entity_id: number; request_id: string; params: { text: string } }[], call: number) => unknown;
  leadNotes?: (leadId: number) => unknown[];
}

export function fakeClient(script: Script) {
  const calls: { path: string; body: unknown }[] = [];
  const n = { complex: 0, notes: 0 };
  const client = {
    async createLeadsComplex(body: AmoComplexLeadInput[]) {
      calls.push({ path: 'POST leads/complex', body });
      if (!script.complex) throw new Error('unexpected createLeadsComplex');
      return script.complex(body, n.complex++);
    },
    async addNotesBatch(entity: string, body: never[]) {
      calls.push({ path: `notes ${entity}`, body });
      if (!script.notes) throw new Error('unexpected addNotesBatch');
      return script.notes(body, n.notes++);
    },
    async listLeadNotes(leadId: number) {
      calls.push({ path: `GET leads/${leadId}/notes`, body: undefined });
      return script.leadNotes?.(leadId) ?? [];
    },
    async listLeads() {
      calls.push({ path: 'GET leads', body: undefined });
      return [];
    },
    async listCustomFields() {
      throw new Error('unexpected listCustomFields: the result field is stored');
    },
    async createCustomFields() {
      throw new Error('unexpected createCustomFields');
    },
  };
  return { client: client as unknown as AmoClient, calls };
}

/** One account's run over `rows` (all leased), with recording fakes. */
export function world(rows: Delivery[], options: DeliveryWorkerOptions = {}, script: Script = {}, signal?: AbortSignal) {
  const published: { topic: string; key: string; value: { deliveryId: string; status: string } }[] = [];
  const rt0 = resolveOptions(options);
  const until = new Date(NOW + rt0.leaseMs);
  const f = fakeDb(rows, until);
  const { client, calls } = fakeClient(script);
  const queue = {
    publish: async (topic: string, key: string, value: never) => void published.push({ topic, key, value }),
    publishBatch: async (topic: string, messages: { key: string; value: never }[]) => void messages.forEach(({ key, value }) => published.push({ topic, key, value })),
  } as never;
  const logger = createLogger({ level: 'silent' });
  const rt: DeliveryRuntime = {
    services: {
      db: f.db as never,
      queue,
      logger,
      // the product's publisher over the recording queue
      events: createEventPublisher({ db: f.db as never, queue, logger }),
    } as never,
    options: rt0,
    client: () => client,
    signal,
  };
  const lease = new Lease(
    rt,
    until,
    rows.map((d) => d.id),
    NOW,
  );
  const run = new AccountRun(rt, ACCOUNT, lease, client);
  const items = (...ids: string[]): Item[] => ids.map((id) => ({ d: rows.find((d) => d.id === id)!, result: rows.find((d) => d.id === id)!.payload as unknown as QuizResult }));
  /** `[deliveryId, status]` of every delivery.updated published, in order */
  const events = () => published.map((p) => [p.value.deliveryId, p.value.status]);
  return { ...f, rt, lease, run, client, calls, published, events, items };
}

/** amoCRM's time format in the owner's sentences (no milliseconds). */
export const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

/** Frozen clock at NOW and Math.random = `random` (0.5: no jitter, the factor is exactly 1). */
export function freeze(t: TestContext, random = 0.5) {
  t.mock.timers.enable({ apis: ['Date'], now: NOW });
  t.mock.method(Math, 'random', () => random);
}

// ---- scripted runs of the send and notes branches (delivery-units-send / -notes) ----------------

/** amoCRM lead id of the Delivery of that id */
export const LEAD: Record<string, number> = { a: 101, b: 102, c: 103, d: 104 };
/** leads/complex taking every lead, answering with request_id */
export const created = (body: AmoComplexLeadInput[]) =>
  body.map((l) => ({ id: LEAD[l.request_id!], contact_id: 900, company_id: null, request_id: [l.request_id!], merged: false }));
/** leads/notes taking every note */
export const noted = (body: { entity_id: number; request_id: string }[]) => body.map((n, k) => ({ id: 500 + k, entity_id: n.entity_id, request_id: n.request_id }));
export const invalid = (...errors: Partial<AmoValidationIssue>[]) =>
  new AmoValidationError(
    'amoCRM refused the request',
    errors.map((e) => ({ path: '', code: '', detail: '', requestId: null, ...e })),
  );

/** One frozen-time run over `rows`; `complex` / `notes`: the request ids of each leads/complex and leads/notes call. */
export async function runOf(t: TestContext, rows: Delivery[], script: Script, options = {}) {
  freeze(t);
  const w = world(rows, options, script);
  await w.run.run(rows);
  const complex = w.calls.filter((c) => c.path === 'POST leads/complex').map((c) => (c.body as AmoComplexLeadInput[]).map((l) => l.request_id));
  const notes = w.calls.filter((c) => c.path === 'notes leads').map((c) => (c.body as { request_id: string }[]).map((n) => n.request_id));
  return { ...w, complex, notes };
}

export const delivered = (w: { row: (id: string) => Delivery }, id: string) => {
  const r = w.row(id);
  assert.deepEqual([r.stage, r.status, r.reason, r.lastError, r.amoLeadId, r.lockedUntil], ['DONE', 'DELIVERED', null, null, LEAD[id], null], `${id} delivered`);
};
