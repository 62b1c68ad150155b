import { builder } from '../../../platform/graphql/builder.ts';
import { int32 } from '../../../platform/graphql/scalars.ts';
import { notFound } from '../../../platform/errors.ts';
import { localId } from '../../../platform/ids.ts';
import { liveNodeOptions, NIL_UUID, ofLiveAccount } from '../../../platform/graphql/tenancy.ts';

export const stepOrder = [{ sort: 'asc' as const }, { id: 'asc' as const }];

export const StepRef = builder.prismaNode('Step', {
  ...liveNodeOptions,
  // Select mode: a page of 50 pipelines × 30 steps reads only the columns asked for.
  select: { id: true },
  fields: (t) => ({
    amoId: t.int({ select: { amoId: true }, resolve: (s) => int32(s.amoId, 'amoId') }),
    fullAmoId: t.expose('amoId', { type: 'BigInt' }),
    name: t.exposeString('name'),
    color: t.exposeString('color', { nullable: true }),
    sort: t.exposeInt('sort'),
    pipeline: t.relation('pipeline'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

/** Shared by Query.steps and Pipeline.steps, so the contract's one StepConnection type serves both. */
export const StepConnection = builder.connectionObject(
  {
    type: StepRef,
    name: 'StepConnection',
    fields: (t) => ({
      totalCount: t.int({
        // prismaConnection hands a loader function, relatedConnection the relation's _count.
        resolve: (connection) => {
          const total = (connection as { totalCount?: number | (() => number | Promise<number>) }).totalCount;
          return typeof total === 'function' ? total() : (total ?? 0);
        },
      }),
    }),
  },
  { name: 'StepEdge' },
);

builder.queryField('steps', (t) =>
  t.prismaConnection(
    {
      type: 'Step',
      cursor: 'id',
      description: "Steps (amoCRM lead statuses) of one pipeline of the caller's account.",
      args: { pipelineId: t.arg.id({ required: true }) },
      totalCount: async (_parent, args, ctx) => ctx.db.step.count({ where: { pipelineId: localId(args.pipelineId, 'Pipeline') ?? NIL_UUID, ...ofLiveAccount(ctx) } }),
      resolve: async (query, _root, args, ctx) => {
        const pipeline = await ctx.db.pipeline.findFirst({
          where: { id: localId(args.pipelineId, 'Pipeline') ?? NIL_UUID, ...ofLiveAccount(ctx) },
          select: { id: true },
        });
        if (!pipeline) throw notFound('Pipeline');
        return ctx.db.step.findMany({ ...query, where: { pipelineId: pipeline.id, deletedAt: null }, orderBy: stepOrder });
      },
    },
    StepConnection,
  ),
);
