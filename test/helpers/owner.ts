// What a quiz owner does and sees, through the gateway's GraphQL API: connect a simulated amoCRM
// account, wait for the sync, write a rule from the synced catalogue, send results (through the
// quiz.results topic, as the quiz platform does), and read back deliveries and the account.
import assert from 'node:assert/strict';
import type { Account as SimAccount } from '@quiz-gateway/amo-sim';
import { TOPICS } from '../../src/platform/queue/index.ts';
import { tokenFor } from './app.ts';
import { TEST_AMO_CLIENT_ID } from './amo.ts';
import type { Stack } from './stack.ts';
import { until } from './wait.ts';

export interface Owner {
  tenant: string;
  token: string;
  amoId: number;
  sim: () => SimAccount;
  gql<T = any>(query: string, variables?: Record<string, unknown>): Promise<T>;
  /** the synced catalogue's GraphQL ids by amoCRM id */
  ids: {
    pipeline(amoId: number): string;
    step(pipelineAmoId: number, amoId: number): string;
    field(entity: string, amoId: number): string;
    user(amoId: number): string;
    tag(entity: string, amoId: number): string;
  };
  submit(result: Record<string, unknown>): Promise<void>;
  deliveries(): Promise<DeliveryView[]>;
  account(): Promise<any>;
  /** connects the same amoCRM account again through the OAuth flow */
  reconnect(): Promise<void>;
}

export interface DeliveryView {
  resultId: string;
  status: 'PENDING' | 'DELIVERED' | 'FAILED';
  reason: string | null;
  lastError: string | null;
  warnings: string[];
  attempts: number;
  amoLeadId: number | null;
  nextAttemptAt: string | null;
}

const DELIVERY_FIELDS = 'resultId status reason lastError warnings attempts amoLeadId nextAttemptAt';
export const ACCOUNT_FIELDS = 'stale blocked reconcileMode reconcileNote deliveryHealth { waiting failed oldestWaitingAt mainReason reasons { reason count } }';

async function connectFlow(stack: Stack, token: string, amoId: number): Promise<void> {
  const res = await stack.gw.gql('mutation { connectAccount { link } }', {}, token);
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  const link = new URL(res.data.connectAccount.link);
  const redirect = new URL(stack.sim.authorize({ accountId: amoId, state: link.searchParams.get('state')!, consent: 'allow', clientId: TEST_AMO_CLIENT_ID }));
  assert.equal((await fetch(`${stack.gw.url}${redirect.pathname}${redirect.search}`)).status, 200);
}

/** Connects the simulated amoCRM account `amoId` for the token's tenant through the OAuth flow and waits for its first sync to succeed. */
export async function connectAndSync(stack: Stack, token: string, amoId: number): Promise<void> {
  await connectFlow(stack, token, amoId);
  const sync = await until(
    'the first sync',
    async () => {
      const res = await stack.gw.gql('{ account { lastSync { status error } } }', {}, token);
      assert.equal(res.errors, undefined, JSON.stringify(res.errors));
      const s = res.data.account?.lastSync;
      return s && (s.status === 'SUCCEEDED' || s.status === 'FAILED') ? s : null;
    },
    60_000,
  );
  assert.equal(sync.status, 'SUCCEEDED', sync.error);
}

