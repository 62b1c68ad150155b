import { builder } from './builder.ts';
import { liveAccountId, ofLiveAccount, uuidOrNil } from './tenancy.ts';

builder.prismaNode('Utm', {
  id: { field: 'id' },
  findUnique: (id, ctx) => ({ id: uuidOrNil(id), account: ofLiveAccount(ctx).account }),
  fields: (t) => ({
    quizId: t.exposeID('quizId'),
    name: t.exposeString('name', { description: 'UTM parameter name, e.g. utm_source' }),
    field: t.relation('field'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

builder.queryField('utms', (t) =>
  t.prismaConnection({
    type: 'Utm',
    cursor: 'id',
    description: 'UTM parameters saved for one quiz and the custom fields they fill.',
    args: { quizId: t.arg.id({ required: true }) },
    totalCount: async (_parent, args, ctx) =>
      ctx.db.utm.count({ where: { accountId: await liveAccountId(ctx), quizId: String(args.quizId) } }),
    resolve: async (query, _root, args, ctx) =>
      ctx.db.utm.findMany({
        ...query,
        where: { accountId: await liveAccountId(ctx), quizId: String(args.quizId) },
        orderBy: [{ name: 'asc' }, { id: 'asc' }],
      }),
  }),
);
