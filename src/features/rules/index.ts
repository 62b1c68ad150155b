// Rules: one per quiz, validated against the account's cache, checked against amoCRM. The only way in.
export { checkRule } from './check.ts';
