import type { SyncJob } from '../../../generated/prisma/client.ts';
import { builder } from '../../../platform/graphql/builder.ts';
import { loadOncePerEvent } from '../../../platform/graphql/per-event.ts';
import { JobStatusEnum, SyncScopeEnum } from '../../../platform/graphql/enums.ts';
import { accountStale } from '../../../platform/errors.ts';
import { requestSync } from '../index.ts';
import { requireLiveAccount, uuidOrNil } from '../../../platform/graphql/tenancy.ts';

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
  // node(id) of a missing or foreign object is null, like any missing one.
  nullable: true,
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

builder.mutationField('syncAccount', (t) =>
  t.prismaField({
    type: 'SyncJob',
    description:
      'UpdateListUsers / Pipelines / Steps / Custom / Tags: refreshes the cache from amoCRM (all scopes when none are given). Returns at once with the queued job; while one is queued or running, returns that one.',
    args: { scopes: t.arg({ type: [SyncScopeEnum] }) },
    resolve: async (query, _root, args, ctx) => {
      const account = await requireLiveAccount(ctx);
      if (account.stale) throw accountStale();
      const job = await requestSync(ctx.services, account.id, args.scopes?.length ? args.scopes : undefined);
      return ctx.db.syncJob.findUniqueOrThrow({ ...query, where: { id: job.id } });
    },
  }),
);

// Channels are per tenant, so the event's tenant is the subscriber's.
const jobOfEvent = loadOncePerEvent((event: { jobId: string; quizAccountId: string }, db) =>
  db.syncJob.findFirstOrThrow({ where: { id: event.jobId, account: { quizAccountId: event.quizAccountId } } }),
);

builder.subscriptionField('syncCompleted', (t) =>
  t.prismaField({
    type: 'SyncJob',
    description: "Fires when a sync job of the caller's account finishes, SUCCEEDED or FAILED.",
    subscribe: (_root, _args, ctx) => ctx.services.pubsub.subscribe('sync.completed', ctx.caller.quizAccountId),
    resolve: (_query, event: { jobId: string; quizAccountId: string }, _args, ctx) => jobOfEvent(event, ctx.db),
  }),
);
