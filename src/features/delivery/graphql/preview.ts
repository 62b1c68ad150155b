// previewQuizRule: what a sample result would send under the quiz's saved rule or a draft (preview.ts), sent nowhere.
import { builder } from '../../../platform/graphql/builder.ts';
import { quizIdSchema } from '../../../platform/graphql/args.ts';
import { requireLiveAccount } from '../../../platform/graphql/tenancy.ts';
import { RuleInput } from '../../rules/index.ts';
import { QuizResultInput } from './delivery.ts';
import { previewLead, type LeadPreview } from '../preview.ts';

const json = (v: unknown) => (v == null ? null : JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x), 2));

const RulePreview = builder.objectRef<LeadPreview>('RulePreview').implement({
  description: "What a sample result would become under the quiz's saved rule, built exactly as a delivery builds it; nothing is sent to amoCRM or stored.",
  fields: (t) => ({
    lead: t.string({ description: "The lead as it would be sent to amoCRM's leads/complex (JSON), its contact and company embedded.", resolve: (p) => json(p.lead)! }),
    contact: t.string({ nullable: true, description: 'The embedded contact (JSON); null when none would be sent.', resolve: (p) => json(p.lead._embedded?.contacts?.[0]) }),
    company: t.string({ nullable: true, description: 'The embedded company (JSON); null when none would be sent.', resolve: (p) => json(p.lead._embedded?.companies?.[0]) }),
    customer: t.string({ nullable: true, description: 'The customer created after the lead (JSON); null when the rule makes none.', resolve: (p) => json(p.customer) }),
    note: t.exposeString('note', { description: 'The note with the answers added to the lead.' }),
    warnings: t.exposeStringList('warnings', { description: 'What would be left out or changed (answers that do not convert, deleted tags, …), as the delivery would record it.' }),
  }),
});

builder.queryField('previewQuizRule', (t) =>
  t.field({
    type: RulePreview,
    nullable: true,
    description:
      "The lead, contact, note and warnings `sample` would produce under the quiz's saved rule, or under `draft` when given, without sending anything; null when the quiz has no rule and no draft is given. The sample's quizId is the argument's.",
    args: {
      quizId: t.arg.id({ required: true, validate: quizIdSchema }),
      sample: t.arg({ type: QuizResultInput, required: true }),
      draft: t.arg({
        type: RuleInput,
        description:
          'A rule not saved yet, previewed instead of the saved one: read as updateQuizRule would save it when the quiz has a rule (what it leaves out is kept from the saved rule), as createQuizRule would when it has none, and refused with the same BAD_USER_INPUT (paths input.*). Nothing is saved.',
      }),
    },
    resolve: async (_root, args, ctx) => previewLead(ctx.db, await requireLiveAccount(ctx), String(args.quizId), args.sample, args.draft),
  }),
);
