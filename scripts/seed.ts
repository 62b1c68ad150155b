// `npm run db:seed`: a demo tenant with a realistic amoCRM catalogue in the cache
// (DATABASE_URL, tenant from DEMO_TENANT or "demo-seed"), for trying the read side.
import { createDb } from '../src/platform/db.ts';
import { seedDemoAccount } from '../src/dev/seed-data.ts';

const url = process.env.DATABASE_URL;
if (!url) {
  console.error('DATABASE_URL must name the database to seed');
  process.exit(2);
}
const quizAccountId = process.env.DEMO_TENANT ?? 'demo-seed';
const db = createDb(url);
try {
  const existing = await db.amoAccount.findFirst({ where: { quizAccountId, deletedAt: null } });
  if (existing) {
    console.log(`tenant ${quizAccountId} already has an account (${existing.subdomain}); nothing to do`);
  } else {
    const account = await seedDemoAccount(db, { quizAccountId, pipelines: 4, stepsPerPipeline: 6, users: 8, tagsPerEntity: 12, extraFieldsPerEntity: 5 });
    console.log(`seeded tenant ${quizAccountId}: account ${account.subdomain} (${account.id})`);
  }
} finally {
  await db.$disconnect();
}
