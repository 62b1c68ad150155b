// The rule's lead-name template, price question and tags by name (../extras.ts): their GraphQL types.
import { builder } from '../../../platform/graphql/builder.ts';
import { tagNamesOf } from '../../delivery/index.ts';

const names = (json: unknown, entity: string) =>
  tagNamesOf(json)
    .filter((n) => n.entity === entity)
    .map((n) => n.name);

const TagNames = builder.objectRef<unknown>('TagNames').implement({
  description: "Tag names per entity: found among the account's tags (any case) on delivery, or created in amoCRM.",
  fields: (t) => ({
    lead: t.stringList({ resolve: (json) => names(json, 'LEAD') }),
    contact: t.stringList({ resolve: (json) => names(json, 'CONTACT') }),
    company: t.stringList({ resolve: (json) => names(json, 'COMPANY') }),
    customer: t.stringList({ resolve: (json) => names(json, 'CUSTOMER') }),
  }),
});

export const TagNamesInput = builder.inputType('TagNamesInput', {
  description: 'Tag names per entity (at most 100 each, 1–255 characters, no name twice in any case).',
  fields: (t) => ({
    lead: t.stringList(),
    contact: t.stringList(),
    company: t.stringList(),
    customer: t.stringList(),
  }),
});

builder.prismaObjectFields('Rule', (t) => ({
  leadNameTemplate: t.exposeString('leadNameTemplate', {
    nullable: true,
    description: 'The lead\'s name, e.g. "Quiz {quizName}: {contactName}"; null: the result\'s leadName, else "Quiz <quiz id>: <contact>".',
  }),
  priceQuestionId: t.exposeID('priceQuestionId', { nullable: true, description: "The question whose answer sets the lead's price." }),
  tagNamesToAdd: t.field({ type: TagNames, select: { tagNames: true }, resolve: (rule) => rule.tagNames }),
}));

export const LEAD_NAME_TEMPLATE_HELP =
  'The lead\'s name: text with placeholders {quizName}, {quizId}, {resultId}, {leadName}, {contactName}, {contactPhone}, {contactEmail}, {date}, {dateTime}, {answer:<question id>}, {utm:<key>}. A placeholder without a value is empty; the name is trimmed. Null or "" clears it (the default name). Left out: kept.';
