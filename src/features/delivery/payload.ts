/**
 * The amoCRM lead (for `POST /api/v4/leads/complex`) and the note text of one quiz result, built
 * from the quiz's rule, its UTM mappings and the account's field catalogue.
 *
 * `buildLead` is pure: the custom field values come from payload-values.ts, the entities are put
 * together here. `loadPayloadContext` (payload-context.ts) reads what it needs from the database.
 *
 * Choices worth knowing:
 * - The result id always goes first into the account's result-id lead field
 *   (`AmoAccount.resultFieldId`): reconciliation finds the lead by it (see worker.ts).
 * - A mapping names a source (a question id, or a contact property: `name`, `phone`, `email` or a
 *   key of `contact.extra`) and a field of the LEAD, CONTACT, COMPANY or CUSTOMER. Without a
 *   CONTACT mapping of `phone` / `email`, they go to the contact's PHONE / EMAIL fields (enum
 *   WORK); `name` is always the contact's name.
 * - The company is sent when a COMPANY mapping produced a value or the result has a `company`
 *   property; its name is the `company` property, else the lead's name.
 * - Customers: leads/complex cannot create them, so `buildLead` also returns the customer
 *   (CUSTOMER mappings and tags) and the worker creates and links it once the lead exists, with
 *   its own exactly-once steps (customers.ts). The note says the customer's id, or lists the
 *   customer answers when it was not created (customers off: 402, or refused).
 * - Two sources filling the same single-value field: the first wins, the other is reported.
 * - At most 40 values per entity (amoCRM's limit): the rest are left out with a warning.
 * - `Rule.mergeDuplicates`: leads/complex has no per-request switch, so the worker looks the
 *   contact up by phone / email and the company by name before sending, and attaches the lead to
 *   the oldest one found (duplicates.ts); `buildLead` always builds a new contact and company.
 */
import type { AmoCompanyInput, AmoComplexLeadInput, AmoContactInput, AmoCustomFieldValue, AmoLeadMetadata } from '../../platform/amo/index.ts';
import type { QuizResult } from './input.ts';
import { buildNote } from './note.ts';
import type { BuiltLead, CustomerInput, Entity, PayloadContext, Problem } from './payload-types.ts';
import { collectFieldValues, ENTITY_WORD, problemLine } from './payload-values.ts';
import { renderLeadName } from './lead-name.ts';
import { priceFromAnswer } from './price.ts';
import { nameTagsOf } from './tag-names.ts';

export * from './payload-types.ts';
export { contactProperties, problemLine } from './payload-values.ts';
export { buildNote };
export { loadPayloadContext, toCatalogField } from './payload-context.ts';

const unixSeconds = (iso: string | undefined, now: Date) => Math.floor((iso ? Date.parse(iso) : now.getTime()) / 1000);

/** A readable lead name when the result has none: the quiz and who answered. */
export function defaultLeadName(result: QuizResult): string {
  const who = result.contact?.name ?? result.contact?.phone ?? result.contact?.email;
  return who ? `Quiz ${result.quizId}: ${who}` : `Quiz ${result.quizId}: result ${result.resultId}`;
}

/**
 * The leads/complex lead of a result. `requestId` is echoed by amoCRM (the worker sends the
 * Delivery id). `now` stands for the result's time when it has no `submittedAt`.
 */
