// GraphQL of the alert webhook: the owner sets it, reads it with its recent alerts' outcome.
import { builder } from '../../platform/graphql/builder.ts';
import { removeAlertWebhook, sendTestAlert, setAlertWebhook } from './webhook.ts';

const AlertStatusEnum = builder.enumType('AlertStatus', {
  description: 'Where an alert to the owner’s webhook is: PENDING (being posted, or retried at nextAttemptAt), DELIVERED (a 2xx came back), FAILED (given up).',
  values: ['PENDING', 'DELIVERED', 'FAILED'] as const,
});

builder.prismaObject('AlertOutbox', {
  name: 'Alert',
  description: 'One alert posted to the owner’s webhook, and how its posting went.',
  fields: (t) => ({
    id: t.exposeID('id', { description: 'The X-Gateway-Alert-Id header and the body’s id: receivers dedupe on it.' }),
    kind: t.exposeString('kind', { description: 'delivery.failed, account.stale, account.blocked, account.disconnected, rule.problems or alert.test.' }),
    status: t.field({ type: AlertStatusEnum, resolve: (a) => a.status }),
    attempts: t.exposeInt('attempts', { description: 'Posts so far.' }),
    lastStatusCode: t.exposeInt('lastStatusCode', { nullable: true, description: 'The HTTP status of the last post (null: no answer).' }),
    lastError: t.exposeString('lastError', { nullable: true }),
    lastAttemptAt: t.expose('lastAttemptAt', { type: 'DateTime', nullable: true }),
    nextAttemptAt: t.field({ type: 'DateTime', nullable: true, resolve: (a) => (a.status === 'PENDING' ? a.nextAttemptAt : null) }),
    deliveredAt: t.expose('deliveredAt', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

builder.prismaObject('AlertWebhook', {
  description: 'Where the gateway posts alerts when no page is open (signed: see the README).',
  fields: (t) => ({
    url: t.exposeString('url'),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    recentAlerts: t.prismaField({
      type: ['AlertOutbox'],
      description: 'The latest alerts, newest first, with their last attempt’s outcome.',
      args: { first: t.arg.int({ defaultValue: 20 }) },
      resolve: (query, hook, args, ctx) =>
        ctx.db.alertOutbox.findMany({
          ...query,
          where: { quizAccountId: hook.quizAccountId },
          orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
          take: Math.min(Math.max(args.first ?? 20, 1), 100),
        }),
    }),
  }),
});

builder.queryField('alertWebhook', (t) =>
  t.prismaField({
    type: 'AlertWebhook',
    nullable: true,
    description: 'The alert webhook of the caller (null when none is set).',
    resolve: (query, _root, _args, ctx) => ctx.db.alertWebhook.findUnique({ ...query, where: { quizAccountId: ctx.caller.quizAccountId } }),
  }),
);

const AlertWebhookInput = builder.inputType('AlertWebhookInput', {
  fields: (t) => ({
    url: t.string({ required: true, description: 'https in production, to a public host.' }),
    secret: t.string({ required: true, description: '16 to 256 characters; signs every post (HMAC-SHA256). Never shown again.' }),
  }),
});

builder.mutationFields((t) => ({
  setAlertWebhook: t.prismaField({
    type: 'AlertWebhook',
    description: 'Sets (or replaces) where alerts are posted and the secret that signs them.',
    args: { input: t.arg({ type: AlertWebhookInput, required: true }) },
    resolve: (_query, _root, args, ctx) => setAlertWebhook(ctx.services, ctx.caller.quizAccountId, args.input),
  }),
  removeAlertWebhook: t.boolean({
    description: 'Stops the alerts (true when a webhook was set).',
    resolve: (_root, _args, ctx) => removeAlertWebhook(ctx.services, ctx.caller.quizAccountId),
  }),
  sendTestAlert: t.id({
    description: 'Posts an alert.test to the webhook (its id; see alertWebhook.recentAlerts for the outcome).',
    resolve: (_root, _args, ctx) => sendTestAlert(ctx.services, ctx.caller.quizAccountId),
  }),
}));
