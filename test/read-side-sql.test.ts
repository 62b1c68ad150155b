// Issue 2: the contract's read side — the SQL statements of a request do not grow with the page
// (DataLoader batching), each measured on a database of its own.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { seedDemoAccount } from '../src/dev/seed-data.ts';
import { createDb } from '../src/platform/db.ts';
import { createTestDatabase } from './helpers/db.ts';
import { startTestApp, tokenFor } from './helpers/app.ts';

describe('SQL statements per request are bounded', () => {
  test('pipelines { steps } over 20 pipelines costs the same statements as over 2', async () => {
    const counted = await createTestDatabase();
    let statements = 0;
    const db = createDb(counted.url, { onQuery: () => statements++ });
    try {
      await seedDemoAccount(db, { quizAccountId: 'big', pipelines: 20, archivedPipelines: 0 });
      await seedDemoAccount(db, { quizAccountId: 'small', pipelines: 2, archivedPipelines: 0 });
      const app = await startTestApp({ ...counted, db });
      try {
        const query = '{ pipelines(first: 50) { totalCount edges { node { name steps(first: 30) { totalCount edges { node { name } } } } } } }';
        const measure = async (tenant: string) => {
          const token = await tokenFor(tenant);
          statements = 0;
          const res = await app.gql(query, {}, token);
          assert.equal(res.errors, undefined, JSON.stringify(res.errors));
          return { statements, pipelines: res.data.pipelines.edges.length };
        };
        const big = await measure('big');
        const small = await measure('small');
        assert.equal(big.pipelines, 20);
        assert.equal(small.pipelines, 2);
        assert.equal(big.statements, small.statements, `20 pipelines: ${big.statements} statements, 2: ${small.statements}`);
        // the response cache's version lookup (a miss: each tenant's first read), the tenant's account,
        // the pipelines' page, one batched read of every pipeline's steps and the total count
        assert.equal(big.statements, 5, `${big.statements} statements`);
        // read again: from the response cache, the version lookup alone
        assert.equal((await measure('big')).statements, 1);
      } finally {
        await app.stop();
      }
    } finally {
      await db.$disconnect();
      await counted.drop();
    }
  });

  test('deliveries { leadStep } over 20 deliveries costs the same statements as over 2 (one step query for the page)', async () => {
    const counted = await createTestDatabase();
    let statements = 0;
    const db = createDb(counted.url, { onQuery: () => statements++ });
    try {
      for (const [tenant, n] of [
        ['many', 20],
        ['few', 2],
      ] as const) {
        await seedDemoAccount(db, { quizAccountId: tenant, pipelines: 2, archivedPipelines: 0 });
        const account = await db.amoAccount.findFirstOrThrow({ where: { quizAccountId: tenant } });
        const steps = await db.step.findMany({ where: { accountId: account.id }, include: { pipeline: true }, take: 3 });
        for (let i = 0; i < n; i++) {
          const step = steps[i % steps.length]!;
          await db.delivery.create({
            data: {
              quizAccountId: tenant,
              accountId: account.id,
              quizId: 'q',
              resultId: `${tenant}-${i}`,
              payload: {},
              status: 'DELIVERED',
              leadPipelineAmoId: step.pipeline.amoId,
              leadStatusAmoId: step.amoId,
            },
          });
        }
      }
      const app = await startTestApp({ ...counted, db });
      try {
        const measure = async (tenant: string) => {
          statements = 0;
          const res = await app.gql('{ deliveries(first: 50) { edges { node { resultId leadStep { name pipeline { name } } } } } }', {}, await tokenFor(tenant));
          assert.equal(res.errors, undefined, JSON.stringify(res.errors));
          const nodes = res.data.deliveries.edges.map((e: any) => e.node);
          assert.ok(nodes.every((d: any) => typeof d.leadStep?.name === 'string' && typeof d.leadStep.pipeline.name === 'string'));
          return { statements, n: nodes.length };
        };
        const many = await measure('many');
        const few = await measure('few');
        assert.equal(many.n, 20);
        assert.equal(few.n, 2);
        // the deliveries' page, one batched read of their steps and one of those steps' pipelines
        assert.equal(few.statements, 3, `${few.statements} statements`);
        assert.equal(many.statements, few.statements, `20 deliveries: ${many.statements} statements, 2: ${few.statements}`);
      } finally {
        await app.stop();
      }
    } finally {
      await db.$disconnect();
      await counted.drop();
    }
  });
});
