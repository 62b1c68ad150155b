import { builder } from '../../../platform/graphql/builder.ts';
import { int32, int32OrNull } from '../../../platform/graphql/scalars.ts';
import { liveCatalogue, liveNodeOptions } from '../../../platform/graphql/tenancy.ts';

builder.prismaNode('AmoUser', {
  ...liveNodeOptions,
  fields: (t) => ({
    amoUserId: t.int({ resolve: (u) => int32(u.amoId, 'amoUserId') }),
    fullAmoUserId: t.expose('amoId', { type: 'BigInt' }),
    name: t.exposeString('name'),
    email: t.exposeString('email', { nullable: true }),
    isActive: t.exposeBoolean('isActive', { description: 'Active in amoCRM: only active users can be chosen as responsible (a deactivated one is skipped at delivery).' }),
    role: t.int({ nullable: true, resolve: (u) => int32OrNull(u.role, 'role') }),
    fullRole: t.expose('role', { type: 'BigInt', nullable: true }),
    group: t.int({ nullable: true, resolve: (u) => int32OrNull(u.group, 'group') }),
    fullGroup: t.expose('group', { type: 'BigInt', nullable: true }),
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
