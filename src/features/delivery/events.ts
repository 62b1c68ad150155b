/** delivery.updated events and the in-process nudge that wakes this process's delivery loops. */
import { publishEvent } from '../../platform/events.ts';
import type { Services } from '../../platform/services.ts';
import type { DeliveryStatus } from '../../generated/prisma/enums.ts';

const wakers = new Set<() => void>();

/** Wakes every delivery loop of this process (other replicas find the work on their next poll). */
export function nudgeDeliveryWorkers(): void {
  for (const wake of wakers) wake();
}

/** Registers a loop's waker; returns the unregister function. */
export function onDeliveryNudge(wake: () => void): () => void {
  wakers.add(wake);
  return () => wakers.delete(wake);
}

/** Publishes `delivery.updated`; a failure to publish is logged, never thrown (the DB is the truth). */
export async function publishDeliveryUpdated(
  services: Pick<Services, 'queue' | 'logger'>,
  d: { id: string; quizAccountId: string; quizId: string; status: DeliveryStatus },
): Promise<void> {
  try {
    await publishEvent(services.queue, { type: 'delivery.updated', quizAccountId: d.quizAccountId, deliveryId: d.id, quizId: d.quizId, status: d.status });
  } catch (err) {
    services.logger.warn({ err: (err as Error)?.message, deliveryId: d.id }, 'could not publish delivery.updated');
  }
}
