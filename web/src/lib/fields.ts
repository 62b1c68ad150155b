// Which amoCRM fields a quiz answer can fill: the gateway converts text answers into these
// types (src/features/delivery/convert.ts, SUPPORTED_TYPES); files, linked entities, chained
// lists, items and unknown types cannot take an answer, so the rule editor never offers them.
import type { EntityType, FieldType } from '../gql/graphql.ts';

export const ENTITIES: EntityType[] = ['LEAD', 'CONTACT', 'COMPANY', 'CUSTOMER'];

const NOT_FILLABLE: ReadonlySet<FieldType> = new Set<FieldType>(['FILE', 'LINKED_ENTITY', 'CHAINED_LIST', 'ITEMS', 'OTHER']);

export const fillable = (type: FieldType) => !NOT_FILLABLE.has(type);

/** Types whose answer must be one of the field's options. */
export const CHOICE_TYPES: ReadonlySet<FieldType> = new Set<FieldType>(['SELECT', 'RADIOBUTTON', 'MULTISELECT', 'CATEGORY']);

/** The contact properties a quiz form has besides its questions (QuizContactInput). */
export const CONTACT_PROPERTIES = ['name', 'phone', 'email'] as const;
