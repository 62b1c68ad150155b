// A draft of a quiz's rule, seen as saving it would make it and then forgotten: previewQuizRule's
// `draft` (src/features/delivery/preview.ts) previews it instead of the saved rule.
import type { AmoAccount } from '../../generated/prisma/client.ts';
import type { Db, Prisma } from '../../platform/db.ts';
import { insertRule, patchRule, resolveRuleInput, type RuleInput } from './rules.ts';

const ROLLBACK = Symbol('draft rule: roll back');

/**
 * Calls `fn` inside a transaction where the quiz's rule is what saving `draft` would make it —
 * updateQuizRule's merge into the saved rule when the quiz has one, createQuizRule's whole check
 * when it has none — and then rolls the transaction back. The draft is checked exactly as a save
 * checks it (the same BAD_USER_INPUT, naming `input.*` paths), and nothing is written: not the
 * rule, not its re-check against amoCRM, not an event.
 */
export async function withDraftRule<T>(db: Db, account: AmoAccount, quizId: string, draft: RuleInput, fn: (tx: Prisma.TransactionClient) => Promise<T>): Promise<T> {
  let out: { value: T } | undefined;
  try {
    await db.$transaction(async (tx) => {
      const patched = await patchRule(tx, account, quizId, draft);
      if (!patched) await insertRule(tx, account, quizId, await resolveRuleInput(tx, account, draft));
      out = { value: await fn(tx) };
      throw ROLLBACK;
    });
  } catch (err) {
    if (err !== ROLLBACK) throw err;
  }
  return out!.value;
}