export function buildLead(result: QuizResult, ctx: PayloadContext, options: { requestId?: string; now?: Date } = {}): BuiltLead {
  const now = options.now ?? new Date();
  const problems: Problem[] = [];
  const warnings: string[] = [];
  const onProblem = (p: Problem) => problems.push(p);
  const { rule } = ctx;
  const { values, answers, props } = collectFieldValues(result, ctx, onProblem);

  // the entities, each with its values and tags (the rule's template names the lead: lead-name.ts)
  const leadName = renderLeadName(rule.leadNameTemplate, result, now) ?? result.leadName ?? defaultLeadName(result);
  // the rule's price question, else the result's price (price.ts); an answer that is no price is reported
  const fromAnswer = priceFromAnswer(result, rule.priceQuestionId);
  if (fromAnswer.problem) onProblem(fromAnswer.problem);
  const price = fromAnswer.price ?? result.price;
  const responsible = rule.performerAmoId ?? undefined;
  const owner = responsible !== undefined ? { responsible_user_id: responsible } : {};
  const fieldsOf = (list: AmoCustomFieldValue[]) => (list.length ? { custom_fields_values: list } : {});
  const tagsOf = (entity: Entity) => {
    const out: { id: number }[] = [];
    for (const t of rule.tags.filter((x) => x.entity === entity)) {
      if (t.deleted) warnings.push(`${ENTITY_WORD[entity]} tag "${t.name}" (#${t.amoId}) was deleted in amoCRM: not added`);
      else out.push({ id: t.amoId });
    }
    // then the tags by name (tag-names.ts): an id when resolved, else the name for amoCRM to match or create
    return [...out, ...nameTagsOf(ctx, entity, out)];
  };
  /** The entity's `_embedded.tags`, when it has any. */
  const tagged = (entity: Entity) => {
    const tags = tagsOf(entity);
    return tags.length ? { _embedded: { tags } } : {};
  };

  const leadValues = values.LEAD.take();
  const lead: AmoComplexLeadInput = {
    name: leadName,
    ...(price !== undefined ? { price } : {}),
    pipeline_id: rule.pipelineAmoId,
    ...(rule.toUnsorted ? {} : { status_id: rule.stepAmoId }),
    ...owner,
    ...fieldsOf(leadValues),
    ...(options.requestId !== undefined ? { request_id: options.requestId } : {}),
  };
  const embedded: NonNullable<AmoComplexLeadInput['_embedded']> = {};
  const leadTags = tagsOf('LEAD');
  if (leadTags.length) embedded.tags = leadTags;

  const contactValues = values.CONTACT.take();
  const contactName = result.contact?.name;
  if (contactName !== undefined || contactValues.length) {
    const contact: AmoContactInput = {
      ...(contactName !== undefined ? { name: contactName } : {}),
      ...owner,
      ...fieldsOf(contactValues),
      ...tagged('CONTACT'),
    };
    embedded.contacts = [contact];
  }

  const companyValues = values.COMPANY.take();
  const companyProp = props.get('company');
  if (companyValues.length || companyProp) {
    const company: AmoCompanyInput = {
      name: companyProp?.value.trim() ?? leadName,
      ...owner,
      ...fieldsOf(companyValues),
      ...tagged('COMPANY'),
    };
    embedded.companies = [company];
  }

  // the customer goes in its own call once the lead exists (customers.ts)
  const customerValues = values.CUSTOMER.take();
  const customerTags = tagsOf('CUSTOMER');
  const customerSources = rule.mappings.filter((m) => m.target === 'CUSTOMER');
  const customer: CustomerInput | null =
    customerValues.length || customerTags.length
      ? {
          name: contactName?.trim() || leadName,
          ...owner,
          ...fieldsOf(customerValues),
          ...(customerTags.length ? { _embedded: { tags: customerTags } } : {}),
          ...(options.requestId !== undefined ? { request_id: options.requestId } : {}),
        }
      : null;

  if (rule.toUnsorted) {
    const metadata: AmoLeadMetadata = {
      category: 'forms',
      form_id: result.quizId,
      form_name: result.formName ?? `Quiz ${result.quizId}`,
      form_sent_at: unixSeconds(result.submittedAt, now),
      ...(result.formPage ? { form_page: result.formPage } : {}),
      ...(result.ip ? { ip: result.ip } : {}),
      ...(result.referer ? { referer: result.referer } : {}),
    };
    embedded.metadata = metadata;
  }
  if (Object.keys(embedded).length) lead._embedded = embedded;

  // the values left out first (in order), then the other deviations
  const ordered = [...problems.map(problemLine), ...warnings];

  const customerAnswers = customerSources.flatMap((m) => {
    const src = m.source === 'QUESTION' ? answers.get(m.key)?.values : [props.get(m.key.trim().toLowerCase())?.value ?? ''];
    const v = (src ?? []).filter((x) => x.trim() !== '');
    return v.length ? [`${m.field.name}: ${v.join(', ')}`] : [];
  });
  const note = buildNote(result, { problems, now });
  return { lead, note, customer, customerAnswers, warnings: ordered, problems };
}
