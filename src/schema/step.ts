import { builder } from './builder.ts';
import { notFound } from '../errors.ts';
import { PipelineRef, stepOrder } from './pipeline.ts';
import { ofLiveAccount, uuidOrNil } from './tenancy.ts';

builder.prismaNode('Step', {
  id: { field: 'id' },
  findUnique: (id, ctx) => ({ id: uuidOrNil(id), ...ofLiveAccount(ctx) }),
  fields: (t) => ({
    amoId: t.exposeInt('amoId'),
    name: t.exposeString('name'),
    color: t.exposeString('color', { nullable: true }),
    sort: t.exposeInt('sort'),
    pipeline: t.relation('pipeline'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

builder.queryField('steps', (t) =>
  t.prismaConnection({
    type: 'Step',
    cursor: 'id',
    description: "Steps (amoCRM lead statuses) of one pipeline of the caller's account.",
    args: { pipelineId: t.arg.globalID({ required: true, for: PipelineRef }) },
    totalCount: async (_parent, args, ctx) =>
      ctx.db.step.count({ where: { pipelineId: uuidOrNil(args.pipelineId.id), ...ofLiveAccount(ctx) } }),
    resolve: async (query, _root, args, ctx) => {
      const pipeline = await ctx.db.pipeline.findFirst({
        where: { id: uuidOrNil(args.pipelineId.id), ...ofLiveAccount(ctx) },
        select: { id: true },
      });
      if (!pipeline) throw notFound('Pipeline');
      return ctx.db.step.findMany({ ...query, where: { pipelineId: pipeline.id, deletedAt: null }, orderBy: stepOrder });
    },
  }),
);
