// Every read is scoped to the caller. These helpers build the Prisma filters
import { accountNotConnected } from '../errors.ts';
// that say "of the caller's live account" so no resolver forgets it.
import type { Context } from '../context.ts';

import { NIL_UUID, uuidOrNil } from '../ids.ts';

export { NIL_UUID, uuidOrNil } from '../ids.ts';

/** Rows of the caller's live account that are not soft-deleted. */
export const ofLiveAccount = (ctx: Context) => ({
  deletedAt: null,
  account: { quizAccountId: ctx.caller.quizAccountId, deletedAt: null },
});

/**
 * The node options of a row of the caller's live account (not soft-deleted): found by its id;
 * node(id) of a missing or foreign object is null, like any missing one.
 */
export const liveNodeOptions = {
  id: { field: 'id' as const },
  nullable: true as const,
  findUnique: (id: string, ctx: Context) => ({ id: uuidOrNil(id), ...ofLiveAccount(ctx) }),
};

/** The live account's id, or the nil UUID when none is connected (so lists come back empty). */
export async function liveAccountId(ctx: Context): Promise<string> {
  return (await ctx.liveAccount())?.id ?? NIL_UUID;
}

/** Catalogue rows (users, pipelines, fields, tags) of the caller's live account, not soft-deleted. */
export async function liveCatalogue<T extends object>(ctx: Context, extra?: T) {
  return { accountId: await liveAccountId(ctx), deletedAt: null, ...extra } as { accountId: string; deletedAt: null } & T;
}

/** The caller's live account, or ACCOUNT_NOT_CONNECTED. */
export async function requireLiveAccount(ctx: Context) {
  const account = await ctx.liveAccount();
  if (!account) throw accountNotConnected();
  return account;
}
