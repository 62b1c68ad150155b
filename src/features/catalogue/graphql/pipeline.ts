import { builder } from '../../../platform/graphql/builder.ts';
import { int32 } from '../../../platform/graphql/scalars.ts';
import { StepConnection, stepOrder } from './step.ts';
import type { Context } from '../../../platform/context.ts';
import { liveCatalogue, liveNodeOptions } from '../../../platform/graphql/tenancy.ts';

export const PipelineRef = builder.prismaNode('Pipeline', {
  ...liveNodeOptions,
  // Select mode: a page of 50 pipelines × 30 steps reads only the columns asked for.
  select: { id: true },
  fields: (t) => ({
    amoId: t.int({ select: { amoId: true }, resolve: (p) => int32(p.amoId, 'amoId') }),
    fullAmoId: t.expose('amoId', { type: 'BigInt' }),
    name: t.exposeString('name'),
    isArchive: t.exposeBoolean('isArchive'),
    isMain: t.exposeBoolean('isMain'),
    sort: t.exposeInt('sort'),
    steps: t.relatedConnection(
      'steps',
      {
        cursor: 'id',
        totalCount: true,
        query: () => ({ where: { deletedAt: null }, orderBy: stepOrder }),
      },
      StepConnection,
    ),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

builder.queryField('pipelines', (t) =>
  t.prismaConnection(
    {
      type: 'Pipeline',
      cursor: 'id',
      args: { includeArchived: t.arg.boolean({ defaultValue: false }) },
      totalCount: async (_parent, args, ctx) => ctx.db.pipeline.count({ where: await pipelinesWhere(ctx, args.includeArchived) }),
      resolve: async (query, _root, args, ctx) =>
        ctx.db.pipeline.findMany({
          ...query,
          where: await pipelinesWhere(ctx, args.includeArchived),
          orderBy: [{ sort: 'asc' }, { id: 'asc' }],
        }),
    },
    { name: 'PipelineConnection' },
    { name: 'PipelineEdge' },
  ),
);

const pipelinesWhere = (ctx: Context, includeArchived: boolean | null | undefined) => liveCatalogue(ctx, includeArchived ? {} : { isArchive: false });
