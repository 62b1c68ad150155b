import type { SyncJob } from '../generated/prisma/client.ts';
import { builder } from './builder.ts';
import { JobStatusEnum, SyncScopeEnum } from './enums.ts';
import { uuidOrNil } from './tenancy.ts';

const SyncCounts = builder.objectRef<SyncJob>('SyncCounts').implement({
  fields: (t) => ({
    users: t.exposeInt('users'),
    pipelines: t.exposeInt('pipelines'),
    steps: t.exposeInt('steps'),
    fields: t.exposeInt('fields'),
    tags: t.exposeInt('tags'),
  }),
});

export const SyncJobRef = builder.prismaNode('SyncJob', {
  id: { field: 'id' },
  findUnique: (id, ctx) => ({ id: uuidOrNil(id), account: { quizAccountId: ctx.caller.quizAccountId } }),
  fields: (t) => ({
    scopes: t.expose('scopes', { type: [SyncScopeEnum] }),
    status: t.expose('status', { type: JobStatusEnum }),
    counts: t.field({
      type: SyncCounts,
      description: 'Entities written by this job, per kind (0 for scopes it did not cover).',
      resolve: (job) => job,
    }),
    error: t.exposeString('error', { nullable: true }),
    queuedAt: t.expose('queuedAt', { type: 'DateTime' }),
    startedAt: t.expose('startedAt', { type: 'DateTime', nullable: true }),
    finishedAt: t.expose('finishedAt', { type: 'DateTime', nullable: true }),
  }),
});
