/**
 * The delivery worker: quiz results (Delivery rows) → amoCRM leads, exactly once per result.
 * The `quiz.results` consumer takes results in (accept.ts); the loop claims due Deliveries per
 * account (claim.ts) and works on each account's batch (batch.ts, notes.ts); every few seconds
 * the waiting ones' reasons follow their accounts' state (reasons.ts). The protocol — stages,
 * leases, reconcile, the failure table — is in docs/delivery.md.
 */
import type { Services } from '../../platform/services.ts';
import type { Delivery } from '../../generated/prisma/client.ts';
import { AppError, conflict, notFound } from '../../platform/errors.ts';
import { TOPICS, type Subscription } from '../../platform/queue/index.ts';
import { abortableSleep } from '../../platform/amo/rate-limit.ts';
import { contextOf, continuedTraceparent, linksTo, withSpan } from '../../platform/tracing.ts';
import { acceptResults } from './accept.ts';
import { AccountRun } from './batch.ts';
import { claimDueDeliveries, type ClaimedBatch } from './claim.ts';
import { Lease } from './lease.ts';
import { createDeliveryRuntime, type DeliveryRuntime, type DeliveryWorkerOptions } from './options.ts';
import { errMessage, sweepAccountReasons } from './reasons.ts';

export { NO_RULE_ERROR } from './batch.ts';
export { claimDueDeliveries, type ClaimedBatch, type ClaimOptions } from './claim.ts';
export { createDeliveryRuntime, resolveOptions, DELIVERY_GROUP, type DeliveryHooks, type DeliveryRuntime, type DeliveryWorkerOptions } from './options.ts';

export async function processBatch(rt: DeliveryRuntime, batch: ClaimedBatch): Promise<void> {
  const lease = new Lease(
    rt,
    batch.lease,
    batch.deliveries.map((d) => d.id),
    batch.claimedAt,
  );
  const run = new AccountRun(rt, batch.accountId, lease, rt.client(batch.accountId));
  // Continues the trace of the batch's first result (its request or quiz.results message); linked to every result's.
  const traceparents = batch.deliveries.map((d) => d.traceParent);
  const attributes = { 'amo.account_id': batch.accountId, 'delivery.count': batch.deliveries.length };
  await withSpan('delivery send', { parent: contextOf({ traceparent: traceparents[0] }), links: linksTo(traceparents), attributes }, () => run.run(batch.deliveries));
  await lease.releaseAll();
}

/** Claims due Deliveries and works on them, accounts in parallel. Returns how many were claimed. */
export async function runDeliveryPass(rt: DeliveryRuntime): Promise<number> {
  return (await deliveryPass(rt)).claimed;
}

/** One pass; `full` when the claim hit one of its bounds, so more may be due right now. */
async function deliveryPass(rt: DeliveryRuntime): Promise<{ claimed: number; full: boolean }> {
  const o = rt.options;
  const batches = await claimDueDeliveries(rt.services, { accounts: o.claimAccounts, batchSize: o.batchSize, limit: o.claimLimit, leaseMs: o.leaseMs });
  const claimed = batches.reduce((n, b) => n + b.deliveries.length, 0);
  const full = claimed >= o.claimLimit || batches.length >= o.claimAccounts || batches.some((b) => b.deliveries.length >= o.batchSize);
  const queue = [...batches];
  const errors: unknown[] = [];
  const lanes = Array.from({ length: Math.min(o.accountConcurrency, queue.length) }, async () => {
    for (let b = queue.shift(); b; b = queue.shift()) {
      try {
        await processBatch(rt, b);
      } catch (err) {
        errors.push(err);
      }
    }
  });
  await Promise.all(lanes);
  if (errors.length) throw errors[0];
  return { claimed, full };
}

/**
 * Starts the delivery worker: the `quiz.results` consumer (→ `acceptResults`, a batch at a time) and the loop that
 * delivers due Deliveries. `stop()` stops consuming, aborts amoCRM calls in flight (a send cut
 * short is reconciled later) and waits for the loop.
 */
