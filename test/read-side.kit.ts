// Shared set-up of the read-side suites (test/read-side*.test.ts): tenant A seeded with a rule, a
// UTM, deliveries and a finished sync job; tenant B seeded small; a gateway over them.
import assert from 'node:assert/strict';
import { seedDemoAccount } from '../src/dev/seed-data.ts';
import type { Db } from '../src/platform/db.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApp, tokenFor, type GraphQLResponse, type TestApp } from './helpers/app.ts';

export const PAGE = `pageInfo { hasNextPage hasPreviousPage startCursor endCursor } totalCount`;

export interface ReadSide {
  testDb: TestDatabase;
  gw: TestApp;
  tokenA: string;
  tokenB: string;
  stop(): Promise<void>;
}

/** Seeds tenants A and B (see above) and starts a gateway over them. */
export async function startReadSide(): Promise<ReadSide> {
  const testDb = await createTestDatabase();
  try {
    await seedTenants(testDb.db);
    const gw = await startTestApp(testDb);
    return {
      testDb,
      gw,
      tokenA: await tokenFor('tenant-a'),
      tokenB: await tokenFor('tenant-b'),
      async stop() {
        await gw.stop();
        await testDb.drop();
      },
    };
  } catch (err) {
    await testDb.drop();
    throw err;
  }
}

/** The data of an answer that has no errors. */
export function ok<T>(res: GraphQLResponse<T>): T {
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  return res.data as T;
}

async function seedTenants(db: Db): Promise<void> {
  const a = await seedDemoAccount(db, { quizAccountId: 'tenant-a', pipelines: 3, archivedPipelines: 1, users: 30, extraFieldsPerEntity: 10 });
  await seedDemoAccount(db, { quizAccountId: 'tenant-b', pipelines: 2, users: 3 });
  // A rule, a UTM and deliveries for tenant A, written directly.
  const pipeline = await db.pipeline.findFirstOrThrow({ where: { accountId: a.id, isArchive: false }, orderBy: { sort: 'asc' } });
  const step = await db.step.findFirstOrThrow({ where: { pipelineId: pipeline.id, type: 0 }, orderBy: { sort: 'asc' } });
  const leadField = await db.customField.findFirstOrThrow({ where: { accountId: a.id, entity: 'LEAD', rawType: 'text' } });
  const contactField = await db.customField.findFirstOrThrow({ where: { accountId: a.id, entity: 'CONTACT', rawType: 'text' } });
  const tag = await db.tag.findFirstOrThrow({ where: { accountId: a.id, entity: 'LEAD' } });
  await db.rule.create({
    data: {
      accountId: a.id,
      quizId: 'quiz-1',
      pipelineId: pipeline.id,
      stepId: step.id,
      mappings: {
        create: [
          { target: 'LEAD', source: 'QUESTION', key: 'q1', fieldId: leadField.id },
          { target: 'CONTACT', source: 'PROPERTY', key: 'company', fieldId: contactField.id, position: 1 },
        ],
      },
      tags: { create: [{ tagId: tag.id, entity: 'LEAD' }] },
    },
  });
  const utmField = await db.customField.findFirstOrThrow({ where: { accountId: a.id, code: 'UTM_SOURCE' } });
  await db.utm.create({ data: { accountId: a.id, quizId: 'quiz-1', name: 'utm_source', fieldId: utmField.id } });
  for (let i = 0; i < 5; i++) {
    await db.delivery.create({
      data: {
        quizAccountId: 'tenant-a',
        accountId: a.id,
        quizId: i % 2 ? 'quiz-1' : 'quiz-2',
        resultId: `r-${i}`,
        payload: {},
        status: i === 4 ? 'FAILED' : 'DELIVERED',
        createdAt: new Date(Date.now() - (5 - i) * 1000),
      },
    });
  }
  await db.syncJob.create({ data: { accountId: a.id, scopes: ['USERS'], status: 'SUCCEEDED', users: 30 } });
}
