import { filter, pipe } from 'graphql-yoga';
import { acceptResult } from '../accept.ts';
import { retryDelivery } from '../worker.ts';
import { leadAtStepWhereById, leadOutcome, leadOutcomeWhere, type LeadOutcome } from '../../webhooks/index.ts';
import { builder } from '../../../platform/graphql/builder.ts';
import { loadPerEventInBatches } from '../../../platform/graphql/per-event.ts';
import { notFound } from '../../../platform/errors.ts';
import { DeliveryReasonEnum, DeliveryStatusEnum } from '../../../platform/graphql/enums.ts';
import { localId } from '../../../platform/ids.ts';
import { NIL_UUID, uuidOrNil } from '../../../platform/graphql/tenancy.ts';
import { int32OrNull } from '../../../platform/graphql/scalars.ts';
import DataLoader from 'dataloader';
import type { Context } from '../../../platform/context.ts';
import type { Step } from '../../../generated/prisma/client.ts';
import type { DeliveryReason, DeliveryStatus } from '../../../generated/prisma/enums.ts';

const stepKey = (accountId: string, pipelineAmoId: bigint | number, statusAmoId: bigint | number) => `${accountId}|${pipelineAmoId}|${statusAmoId}`;
const stepLoaders = new WeakMap<Context, DataLoader<string, Step | null>>();

/** The request's loader of steps by (account, pipeline amoId, status amoId). */
function stepsOf(ctx: Context): DataLoader<string, Step | null> {
  let loader = stepLoaders.get(ctx);
  if (!loader) {
    loader = new DataLoader(async (keys: readonly string[]) => {
      const wanted = keys
        .map((k) => k.split('|'))
        .map(([accountId, pipeline, status]) => ({ accountId: accountId!, amoId: BigInt(status!), pipeline: { amoId: BigInt(pipeline!) } }));
      // the whole pipeline: `leadStep { pipeline { … } }` reads it from here
      const rows = await ctx.db.step.findMany({ where: { OR: wanted }, include: { pipeline: true } });
      const found = new Map(rows.map((r) => [stepKey(r.accountId, r.pipeline.amoId, r.amoId), r]));
      return keys.map((k) => found.get(k) ?? null);
    });
    stepLoaders.set(ctx, loader);
  }
  return loader;
}

const LeadOutcomeEnum = builder.enumType('LeadOutcome', {
  description: 'What became of the lead in amoCRM, as its webhooks tell: won (142), lost (143) or still open.',
  values: { WON: { value: 'won' }, LOST: { value: 'lost' }, OPEN: { value: 'open' } } as const,
});

