import { createAuthorizeLink, disconnectAccount } from './connect.ts';
import type { AmoAccount } from '../../generated/prisma/client.ts';
import { deliveryHealth, type DeliveryHealth } from '../delivery/index.ts';
import { builder } from '../../platform/graphql/builder.ts';
import { int32 } from '../../platform/graphql/scalars.ts';
import { DeliveryReasonEnum, ReconcileModeEnum } from '../../platform/graphql/enums.ts';
import { loadOncePerEvent } from '../../platform/graphql/per-event.ts';
import { uuidOrNil } from '../../platform/graphql/tenancy.ts';

const DeliveryReasonCount = builder.objectRef<DeliveryHealth['reasons'][number]>('DeliveryReasonCount').implement({
  fields: (t) => ({
    reason: t.field({ type: DeliveryReasonEnum, resolve: (r) => r.reason }),
    count: t.exposeInt('count'),
  }),
});

const DeliveryHealthRef = builder.objectRef<DeliveryHealth>('DeliveryHealth').implement({
  description: "The state of the tenant's deliveries, so the admin page can warn before an owner misses a lead.",
  fields: (t) => ({
    waiting: t.exposeInt('waiting', { description: 'PENDING deliveries.' }),
    failed: t.exposeInt('failed', { description: 'FAILED deliveries (each can be retried).' }),
    oldestWaitingAt: t.expose('oldestWaitingAt', { type: 'DateTime', nullable: true, description: 'When the oldest PENDING one came in.' }),
    mainReason: t.field({ type: DeliveryReasonEnum, nullable: true, description: 'Why most PENDING ones wait.', resolve: (h) => h.mainReason }),
    reasons: t.field({ type: [DeliveryReasonCount], description: 'PENDING ones by reason, most first.', resolve: (h) => h.reasons }),
  }),
});

const AccountRef = builder.prismaNode('AmoAccount', {
  name: 'Account',
  id: { field: 'id' },
  // node(id) of a missing or foreign object is null, like any missing one.
  nullable: true,
  // A disconnected account is gone for its owner; another tenant's never existed.
  findUnique: (id, ctx) => ({ id: uuidOrNil(id), quizAccountId: ctx.caller.quizAccountId, deletedAt: null }),
  fields: (t) => ({
    quizAccountId: t.exposeString('quizAccountId', { description: "The quiz platform's account id (the tenant)." }),
    amoId: t.int({ description: 'amoCRM account id.', resolve: (a) => int32(a.amoId, 'amoId') }),
    fullAmoId: t.expose('amoId', { type: 'BigInt', description: 'amoCRM account id, however large.' }),
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
    reconcileMode: t.field({
      type: ReconcileModeEnum,
      description: 'How a lead that may already be in amoCRM is recognised before a resend (RESULT_FIELD until a delivery found otherwise).',
      resolve: (account) => account.reconcileMode ?? 'RESULT_FIELD',
    }),
    reconcileNote: t.exposeString('reconcileNote', { nullable: true, description: 'Why LEAD_CONTENT: what amoCRM answered when the result field was to be created.' }),
    deliveryHealth: t.field({
      type: DeliveryHealthRef,
      description: "The health of this tenant's deliveries (waiting, failed, the oldest, the main reason).",
      resolve: (account, _args, ctx) => deliveryHealth(ctx.db, account.quizAccountId),
    }),
    lastSyncAt: t.expose('lastSyncAt', { type: 'DateTime', nullable: true }),
    lastSync: t.prismaField({
      type: 'SyncJob',
      description: 'The newest sync job of this account, if any.',
      nullable: true,
      resolve: (query, account, _args, ctx) => ctx.db.syncJob.findFirst({ ...query, where: { accountId: account.id }, orderBy: [{ queuedAt: 'desc' }, { id: 'desc' }] }),
    }),
  }),
});

builder.queryField('account', (t) =>
  t.prismaField({
    type: 'AmoAccount',
    nullable: true,
    description: "The caller's connected amoCRM account; null when none is connected or it was disconnected (soft-deleted).",
    resolve: (query, _root, _args, ctx) => ctx.db.amoAccount.findFirst({ ...query, where: { quizAccountId: ctx.caller.quizAccountId, deletedAt: null } }),
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
    resolve: async (_root, _args, ctx) => ({ account: await disconnectAccount(ctx.services, ctx.caller.quizAccountId, { signal: ctx.signal }) }),
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
