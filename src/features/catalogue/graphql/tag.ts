import { builder } from '../../../platform/graphql/builder.ts';
import { int32 } from '../../../platform/graphql/scalars.ts';
import { EntityTypeEnum } from '../../../platform/graphql/enums.ts';
import { liveCatalogue, liveNodeOptions } from '../../../platform/graphql/tenancy.ts';

export const TagRef = builder.prismaNode('Tag', {
  ...liveNodeOptions,
  fields: (t) => ({
    amoId: t.int({ resolve: (tag) => int32(tag.amoId, 'amoId') }),
    fullAmoId: t.expose('amoId', { type: 'BigInt' }),
    name: t.exposeString('name'),
    color: t.exposeString('color', { nullable: true }),
    entity: t.expose('entity', { type: EntityTypeEnum }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

builder.queryField('tags', (t) =>
  t.prismaConnection(
    {
      type: 'Tag',
      cursor: 'id',
      args: { entity: t.arg({ type: EntityTypeEnum }) },
      totalCount: async (_parent, args, ctx) =>
        ctx.db.tag.count({
          where: await liveCatalogue(ctx, args.entity ? { entity: args.entity } : {}),
        }),
      resolve: async (query, _root, args, ctx) =>
        ctx.db.tag.findMany({
          ...query,
          where: await liveCatalogue(ctx, args.entity ? { entity: args.entity } : {}),
          orderBy: [{ entity: 'asc' }, { name: 'asc' }, { id: 'asc' }],
        }),
    },
    { name: 'TagConnection' },
    { name: 'TagEdge' },
  ),
);