export const DeliveryRef = builder.prismaNode('Delivery', {
  id: { field: 'id' },
  // node(id) of a missing or foreign object is null, like any missing one.
  nullable: true,
  findUnique: (id, ctx) => ({ id: uuidOrNil(id), quizAccountId: ctx.caller.quizAccountId }),
  fields: (t) => ({
    resultId: t.exposeID('resultId', { description: "The quiz platform's result id: the idempotency key." }),
    quizId: t.exposeID('quizId'),
    status: t.expose('status', { type: DeliveryStatusEnum }),
    attempts: t.exposeInt('attempts'),
    amoLeadId: t.int({ nullable: true, resolve: (d) => int32OrNull(d.amoLeadId, 'amoLeadId') }),
    fullAmoLeadId: t.expose('amoLeadId', { type: 'BigInt', nullable: true }),
    amoContactId: t.int({ nullable: true, resolve: (d) => int32OrNull(d.amoContactId, 'amoContactId') }),
    fullAmoContactId: t.expose('amoContactId', { type: 'BigInt', nullable: true }),
    amoCompanyId: t.int({ nullable: true, resolve: (d) => int32OrNull(d.amoCompanyId, 'amoCompanyId') }),
    fullAmoCompanyId: t.expose('amoCompanyId', { type: 'BigInt', nullable: true }),
    fullAmoCustomerId: t.expose('amoCustomerId', { type: 'BigInt', nullable: true }),
    amoCustomerId: t.int({
      nullable: true,
      resolve: (d) => int32OrNull(d.amoCustomerId, 'amoCustomerId'),
      description:
        "The amoCRM customer created from the rule's customer fields and linked to the lead's contact; null when the rule maps none or amoCRM took none (then a warning says why).",
    }),
    lastError: t.exposeString('lastError', {
      nullable: true,
      description: 'Why it is not delivered, in words for the owner (what happened, what to do, when the next try is); null once delivered.',
    }),
    reason: t.expose('reason', {
      type: DeliveryReasonEnum,
      nullable: true,
      description: 'Why it is not delivered yet (PENDING) or at all (FAILED); null once delivered.',
    }),
    nextAttemptAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'When a PENDING delivery is tried next (null otherwise).',
      resolve: (d) => (d.status === 'PENDING' ? d.nextAttemptAt : null),
    }),
    warnings: t.exposeStringList('warnings', {
      description: 'Answers that did not convert to their amoCRM field and were left out (the lead note lists them too).',
    }),
    leadPipelineAmoId: t.int({
      nullable: true,
      description: "The lead's pipeline in amoCRM as last reported.",
      resolve: (d) => int32OrNull(d.leadPipelineAmoId, 'leadPipelineAmoId'),
    }),
    fullLeadPipelineAmoId: t.expose('leadPipelineAmoId', { type: 'BigInt', nullable: true }),
    leadStatusAmoId: t.int({
      nullable: true,
      description: "The lead's step in amoCRM as last reported (142 won, 143 lost).",
      resolve: (d) => int32OrNull(d.leadStatusAmoId, 'leadStatusAmoId'),
    }),
    fullLeadStatusAmoId: t.expose('leadStatusAmoId', { type: 'BigInt', nullable: true }),
    leadStatusChangedAt: t.expose('leadStatusChangedAt', { type: 'DateTime', nullable: true }),
    leadStep: t.prismaField({
      type: 'Step',
      nullable: true,
      description: "The lead's current step in amoCRM as its webhooks last reported it (null until one did, or when the cache lacks it).",
      // one query for the steps of every delivery on the page (a list of 100 would otherwise be 100)
      resolve: (_query, d, _args, ctx) =>
        d.accountId && d.leadPipelineAmoId != null && d.leadStatusAmoId != null ? stepsOf(ctx).load(stepKey(d.accountId, d.leadPipelineAmoId, d.leadStatusAmoId)) : null,
    }),
    leadOutcome: t.field({
      type: LeadOutcomeEnum,
      nullable: true,
      description: 'WON, LOST or OPEN; null until amoCRM reported a status of the lead.',
      resolve: (d) => leadOutcome(d),
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    deliveredAt: t.expose('deliveredAt', { type: 'DateTime', nullable: true }),
  }),
});

interface DeliveriesFilter {
  quizId?: string | number | null;
  status?: DeliveryStatus | null;
  reason?: DeliveryReason | null;
  stepId?: string | number | null;
  outcome?: LeadOutcome | null;
}

async function deliveriesWhere(ctx: Context, args: DeliveriesFilter) {
  return {
    quizAccountId: ctx.caller.quizAccountId,
    ...(args.quizId != null ? { quizId: String(args.quizId) } : {}),
    ...(args.status ? { status: args.status } : {}),
    ...(args.reason ? { reason: args.reason } : {}),
    ...(args.outcome ? leadOutcomeWhere(args.outcome) : {}),
    ...(args.stepId != null ? await leadAtStepWhereById(ctx.db, localId(args.stepId, 'Step') ?? NIL_UUID, ctx.caller.quizAccountId) : {}),
  };
}

builder.queryField('deliveries', (t) =>
  t.prismaConnection(
    {
      type: 'Delivery',
      cursor: 'id',
      description: 'Quiz results handed to amoCRM, newest first.',
      args: {
        quizId: t.arg.id(),
        status: t.arg({ type: DeliveryStatusEnum }),
        reason: t.arg({ type: DeliveryReasonEnum, description: 'Only deliveries waiting or failed for this reason.' }),
        stepId: t.arg.id({ description: 'Only deliveries whose lead is now at this step in amoCRM (as its webhooks reported).' }),
        outcome: t.arg({ type: LeadOutcomeEnum, description: 'Only deliveries whose lead was won, lost, or is still open.' }),
      },
      totalCount: async (_parent, args, ctx) => ctx.db.delivery.count({ where: await deliveriesWhere(ctx, args) }),
      resolve: async (query, _root, args, ctx) => ctx.db.delivery.findMany({ ...query, where: await deliveriesWhere(ctx, args), orderBy: [{ createdAt: 'desc' }, { id: 'desc' }] }),
    },
    { name: 'DeliveryConnection' },
    { name: 'DeliveryEdge' },
  ),
);

// ---------------------------------------------------------------- inputs, mutations, subscription

const KeyValueInput = builder.inputType('KeyValueInput', {
  fields: (t) => ({ key: t.string({ required: true }), value: t.string({ required: true }) }),
});

