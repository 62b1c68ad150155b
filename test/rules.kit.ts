// Shared set-up of the rule suites (test/rules*.test.ts): a tenant seeded with the demo catalogue,
// the GraphQL ids a rule is written with, and a gateway over it.
import { seedDemoAccount } from '../src/dev/seed-data.ts';
import type { Db } from '../src/platform/db.ts';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import { startTestApp, tokenFor, type TestApp } from './helpers/app.ts';
import { at } from './helpers/narrow.ts';

/** A node's GraphQL id. */
export const gid = (type: string, id: string) => Buffer.from(`${type}:${id}`).toString('base64');

type Entity = 'LEAD' | 'CONTACT' | 'COMPANY' | 'CUSTOMER';

/** GraphQL ids of one seeded account's catalogue. */
export interface RuleCatalogue {
  accountId: string;
  /** each pipeline's id, by sort order */
  pipelines: string[];
  /** each pipeline's first step of type 0, in the same order */
  steps: string[];
  /** the account's first user */
  user: string;
  /** a custom field of the entity and amoCRM type */
  field(entity: Entity, rawType?: string): Promise<string>;
  /** a tag of the entity */
  tag(entity: 'LEAD' | 'CONTACT'): Promise<string>;
}

/** Seeds the demo catalogue for `quizAccountId` (no archived pipelines) and reads its ids. */
export async function seedRuleCatalogue(db: Db, quizAccountId: string, pipelineCount: number): Promise<RuleCatalogue> {
  const account = await seedDemoAccount(db, { quizAccountId, pipelines: pipelineCount, archivedPipelines: 0 });
  const rows = await db.pipeline.findMany({ where: { accountId: account.id }, orderBy: { sort: 'asc' } });
  const pipelines = Array.from({ length: pipelineCount }, (_, i) => at(rows, i, 'pipeline'));
  const steps = await Promise.all(pipelines.map((p) => db.step.findFirstOrThrow({ where: { pipelineId: p.id, type: 0 } })));
  return {
    accountId: account.id,
    pipelines: pipelines.map((p) => gid('Pipeline', p.id)),
    steps: steps.map((s) => gid('Step', s.id)),
    user: gid('AmoUser', (await db.amoUser.findFirstOrThrow({ where: { accountId: account.id } })).id),
    field: async (entity, rawType = 'text') => gid('Field', (await db.customField.findFirstOrThrow({ where: { accountId: account.id, entity, rawType } })).id),
    tag: async (entity) => gid('Tag', (await db.tag.findFirstOrThrow({ where: { accountId: account.id, entity } })).id),
  };
}

export interface RulesStage {
  testDb: TestDatabase;
  gw: TestApp;
  /** the tenant's bearer token */
  token: string;
  catalogue: RuleCatalogue;
  stop(): Promise<void>;
}

/** A test database with the tenant's catalogue, and a gateway over it (`app`: startTestApp's options). */
export async function startRulesStage(quizAccountId: string, pipelineCount: number, app: Parameters<typeof startTestApp>[1] = {}): Promise<RulesStage> {
  const testDb = await createTestDatabase();
  try {
    const catalogue = await seedRuleCatalogue(testDb.db, quizAccountId, pipelineCount);
    const gw = await startTestApp(testDb, app);
    return {
      testDb,
      gw,
      token: await tokenFor(quizAccountId),
      catalogue,
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

/**
 * A rule with a performer, lead and contact mappings and tags, valid for the tenant the ids are of
 * (named as the suites name them: user, pipeline1, step1, leadNumber, leadText, contactText, leadTag, contactTag).
 */
export const ruleInput = (ids: Readonly<Record<string, string | undefined>>) => ({
  performerId: ids.user,
  pipelineId: ids.pipeline1,
  stepId: ids.step1,
  fieldsRule: {
    lead: [
      { questionId: 'q-area', fieldId: ids.leadNumber },
      { questionId: 'q-comment', fieldId: ids.leadText },
    ],
    contact: { properties: [{ property: 'company', fieldId: ids.contactText }], questions: [{ questionId: 'q-city', fieldId: ids.contactText }] },
  },
  tagsToAdd: { lead: [ids.leadTag], contact: [ids.contactTag] },
});
