// The world of the webhook integration tests (test/webhooks*.test.ts): a gateway stack over a
// throwaway database and the simulator, one connected account, the endpoint amoCRM posts to, and
// the amo.tasks consumer that processes what it stores.
import { randomBytes } from 'node:crypto';
import { webhookEventTaskHandler } from '../../src/features/webhooks/index.ts';
import { handleAmoTask } from '../../src/features/catalogue/worker.ts';
import { TOPICS, type Subscription } from '../../src/platform/queue/index.ts';
import type { Services } from '../../src/platform/services.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';
import { connectSimAccount, testAmoConfig, type ConnectedAccount } from './amo.ts';
import { kafkaSettings, startStack, type Stack } from './stack.ts';
import { only } from './narrow.ts';
import type { Delivery } from '../../src/generated/prisma/client.ts';
import type { LeadView } from '@quiz-gateway/amo-sim';

export const FORM = 'application/x-www-form-urlencoded';
export const form = (pairs: Record<string, string | number>) => new URLSearchParams(Object.entries(pairs).map(([k, v]) => [k, String(v)])).toString();

export interface WebhookWorld {
  testDb: TestDatabase;
  stack: Stack;
  /** the gateway's services, their publicUrl pointing at `hookUrl` */
  services: Services;
  /** where amoCRM posts: the gateway's own `POST /webhook/amo/:secret` route */
  hookUrl: string;
  conn: ConnectedAccount;
  /** the account's webhook secret */
  secret: string;
  /** how many webhook events the database holds for the account */
  eventCount(accountId?: string): Promise<number>;
  /** POSTs `body` to the webhook endpoint */
  post(path: string, body: string, contentType?: string): Promise<Response>;
  /** a lead at the simulator (through its API) and the Delivery that "created" it */
  leadWithDelivery(quizId?: string): Promise<{ leadId: number; delivery: Delivery; lead: LeadView }>;
  /** a status of the lead's pipeline other than its current one (and not won/lost) */
  otherStatus(pipelineId: number, current: number): number;
  stop(): Promise<void>;
}

export async function startWebhookWorld(): Promise<WebhookWorld> {
  let testDb: TestDatabase | undefined;
  let stack: Stack | undefined;
  let consumer: Subscription | undefined;
  const stop = async () => {
    await consumer?.stop();
    await stack?.stop();
    await testDb?.drop();
  };
  try {
    testDb = await createTestDatabase();
    stack = await startStack(testDb, { simOptions: { webhookBackoffMs: 50, webhookRetries: 2 }, config: kafkaSettings() });
    const conn = await connectSimAccount(testDb.db, stack.sim, testAmoConfig());
    const secret = (await testDb.db.amoAccount.findUniqueOrThrow({ where: { id: conn.accountId } })).webhookSecret;
    // amoCRM posts to the gateway's own route: no stand-in server, so a removed or broken route fails the tests
    const hookUrl = stack.gw.url;
    const gwServices = stack.gw.app.services;
    // startStack leaves PUBLIC_URL unset (so publicUrl is :4000): point destinations at the endpoint.
    const services: Services = { ...gwServices, config: { ...gwServices.config, publicUrl: hookUrl } };
    // The amo.tasks consumer as the worker runs it, with the webhook.event handler.
    consumer = await services.queue.consume(TOPICS.amoTasks, 'gateway-workers', (m) =>
      handleAmoTask(services, m, { handlers: { 'webhook.event': webhookEventTaskHandler(services) } }),
    );
    const db = testDb.db;
    const sim = stack.sim;
    return {
      testDb,
      stack,
      services,
      hookUrl,
      conn,
      secret,
      stop,
      eventCount: (accountId = conn.accountId) => db.webhookEvent.count({ where: { accountId } }),
      post: (path, body, contentType = FORM) => fetch(`${hookUrl}${path}`, { method: 'POST', headers: { 'content-type': contentType }, body }),
      async leadWithDelivery(quizId = 'quiz-1') {
        const created = only(await services.amo.client(conn.accountId).createLeadsComplex([{ name: 'Quiz lead' }]), 'created lead');
        const delivery = await db.delivery.create({
          data: {
            quizAccountId: conn.quizAccountId,
            accountId: conn.accountId,
            quizId,
            resultId: `result-${randomBytes(4).toString('hex')}`,
            payload: {},
            status: 'DELIVERED',
            stage: 'DONE',
            amoLeadId: created.id,
            deliveredAt: new Date(),
          },
        });
        const lead = sim.leads(conn.amoId).find((l) => l.id === created.id)!;
        return { leadId: created.id, delivery, lead };
      },
      otherStatus(pipelineId, current) {
        const p = sim.account(conn.amoId).pipelines.find((x) => x.id === pipelineId)!;
        return p.statuses.find((s) => s.id !== current && s.id !== 142 && s.id !== 143 && s.type === 0)!.id;
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
