import { builder } from '../../../platform/graphql/builder.ts';
import { addUtms, deleteUtms } from '../utms.ts';
import { quizIdSchema } from '../../../platform/graphql/args.ts';
import { liveAccountId, ofLiveAccount, requireLiveAccount, uuidOrNil } from '../../../platform/graphql/tenancy.ts';

builder.prismaNode('Utm', {
  id: { field: 'id' },
  // node(id) of a missing or foreign object is null, like any missing one.
  nullable: true,
  findUnique: (id, ctx) => ({ id: uuidOrNil(id), account: ofLiveAccount(ctx).account }),
  fields: (t) => ({
    quizId: t.exposeID('quizId'),
    name: t.exposeString('name', { description: 'UTM parameter name, e.g. utm_source' }),
    field: t.relation('field'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

builder.queryField('utms', (t) =>
  t.prismaConnection(
    {
      type: 'Utm',
      cursor: 'id',
      description: 'UTM parameters saved for one quiz and the custom fields they fill.',
      args: { quizId: t.arg.id({ required: true }) },
      totalCount: async (_parent, args, ctx) => ctx.db.utm.count({ where: { accountId: await liveAccountId(ctx), quizId: String(args.quizId) } }),
      resolve: async (query, _root, args, ctx) =>
        ctx.db.utm.findMany({
          ...query,
          where: { accountId: await liveAccountId(ctx), quizId: String(args.quizId) },
          orderBy: [{ name: 'asc' }, { id: 'asc' }],
        }),
    },
    { name: 'UtmConnection' },
    { name: 'UtmEdge' },
  ),
);

const UtmInput = builder.inputType('UtmInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    fieldId: t.id({ required: true }),
  }),
});

builder.mutationFields((t) => ({
  addUtms: t.prismaField({
    type: ['Utm'],
    description: 'Saves the UTM mappings of a quiz that it does not have yet; returns what it saved.',
    args: {
      quizId: t.arg.id({ required: true, validate: quizIdSchema }),
      utms: t.arg({ type: [UtmInput], required: true }),
    },
    resolve: async (query, _root, args, ctx) => {
      const account = await requireLiveAccount(ctx);
      const saved = await addUtms(ctx.db, account, String(args.quizId), args.utms);
      return ctx.db.utm.findMany({ ...query, where: { id: { in: saved.map((u) => u.id) } }, orderBy: { name: 'asc' } });
    },
  }),
  deleteUtms: t.idList({
    description: 'Deletes UTM mappings by id; returns the ids deleted.',
    args: { ids: t.arg.idList({ required: true }) },
    resolve: async (_root, args, ctx) => deleteUtms(ctx.db, await ctx.liveAccount(), args.ids),
  }),
}));
