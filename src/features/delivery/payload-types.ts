/** The shapes a lead is built from and into (payload.ts builds it; payload-context.ts loads its context). */
import { createHash } from 'node:crypto';
import type { AmoComplexLeadInput, AmoCustomFieldValue } from '../../platform/amo/index.ts';
import type { ConvertField } from './convert.ts';
import type { RuleTagName } from './tag-names.ts';

export type Entity = 'LEAD' | 'CONTACT' | 'COMPANY' | 'CUSTOMER';

/** amoCRM's limit of custom field values per entity. */
export const MAX_FIELD_VALUES = 40;
/** The code of the lead field that carries the quiz result id. */
export const RESULT_FIELD_CODE = 'QUIZ_RESULT_ID';
/**
 * What the result-id lead field carries: the result id and a tag of the tenant (12 hex of
 * SHA-256 of the quiz account id), so two tenants connected to the same amoCRM account never
 * recognise each other's leads in reconcile. Leads sent before carry the bare result id
 * (reconcile.ts still reads those: a Delivery's `sentLead` says which it sent).
 */
export const resultMarker = (quizAccountId: string, resultId: string) => `${resultId}@${createHash('sha256').update(quizAccountId).digest('hex').slice(0, 12)}`;
/** The line of the note that names the result (note reconciliation looks for it). */
export const noteMarker = (resultId: string) => `Quiz result ID: ${resultId}`;

export interface CatalogField extends ConvertField {
  entity: Entity;
  name: string;
  /** deleted in amoCRM (the catalogue keeps it for the rules that still point at it) */
  deleted?: boolean;
}

export interface RuleMapping {
  target: Entity;
  source: 'QUESTION' | 'PROPERTY';
  /** question id, or property name */
  key: string;
  field: CatalogField;
}

export interface RuleTagRef {
  entity: Entity;
  amoId: number;
  name: string;
  deleted?: boolean;
}

export interface DeliveryRule {
  quizId: string;
  pipelineAmoId: number;
  stepAmoId: number;
  performerAmoId: number | null;
  toUnsorted: boolean;
  mergeDuplicates: boolean;
  mappings: RuleMapping[];
  tags: RuleTagRef[];
  /** the lead's name template (lead-name.ts); none: the result's leadName, else the default name */
  leadNameTemplate?: string | null;
  /** the question whose answer sets the lead's price (price.ts) */
  priceQuestionId?: string | null;
  /** tags by name (tag-names.ts resolves them to ids on delivery) */
  tagNames?: RuleTagName[];
}

export interface PayloadContext {
  rule: DeliveryRule;
  /** the quiz's UTM mappings */
  utms: { name: string; field: CatalogField }[];
  /** the account's live fields of every entity (PHONE / EMAIL of contacts, tracking fields of leads) */
  fields: CatalogField[];
  /** `AmoAccount.resultFieldId` */
  resultFieldId: number | null;
  /** the tenant (`AmoAccount.quizAccountId`): part of the result-id field's value; without it the bare result id */
  quizAccountId?: string;
}

/** A value that was left out of amoCRM, and why. */
export interface Problem {
  /** e.g. `lead field "Площадь" (#123) ← question q2` */
  where: string;
  value: string;
  reason: string;
}

/** A customer for `POST /api/v4/customers` (amoCRM's customer fields). */
export interface CustomerInput {
  name: string;
  responsible_user_id?: number;
  custom_fields_values?: AmoCustomFieldValue[];
  _embedded?: { tags?: ({ id: number } | { name: string })[] };
  request_id?: string;
}

export interface BuiltLead {
  lead: AmoComplexLeadInput;
  /** the note without its customer part (customers.ts adds it once the customer's fate is known) */
  note: string;
  /** the customer to create once the lead exists; null when the rule gives it no value nor tag */
  customer: CustomerInput | null;
  /** `field: answer` lines of the customer mappings, for the note when it is not created */
  customerAnswers: string[];
  /** one line per value left out (also in the note) and per other deviation from the rule */
  warnings: string[];
  problems: Problem[];
}
