import type { Caller } from './auth.ts';
import type { Db } from './db.ts';
import type { AmoAccount } from '../generated/prisma/client.ts';
import type { Services } from './services.ts';

/** What every resolver gets: the authenticated caller and the process's services. */
export interface Context {
  caller: Caller;
  db: Db;
  services: Services;
  /** The caller's live (not deleted) amoCRM account, loaded once per request. */
  liveAccount(): Promise<AmoAccount | null>;
  /** Aborts when an HTTP request is closed before its answer (amoCRM calls made for it take it); none over the websocket. */
  signal?: AbortSignal;
}

export function createContext(services: Services, caller: Caller, signal?: AbortSignal): Context {
  let account: Promise<AmoAccount | null> | undefined;
  return {
    caller,
    db: services.db,
    services,
    signal,
    liveAccount: () =>
      (account ??= services.db.amoAccount.findFirst({
        where: { quizAccountId: caller.quizAccountId, deletedAt: null },
      })),
  };
}
