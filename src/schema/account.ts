import { createAuthorizeLink, disconnectAccount } from '../accounts/connect.ts';
import type { AmoAccount } from '../generated/prisma/client.ts';
import { builder } from './builder.ts';
import { loadOncePerEvent } from './per-event.ts';
import { uuidOrNil } from './tenancy.ts';

const AccountRef = builder.prismaNode('AmoAccount', {
  name: 'Account',
  id: { field: 'id' },
  // node(id) of a missing or foreign object is null, like any missing one.
  nullable: true,
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

const ConnectAccountPayload = builder.objectRef<{ link: string }>('ConnectAccountPayload').implement({
  fields: (t) => ({
    link: t.exposeString('link', { description: 'The amoCRM authorization link to open; its state ties the answer to the caller.' }),
  }),
});

const DisconnectAccountPayload = builder.objectRef<{ account: AmoAccount | null }>('DisconnectAccountPayload').implement({
  fields: (t) => ({
    account: t.field({
      type: AccountRef,
      nullable: true,
      description: 'The account as it was soft-deleted; null when none was connected.',
      resolve: (payload) => payload.account,
    }),
  }),
});

builder.mutationFields((t) => ({
  connectAccount: t.field({
    type: ConnectAccountPayload,
    description:
      'ConnectAccount: the authorization link for the caller. Fails with CONFLICT when a live (not deleted) account is already connected; a stale or blocked one may be connected again.',
    resolve: async (_root, _args, ctx) => ({ link: await createAuthorizeLink(ctx.services, ctx.caller.quizAccountId) }),
  }),
  disconnectAccount: t.field({
    type: DisconnectAccountPayload,
    description: "SoftDeleteAccount: soft-deletes the caller's account; connecting a new one afterwards is allowed.",
    resolve: async (_root, _args, ctx) => ({ account: await disconnectAccount(ctx.services, ctx.caller.quizAccountId) }),
  }),
}));

// Channels are per tenant, so the event's tenant is the subscriber's.
const accountOfEvent = loadOncePerEvent((event: { accountId: string; quizAccountId: string }, db) =>
  db.amoAccount.findFirstOrThrow({ where: { id: event.accountId, quizAccountId: event.quizAccountId } }),
);

builder.subscriptionField('tokenStale', (t) =>
  t.prismaField({
    type: 'AmoAccount',
    description: "Fires when the caller's account turns stale (its tokens can no longer be refreshed).",
    subscribe: (_root, _args, ctx) => ctx.services.pubsub.subscribe('token.stale', ctx.caller.quizAccountId),
    resolve: (_query, event: { accountId: string; quizAccountId: string }, _args, ctx) => accountOfEvent(event, ctx.db),
  }),
);