export async function startDeliveryWorker(services: Services, options: DeliveryWorkerOptions = {}): Promise<{ stop(): Promise<void> }> {
  const abort = new AbortController();
  const rt = createDeliveryRuntime(services, options, abort.signal);
  const log = services.logger.child({ worker: 'delivery' });

  let sub: Subscription | null = null;
  if (rt.options.consume) {
    sub = await services.queue.consumeBatch(
      TOPICS.quizResults,
      rt.options.group,
      async (messages) => {
        const items = messages.map((message) => {
          const value = (message.value ?? {}) as Record<string, unknown>;
          const quizAccountId = typeof value.quizAccountId === 'string' && value.quizAccountId ? value.quizAccountId : message.key;
          return { quizAccountId, input: value as unknown, traceparent: continuedTraceparent(message.headers) };
        });
        // A bad result throws (after the good ones of its batch are in): the queue then handles the
        // batch one message at a time, so the bad one alone is retried and parked in the
        // dead-letter topic (the good ones are duplicates by then, nothing changes).
        // Anything else (the database restarting, a full pool) is waited out here, however long:
        // a result parked for a passing outage would be a lost lead.
        for (let attempt = 0; ; attempt++) {
          try {
            const bad = (await acceptResults(services, items)).find((o) => !o.ok);
            if (bad) throw bad.error;
            return;
          } catch (err) {
            if (err instanceof AppError || abort.signal.aborted) throw err;
            const quizAccountId = items.length === 1 ? items[0]?.quizAccountId : undefined;
            services.logger.warn({ err: errMessage(err), quizAccountId, count: items.length, attempt }, 'quiz results not taken in yet; retrying');
            await abortableSleep(Math.min(30_000, 500 * 2 ** Math.min(attempt, 6)), abort.signal).catch(() => {});
          }
        }
      },
      { concurrency: rt.options.consumeConcurrency },
    );
  }

  let stopped = false;
  // `passesInFlight` loops claim and deliver side by side: while one pass writes its SQL, another's
  // amoCRM calls use the account's next slots (rows are leased one by one, so no row is in two passes)
  const wakers = new Set<() => void>();
  const unregister = services.deliveryWaker.onWake(() => {
    for (const w of [...wakers]) w();
  });

  let sweptAt = 0;
  const loopOnce = async () => {
    while (!stopped) {
      let nudged = false;
      const onNudge = () => void (nudged = true);
      wakers.add(onNudge);
      let full = false;
      try {
        if (Date.now() - sweptAt >= rt.options.reasonSweepMs) {
          sweptAt = Date.now();
          await sweepAccountReasons(services, { maxWaitMs: rt.options.maxWaitMs });
        }
        ({ full } = await deliveryPass(rt));
      } catch (err) {
        log.error({ err: errMessage(err) }, 'delivery pass failed');
      } finally {
        wakers.delete(onNudge);
      }
      if (stopped) break;
      if (full || nudged) continue;
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, rt.options.pollMs);
        function done() {
          clearTimeout(t);
          wakers.delete(done);
          resolve();
        }
        wakers.add(done);
      });
    }
  };
  const loop = Promise.all(Array.from({ length: rt.options.passesInFlight }, loopOnce));

  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      await sub?.stop();
      abort.abort(new Error('delivery worker stopping'));
      for (const w of [...wakers]) w();
      await loop;
      unregister();
    },
  };
}

/**
 * Puts a FAILED Delivery of `quizAccountId` back to PENDING (attempts start again from 0; the
 * stage is kept, so one that may have reached amoCRM is reconciled first). NOT_FOUND for a
 * missing one or another tenant's; CONFLICT when it is not FAILED.
 */
export async function retryDelivery(services: Services, quizAccountId: string, deliveryId: string): Promise<Delivery> {
  const isUuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(deliveryId);
  if (!isUuid) throw notFound('Delivery');
  const res = await services.db.delivery.updateMany({
    where: { id: deliveryId, quizAccountId, status: 'FAILED' },
    data: { status: 'PENDING', reason: 'QUEUED', lastError: null, attempts: 0, nextAttemptAt: new Date(), lockedUntil: null },
  });
  const row = await services.db.delivery.findFirst({ where: { id: deliveryId, quizAccountId } });
  if (!row) throw notFound('Delivery');
  if (res.count === 0) throw conflict(`Only a FAILED delivery can be retried; this one is ${row.status}`);
  await services.events.deliveryUpdated(row);
  services.deliveryWaker.wake();
  return row;
}
