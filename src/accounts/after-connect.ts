import type { AmoAccount } from '../generated/prisma/client.ts';
import type { Services } from '../services.ts';
import { requestSync } from '../sync/index.ts';

/** What follows a (re)connection: the whole catalogue is loaded again. */
export async function afterConnect(services: Services, account: AmoAccount): Promise<void> {
  await requestSync(services, account.id);
}
