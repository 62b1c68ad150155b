// Pausing, resuming and deleting a quiz's rule (manage.ts), and what the rule says of it.
import { encodeGlobalID } from '@pothos/plugin-relay';
import { builder } from '../../../platform/graphql/builder.ts';
import { quizIdSchema } from '../../../platform/graphql/args.ts';
import { requireLiveAccount } from '../../../platform/graphql/tenancy.ts';
import { deleteRule, pauseRule, resumeRule } from '../manage.ts';

builder.prismaObjectFields('Rule', (t) => ({
  paused: t.boolean({
    description: "True while the owner has paused the rule: the quiz's results wait (reason RULE_PAUSED) and are sent when it is resumed.",
    select: { pausedAt: true },
    resolve: (rule) => rule.pausedAt !== null,
  }),
  pausedAt: t.expose('pausedAt', { type: 'DateTime', nullable: true }),
}));

builder.mutationFields((t) => {
  const quizArgs = () => ({ quizId: t.arg.id({ required: true, validate: quizIdSchema }) });
  return {
    pauseQuizRule: t.prismaField({
      type: 'Rule',
      description:
        "Pauses the quiz's rule: its results wait, PENDING with reason RULE_PAUSED, and are sent when it is resumed (like any wait, past DELIVERY_MAX_WAIT_HOURS they end EXPIRED). A lead already in amoCRM is finished. NOT_FOUND when the quiz has no rule.",
      args: quizArgs(),
      resolve: async (query, _root, args, ctx) => {
        const rule = await pauseRule(ctx.services, await requireLiveAccount(ctx), String(args.quizId));
        return ctx.db.rule.findUniqueOrThrow({ ...query, where: { id: rule.id } });
      },
    }),
    resumeQuizRule: t.prismaField({
      type: 'Rule',
      description: 'Resumes a paused rule: the results it held are sent at once. NOT_FOUND when the quiz has no rule.',
      args: quizArgs(),
      resolve: async (query, _root, args, ctx) => {
        const rule = await resumeRule(ctx.services, await requireLiveAccount(ctx), String(args.quizId));
        return ctx.db.rule.findUniqueOrThrow({ ...query, where: { id: rule.id } });
      },
    }),
    deleteQuizRule: t.id({
      description:
        "Deletes the quiz's rule; returns its id. The quiz's results not yet sent are refused (FAILED, reason RULE_DELETED) until a rule is created for it again; its UTM mappings are kept. NOT_FOUND when the quiz has no rule.",
      args: quizArgs(),
      resolve: async (_root, args, ctx) => encodeGlobalID('Rule', (await deleteRule(ctx.services, await requireLiveAccount(ctx), String(args.quizId))).id),
    }),
  };
});
