import { builder } from './builder.ts';
import { uuidOrNil } from './tenancy.ts';

builder.prismaNode('AmoAccount', {
  name: 'Account',
  id: { field: 'id' },
  // A disconnected account is gone for its owner; another tenant's never existed.
  findUnique: (id, ctx) => ({ id: uuidOrNil(id), quizAccountId: ctx.caller.quizAccountId, deletedAt: null }),
  fields: (t) => ({
    quizAccountId: t.exposeString('quizAccountId', { description: "The quiz platform's account id (the tenant)." }),
    amoId: t.exposeInt('amoId', { description: 'amoCRM account id.' }),
    name: t.exposeString('name'),
    subdomain: t.exposeString('subdomain'),
    country: t.exposeString('country', { nullable: true }),
    driveUrl: t.exposeString('driveUrl', { nullable: true }),
    stale: t.exposeBoolean('stale', {
      description: 'true when the tokens can no longer be refreshed: the owner must connect again.',
    }),
    blocked: t.boolean({
      description: 'true when amoCRM blocked this integration (403): calls are paused until the owner reconnects.',
      resolve: (account) => account.blockedAt != null,
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    lastSyncAt: t.expose('lastSyncAt', { type: 'DateTime', nullable: true }),
    lastSync: t.prismaField({
      type: 'SyncJob',
      description: 'The newest sync job of this account, if any.',
      nullable: true,
      resolve: (query, account, _args, ctx) =>
        ctx.db.syncJob.findFirst({ ...query, where: { accountId: account.id }, orderBy: [{ queuedAt: 'desc' }, { id: 'desc' }] }),
    }),
  }),
});

builder.queryField('account', (t) =>
  t.prismaField({
    type: 'AmoAccount',
    nullable: true,
    description: "The caller's connected amoCRM account; null when none is connected or it was disconnected (soft-deleted).",
    resolve: (query, _root, _args, ctx) =>
      ctx.db.amoAccount.findFirst({ ...query, where: { quizAccountId: ctx.caller.quizAccountId, deletedAt: null } }),
  }),
);