/** A fresh simulated account (seeded, then `options` applied), connected and synced for `tenant`. */
export async function connectOwner(stack: Stack, tenant: string, setup: { seed?: Record<string, unknown>; options?: Record<string, unknown> } = {}): Promise<Owner> {
  const amo = stack.sim.seedAccount({ pipelines: 2, ...setup.seed });
  if (setup.options) stack.sim.setAccountOptions(amo.id, setup.options as never);
  const token = await tokenFor(tenant);
  const gql = async (query: string, variables: Record<string, unknown> = {}) => {
    const res = await stack.gw.gql(query, variables, token);
    assert.equal(res.errors, undefined, JSON.stringify(res.errors));
    return res.data;
  };
  await connectAndSync(stack, token, amo.id);

  // one query per list: the gateway's cost limit refuses one query for all of it
  const cat = {
    pipelines: (await gql('{ pipelines(first: 10, includeArchived: true) { edges { node { id amoId steps(first: 40) { edges { node { id amoId } } } } } } }')).pipelines,
    users: (await gql('{ users(first: 100) { edges { node { id amoUserId } } } }')).users,
    tags: (await gql('{ tags(first: 100) { edges { node { id amoId entity } } } }')).tags,
    fields: await Promise.all(
      ['LEAD', 'CONTACT', 'COMPANY', 'CUSTOMER'].map(async (entity) => (await gql(`{ fields(entity: ${entity}, first: 100) { edges { node { id amoId entity } } } }`)).fields),
    ),
  };
  const must = (v: string | undefined, what: string) => {
    if (!v) throw new Error(`catalogue has no ${what}`);
    return v;
  };
  const nodes = (c: any) => c.edges.map((e: any) => e.node);
  const fields = cat.fields.flatMap(nodes);
  const ids: Owner['ids'] = {
    pipeline: (a) => must(nodes(cat.pipelines).find((p: any) => p.amoId === a)?.id, `pipeline ${a}`),
    step: (p, a) => must(nodes(nodes(cat.pipelines).find((x: any) => x.amoId === p)?.steps ?? { edges: [] }).find((s: any) => s.amoId === a)?.id, `step ${a}`),
    field: (e, a) => must(fields.find((f: any) => f.entity === e && f.amoId === a)?.id, `${e} field ${a}`),
    user: (a) => must(nodes(cat.users).find((u: any) => u.amoUserId === a)?.id, `user ${a}`),
    tag: (e, a) => must(nodes(cat.tags).find((t: any) => t.entity === e && t.amoId === a)?.id, `${e} tag ${a}`),
  };
  return {
    tenant,
    token,
    amoId: amo.id,
    sim: () => stack.sim.account(amo.id),
    gql,
    ids,
    submit: (result) => stack.gw.app.services.queue.publish(TOPICS.quizResults, tenant, { quizAccountId: tenant, ...result }),
    deliveries: async () => nodes((await gql(`{ deliveries(first: 100) { edges { node { ${DELIVERY_FIELDS} } } } }`)).deliveries),
    account: async () => (await gql(`{ account { ${ACCOUNT_FIELDS} } }`)).account,
    reconnect: () => connectFlow(stack, token, amo.id),
  };
}

/** Waits until every delivery of the owner has ended (none PENDING) and `count` exist; returns them by result id. */
export async function settled(owner: Owner, count: number, timeoutMs = 60_000): Promise<Map<string, DeliveryView>> {
  const list = await until(
    `${count} deliveries of ${owner.tenant} to end`,
    async () => {
      const all = await owner.deliveries();
      return all.length === count && all.every((d) => d.status !== 'PENDING') ? all : null;
    },
    timeoutMs,
  );
  return new Map(list.map((d) => [d.resultId, d]));
}

/** The simulator's leads that carry this result (by the note's marker line or the result-id field). */
export function leadsOf(owner: Owner, stack: Stack, resultId: string) {
  return stack.sim.leads(owner.amoId).filter(
    (l) =>
      l.notes.some((n) =>
        String(n.params?.text ?? '')
          .split('\n')
          .includes(`Quiz result ID: ${resultId}`),
      ) || (l.custom_fields_values ?? []).some((f) => f.values.some((v) => v.value === resultId)),
  );
}

export const sampleResult = (resultId: string, quizId = 'quiz-1', extra: Record<string, unknown> = {}) => ({
  resultId,
  quizId,
  contact: { name: 'Анна', phone: '+7 900 555-00-11', email: 'anna@example.com' },
  answers: [
    { questionId: 'q1', title: 'Площадь', values: ['42'] },
    { questionId: 'q2', title: 'Комментарий', values: ['Позвоните вечером'] },
  ],
  ...extra,
});
