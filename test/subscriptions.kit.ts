// Shared set-up of the graphql-ws subscription suites (test/subscriptions-shared, test/tenancy-subscriptions):
// a gateway and the simulator on the in-process queue (amo.events has one partition, so events
// reach a subscriber in publish order), tenants A and B connected, subscribers on sockets of their own.
import { randomBytes } from 'node:crypto';
import type { Client } from 'graphql-ws';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { connectSimAccount, testAmoConfig, type ConnectedAccount } from './helpers/amo.ts';
import { tokenFor } from './helpers/app.ts';
import { startStack, wsClient, type Stack } from './helpers/stack.ts';

export interface Subscriber {
  /** what it received: each value's `pick`, or the error */
  got: string[];
  /** ends this subscription (its socket stays open) */
  stop: () => void;
  client: Client;
}

export interface SubscriptionStage {
  testDb: TestDatabase;
  stack: Stack;
  a: ConnectedAccount;
  b: ConnectedAccount;
  /** every subscriber's client, in the order they were opened */
  clients: Client[];
  subscribe(tenant: ConnectedAccount, query: string, pick: (data: any) => string, variables?: Record<string, unknown>): Promise<Subscriber>;
  /** a DELIVERED delivery of the tenant's quiz, published as delivery.updated; returns its resultId */
  emitDelivery(tenant: ConnectedAccount, quizId: string, label: string): Promise<string>;
  stop(): Promise<void>;
}

export async function startSubscriptionStage(quizAccountIds: { a: string; b: string }): Promise<SubscriptionStage> {
  const testDb = await createTestDatabase();
  const clients: Client[] = [];
  let stack: Stack | undefined;
  const stop = async () => {
    await Promise.all(clients.map((c) => c.dispose()));
    await stack?.stop();
    await testDb.drop();
  };
  try {
    stack = await startStack(testDb);
    const gateway = stack;
    const a = await connectSimAccount(testDb.db, gateway.sim, testAmoConfig(), { quizAccountId: quizAccountIds.a });
    const b = await connectSimAccount(testDb.db, gateway.sim, testAmoConfig(), { quizAccountId: quizAccountIds.b });
    return {
      testDb,
      stack: gateway,
      a,
      b,
      clients,
      async subscribe(tenant, query, pick, variables) {
        const client = wsClient(gateway.gw.url, await tokenFor(tenant.quizAccountId));
        clients.push(client);
        const got: string[] = [];
        const stop = client.subscribe(
          { query, variables },
          {
            next: (result) => void got.push(result.errors ? `error: ${JSON.stringify(result.errors)}` : pick(result.data)),
            error: (err) => void got.push(`error: ${String(err)}`),
            complete: () => {},
          },
        );
        return { got, stop, client };
      },
      async emitDelivery(tenant, quizId, label) {
        const resultId = `${label}-${randomBytes(3).toString('hex')}`;
        const row = await testDb.db.delivery.create({
          data: { quizAccountId: tenant.quizAccountId, accountId: tenant.accountId, quizId, resultId, payload: {}, status: 'DELIVERED' },
        });
        await gateway.gw.app.services.events.deliveryUpdated({ id: row.id, quizAccountId: tenant.quizAccountId, quizId, status: 'DELIVERED' });
        return resultId;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Waits for `cond` (what the subscribers hold, read synchronously); `what` says what was awaited and what there was. */
export async function untilSeen(what: () => string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
