// Delivery's answers, its lead deleted in amoCRM, and the bulk retry of FAILED deliveries.
import { builder } from '../../../platform/graphql/builder.ts';
import { badInput } from '../../../platform/errors.ts';
import { DeliveryRef } from './delivery.ts';
import { retryFailedDeliveries } from '../bulk-retry.ts';

interface Answer {
  questionId: string;
  title?: string | null;
  values: string[];
}

const DeliveryAnswerRef = builder.objectRef<Answer>('DeliveryAnswer').implement({
  description: 'One answer of the quiz result, as it was received.',
  fields: (t) => ({
    questionId: t.exposeID('questionId'),
    title: t.string({ nullable: true, resolve: (a) => a.title ?? null }),
    values: t.exposeStringList('values'),
  }),
});

const answersOf = (payload: unknown): Answer[] => {
  const answers = (payload as { answers?: unknown } | null)?.answers;
  return Array.isArray(answers) ? answers.filter((a): a is Answer => !!a && typeof a.questionId === 'string' && Array.isArray(a.values)) : [];
};

builder.prismaObjectFields(DeliveryRef, (t) => ({
  answers: t.field({
    type: [DeliveryAnswerRef],
    description: "The result's answers as the quiz sent them.",
    select: { payload: true },
    resolve: (d) => answersOf(d.payload),
  }),
  leadDeleted: t.boolean({
    description: 'True once amoCRM reported the lead deleted (its leads[delete] webhook).',
    select: { leadDeletedAt: true },
    resolve: (d) => d.leadDeletedAt != null,
  }),
  leadDeletedAt: t.expose('leadDeletedAt', { type: 'DateTime', nullable: true, description: 'When amoCRM reported the lead deleted.' }),
}));

builder.mutationField('retryFailedDeliveries', (t) =>
  t.int({
    description:
      "Retries every FAILED delivery of the caller (optionally one quiz's, or those received in [from, to)); returns how many were put back to PENDING. Calling it again retries none until some fail again.",
    args: {
      quizId: t.arg.id(),
      from: t.arg({ type: 'DateTime', description: 'received at or after' }),
      to: t.arg({ type: 'DateTime', description: 'received before' }),
    },
    resolve: (_root, args, ctx) => {
      if (args.from && args.to && args.from >= args.to) throw badInput('from must be before to', ['from']);
      return retryFailedDeliveries(ctx.services, ctx.caller.quizAccountId, { quizId: args.quizId != null ? String(args.quizId) : null, from: args.from, to: args.to });
    },
  }),
);
