// Test helper: a connected amoCRM account — a simulator account plus the gateway's AmoAccount and
// AmoToken rows (tokens from `sim.issueTokens`, encrypted as the product stores them).
import { randomBytes } from 'node:crypto';
import type { Db } from '../../src/platform/db.ts';
import { createAmoSimulator, type AmoSimulator, type SeedAccountOptions, type SimulatorOptions } from '@quiz-gateway/amo-sim';
import { saveTokens } from '../../src/platform/amo/index.ts';
import type { AmoClientConfig } from '../../src/platform/amo/index.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';

export const TEST_AMO_CLIENT_ID = 'amo-test-client';
export const TEST_AMO_CLIENT_SECRET = 'amo-test-secret';
export const TEST_AMO_REDIRECT = 'http://127.0.0.1:1/webhook/create';

/** Settings for the amoCRM client against a simulator created with the TEST_AMO_* credentials. */
export function testAmoConfig(overrides: Partial<AmoClientConfig['amo']> = {}): AmoClientConfig {
  return {
    amo: {
      clientId: TEST_AMO_CLIENT_ID,
      clientSecret: TEST_AMO_CLIENT_SECRET,
      redirectUri: TEST_AMO_REDIRECT,
      allowHttp: true,
      rateLimitRps: 7,
      ...overrides,
    },
    tokenEncryptionKey: Buffer.alloc(32, 42),
  };
}

export interface ConnectedAccount {
  /** gateway AmoAccount.id */
  accountId: string;
  /** simulator (amoCRM) account id */
  amoId: number;
  quizAccountId: string;
}

export async function connectSimAccount(
  db: Db,
  sim: AmoSimulator,
  config: Pick<AmoClientConfig, 'tokenEncryptionKey'>,
  options: { seed?: SeedAccountOptions; quizAccountId?: string; accessExpiresAt?: Date } = {},
): Promise<ConnectedAccount> {
  const acc = sim.seedAccount(options.seed ?? {});
  const pair = sim.issueTokens(acc.id);
  const quizAccountId = options.quizAccountId ?? `quiz-${randomBytes(4).toString('hex')}`;
  const row = await db.amoAccount.create({
    data: {
      quizAccountId,
      amoId: acc.id,
      name: acc.name,
      subdomain: acc.subdomain,
      host: sim.host,
      webhookSecret: randomBytes(16).toString('hex'),
    },
    select: { id: true },
  });
  await saveTokens(db, config.tokenEncryptionKey, row.id, {
    accessToken: pair.access_token,
    refreshToken: pair.refresh_token,
    expiresIn: pair.expires_in,
    accessExpiresAt: options.accessExpiresAt ?? new Date(Date.now() + pair.expires_in * 1000),
  });
  return { accountId: row.id, amoId: acc.id, quizAccountId };
}

/**
 * A simulator over HTTP with the TEST_AMO_* credentials and amoCRM's 7 requests per second (refused
 * requests counted), and a throwaway database; the caller stops both (`tdb.drop()`, `sim.stop()`).
 */
export async function startSimAndDatabase(simOptions: Partial<SimulatorOptions> = {}): Promise<{ sim: AmoSimulator; tdb: TestDatabase; db: Db }> {
  const sim = createAmoSimulator({
    clientId: TEST_AMO_CLIENT_ID,
    clientSecret: TEST_AMO_CLIENT_SECRET,
    redirectUri: TEST_AMO_REDIRECT,
    rateLimitRps: 7,
    rateLimitCountsRejected: true,
    ...simOptions,
  });
  await sim.start();
  const tdb = await createTestDatabase().catch(async (err) => {
    await sim.stop();
    throw err;
  });
  return { sim, tdb, db: tdb.db };
}