const QuizContactInput = builder.inputType('QuizContactInput', {
  fields: (t) => ({
    name: t.string(),
    phone: t.string(),
    email: t.string(),
    extra: t.field({ type: [KeyValueInput], description: 'Other form properties (e.g. company, address, text) as name/value pairs.' }),
  }),
});

const QuizFileInput = builder.inputType('QuizFileInput', {
  description: 'A file uploaded as an answer: where it can be downloaded (absolute http(s) URL) and its name.',
  fields: (t) => ({ url: t.string({ required: true }), name: t.string() }),
});

const QuizAnswerInput = builder.inputType('QuizAnswerInput', {
  fields: (t) => ({
    questionId: t.id({ required: true }),
    title: t.string(),
    values: t.stringList({ required: true, description: 'One value, or several for multi-choice questions.' }),
    files: t.field({
      type: [QuizFileInput],
      description: 'Files uploaded as the answer (a file question): each URL goes into a url/text field mapped to the question and into the note.',
    }),
  }),
});

export const QuizResultInput = builder.inputType('QuizResultInput', {
  fields: (t) => ({
    resultId: t.id({ required: true, description: 'Unique per result: submitting the same resultId twice delivers once.' }),
    quizId: t.id({ required: true }),
    leadName: t.string(),
    quizName: t.string({ description: "The quiz's name (the {quizName} of a rule's lead-name template; default: formName)." }),
    price: t.int(),
    contact: t.field({ type: QuizContactInput }),
    answers: t.field({ type: [QuizAnswerInput], required: true }),
    utm: t.field({ type: [KeyValueInput] }),
    submittedAt: t.field({ type: 'DateTime' }),
    formName: t.string({ description: "The form's name in amoCRM's Unsorted (default: the quiz)." }),
    formPage: t.string({ description: 'The page the quiz was filled on (Unsorted metadata).' }),
    ip: t.string({ description: "The respondent's IP (Unsorted metadata)." }),
    referer: t.string({ description: 'The page the respondent came from (Unsorted metadata).' }),
  }),
});

builder.mutationFields((t) => ({
  submitQuizResult: t.prismaField({
    type: 'Delivery',
    description: 'Hands one quiz result to amoCRM (the same path as a result consumed from Kafka). The same resultId gives the same Delivery.',
    args: { input: t.arg({ type: QuizResultInput, required: true }) },
    resolve: async (query, _root, args, ctx) => {
      const delivery = await acceptResult(ctx.services, ctx.caller.quizAccountId, args.input);
      return ctx.db.delivery.findUniqueOrThrow({ ...query, where: { id: delivery.id } });
    },
  }),
  retryDelivery: t.prismaField({
    type: 'Delivery',
    description: 'Retries a FAILED delivery (CONFLICT when it is not FAILED).',
    args: { id: t.arg.id({ required: true }) },
    resolve: async (query, _root, args, ctx) => {
      // A malformed id or one of another type is a missing delivery (NOT_FOUND), like another tenant's.
      const delivery = await retryDelivery(ctx.services, ctx.caller.quizAccountId, localId(args.id, 'Delivery') ?? NIL_UUID);
      return ctx.db.delivery.findUniqueOrThrow({ ...query, where: { id: delivery.id } });
    },
  }),
}));

// Channels are per tenant, so the event's tenant is the subscriber's.
// One query for the events of a tick; a row must be the event's tenant's, else it is not found.
export const deliveryOfEvent = loadPerEventInBatches(
  async (events: readonly { deliveryId: string; quizAccountId: string }[], db) => {
    const rows = await db.delivery.findMany({ where: { id: { in: [...new Set(events.map((e) => e.deliveryId))] } } });
    const byId = new Map(rows.map((r) => [r.id, r]));
    return events.map((e) => {
      const row = byId.get(e.deliveryId);
      return row && row.quizAccountId === e.quizAccountId ? row : null;
    });
  },
  () => notFound('Delivery'),
);

builder.subscriptionField('deliveryUpdated', (t) =>
  t.prismaField({
    type: 'Delivery',
    description: "Fires on every status change of the caller's deliveries (optionally one quiz's).",
    args: { quizId: t.arg.id() },
    subscribe: (_root, args, ctx) =>
      pipe(
        ctx.services.pubsub.subscribe('delivery.updated', ctx.caller.quizAccountId),
        filter((event) => args.quizId == null || event.quizId === String(args.quizId)),
      ),
    resolve: (_query, event: { deliveryId: string; quizAccountId: string }, _args, ctx) => deliveryOfEvent(event, ctx.db),
  }),
);
