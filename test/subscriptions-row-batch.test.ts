// deliveryUpdated's row load (src/features/delivery/graphql/delivery.ts, loadPerEventInBatches): the events of
// one tick cost one query, each event's subscribers get its row once, and a row is only ever the
// event's own tenant's — an event naming another tenant's Delivery gets NOT_FOUND, even when that
// row is loaded in the same query for its own tenant's event.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deliveryOfEvent } from '../src/features/delivery/graphql/delivery.ts';
import type { Db } from '../src/platform/db.ts';

test("one query per tick; a row never answers another tenant's event", async () => {
  const rows = [
    { id: 'd-a', quizAccountId: 'tenant-a', status: 'DELIVERED' },
    { id: 'd-b', quizAccountId: 'tenant-b', status: 'DELIVERED' },
  ];
  const queries: string[][] = [];
  const db = {
    delivery: {
      findMany: async ({ where }: { where: { id: { in: string[] } } }) => {
        queries.push(where.id.in);
        return rows.filter((r) => where.id.in.includes(r.id));
      },
    },
  } as unknown as Db;
  const ofA = { deliveryId: 'd-a', quizAccountId: 'tenant-a' };
  const ofB = { deliveryId: 'd-b', quizAccountId: 'tenant-b' };
  // a (forged or stale) event of tenant A naming B's Delivery
  const aNamingB = { deliveryId: 'd-b', quizAccountId: 'tenant-a' };
  const [a, a2, b, forged] = await Promise.allSettled([deliveryOfEvent(ofA, db), deliveryOfEvent(ofA, db), deliveryOfEvent(ofB, db), deliveryOfEvent(aNamingB, db)]);
  assert.equal(queries.length, 1, 'one query for the tick');
  assert.deepEqual(queries[0]!.sort(), ['d-a', 'd-b']);
  assert.equal(a.status === 'fulfilled' && a.value.id, 'd-a');
  assert.equal(a2.status === 'fulfilled' && a2.value, a.status === 'fulfilled' && a.value, 'the same event: the same row, loaded once');
  assert.equal(b.status === 'fulfilled' && b.value.quizAccountId, 'tenant-b');
  assert.equal(forged.status, 'rejected');
  assert.equal((forged as PromiseRejectedResult).reason.extensions?.code ?? (forged as PromiseRejectedResult).reason.code, 'NOT_FOUND');
});
