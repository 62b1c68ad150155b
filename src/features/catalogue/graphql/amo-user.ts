import { builder } from '../../../platform/graphql/builder.ts';
import { liveCatalogue, liveNodeOptions } from '../../../platform/graphql/tenancy.ts';

builder.prismaNode('AmoUser', {
  ...liveNodeOptions,
  fields: (t) => ({
    amoUserId: t.exposeInt('amoId'),
    name: t.exposeString('name'),
    email: t.exposeString('email', { nullable: true }),
    role: t.exposeInt('role', { nullable: true }),
    group: t.exposeInt('group', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

builder.queryField('users', (t) =>
  t.prismaConnection(
    {
      type: 'AmoUser',
      cursor: 'id',
      description: "Cached amoCRM users of the caller's account. first defaults to 25, at most 100.",
      totalCount: async (_parent, _args, ctx) => ctx.db.amoUser.count({ where: await liveCatalogue(ctx) }),
      resolve: async (query, _root, _args, ctx) =>
        ctx.db.amoUser.findMany({
          ...query,
          where: await liveCatalogue(ctx),
          orderBy: [{ name: 'asc' }, { id: 'asc' }],
        }),
    },
    { name: 'AmoUserConnection' },
    { name: 'AmoUserEdge' },
  ),
);
