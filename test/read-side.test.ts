import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { seedDemoAccount } from '../src/dev/seed-data.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApp, tokenFor, type TestApp } from './helpers/app.ts';

let testDb: TestDatabase;
let gw: TestApp;
let token: string;

before(async () => {
  testDb = await createTestDatabase();
  await seedDemoAccount(testDb.db, { quizAccountId: 'tenant-a', pipelines: 3, archivedPipelines: 1, users: 30 });
  gw = await startTestApp(testDb);
  token = await tokenFor('tenant-a');
});
after(async () => {
  await gw?.stop();
  await testDb?.drop();
});

describe('read side', () => {
  test('account', async () => {
    const res = await gw.gql('{ account { id quizAccountId amoId name subdomain stale createdAt lastSync { id } } }', {}, token);
    assert.equal(res.errors, undefined, JSON.stringify(res.errors));
    assert.equal(res.data.account.quizAccountId, 'tenant-a');
    assert.equal(res.data.account.stale, false);
  });

  test('pipelines with steps', async () => {
    const res = await gw.gql(
      '{ pipelines(first: 10) { totalCount edges { cursor node { id name isArchive steps(first: 30) { totalCount edges { node { name amoId pipeline { id } } } } } } pageInfo { hasNextPage endCursor } } }',
      {},
      token,
    );
    assert.equal(res.errors, undefined, JSON.stringify(res.errors));
    assert.equal(res.data.pipelines.totalCount, 3);
    assert.equal(res.data.pipelines.edges[0].node.steps.totalCount, 9); // unsorted + 6 + won + lost
  });
});
