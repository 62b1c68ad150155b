import { builder } from './builder.ts';
import { DeliveryStatusEnum } from './enums.ts';
import { uuidOrNil } from './tenancy.ts';
import type { Context } from '../context.ts';
import type { DeliveryStatus } from '../generated/prisma/enums.ts';

export const DeliveryRef = builder.prismaNode('Delivery', {
  id: { field: 'id' },
  findUnique: (id, ctx) => ({ id: uuidOrNil(id), quizAccountId: ctx.caller.quizAccountId }),
  fields: (t) => ({
    resultId: t.exposeID('resultId', { description: "The quiz platform's result id: the idempotency key." }),
    quizId: t.exposeID('quizId'),
    status: t.expose('status', { type: DeliveryStatusEnum }),
    attempts: t.exposeInt('attempts'),
    amoLeadId: t.exposeInt('amoLeadId', { nullable: true }),
    amoContactId: t.exposeInt('amoContactId', { nullable: true }),
    amoCompanyId: t.exposeInt('amoCompanyId', { nullable: true }),
    lastError: t.exposeString('lastError', { nullable: true }),
    warnings: t.exposeStringList('warnings', {
      description: 'Answers that did not convert to their amoCRM field and were left out (the lead note lists them too).',
    }),
    leadPipelineAmoId: t.exposeInt('leadPipelineAmoId', { nullable: true, description: "The lead's pipeline in amoCRM as last reported." }),
    leadStatusAmoId: t.exposeInt('leadStatusAmoId', { nullable: true, description: "The lead's step in amoCRM as last reported (142 won, 143 lost)." }),
    leadStatusChangedAt: t.expose('leadStatusChangedAt', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    deliveredAt: t.expose('deliveredAt', { type: 'DateTime', nullable: true }),
  }),
});

const deliveriesWhere = (ctx: Context, args: { quizId?: string | number | null; status?: DeliveryStatus | null }) => ({
  quizAccountId: ctx.caller.quizAccountId,
  ...(args.quizId != null ? { quizId: String(args.quizId) } : {}),
  ...(args.status ? { status: args.status } : {}),
});

builder.queryField('deliveries', (t) =>
  t.prismaConnection({
    type: 'Delivery',
    cursor: 'id',
    description: 'Quiz results handed to amoCRM, newest first.',
    args: {
      quizId: t.arg.id(),
      status: t.arg({ type: DeliveryStatusEnum }),
    },
    totalCount: (_parent, args, ctx) => ctx.db.delivery.count({ where: deliveriesWhere(ctx, args) }),
    resolve: (query, _root, args, ctx) =>
      ctx.db.delivery.findMany({ ...query, where: deliveriesWhere(ctx, args), orderBy: [{ createdAt: 'desc' }, { id: 'desc' }] }),
  }),
);
