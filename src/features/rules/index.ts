// Rules: one per quiz, validated against the account's cache, checked against amoCRM. The only way in.
export { checkRule } from './check.ts';
export { withDraftRule } from './draft.ts';
export type { RuleInput as RuleInputData } from './rules.ts';
// the GraphQL RuleInput, for previewQuizRule's draft (src/features/delivery/graphql/preview.ts)
export { RuleInput } from './graphql/rule.ts';
