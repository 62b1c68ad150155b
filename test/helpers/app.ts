// A gateway on a random port against a throwaway database, with helpers to
// call it as a tenant would.
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { buildApp, type App } from '../../src/app.ts';
import { loadConfig, type Config } from '../../src/platform/config.ts';
import { createLogger, type Logger } from '../../src/platform/logger.ts';
import type { Queue } from '../../src/platform/queue/index.ts';
import type { TestDatabase } from './db.ts';
import { TEST_JWT_SECRET } from './token.ts';

export { TEST_AUTH_AUDIENCE, TEST_AUTH_CLAIMS, TEST_AUTH_ISSUER, TEST_JWT_SECRET, tokenFor } from './token.ts';

export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    AUTH_JWT_SECRET: TEST_JWT_SECRET,
    AMO_ALLOW_HTTP: 'true',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...overrides,
  });
}

export interface GraphQLResponse<T = any> {
  status: number;
  data?: T;
  errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, any> }[];
}

export interface TestApp {
  app: App;
  url: string;
  config: Config;
  gql<T = any, V extends Record<string, unknown> = Record<string, unknown>>(
    query: string | TypedDocumentNode<T, V>,
    variables?: V,
    token?: string | null,
  ): Promise<GraphQLResponse<T>>;
  stop(): Promise<void>;
}

export async function startTestApp(
  testDb: TestDatabase,
  options: { config?: Record<string, string>; queue?: Queue; workers?: boolean; port?: number; logger?: Logger } = {},
): Promise<TestApp> {
  const config = testConfig(options.config);
  const app = await buildApp({
    config,
    db: testDb.db,
    queue: options.queue,
    workers: options.workers ?? false,
    logger: options.logger ?? createLogger({ level: config.logLevel }),
  });
  let url: string;
  try {
    url = await app.start(options.port ?? 0, '127.0.0.1');
  } catch (err) {
    // a port lost to another process (startStack tries again): nothing of this app is left running
    await app.stop().catch(() => {});
    throw err;
  }
  return {
    app,
    url,
    config,
    async gql(query, variables, token) {
      const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/graphql-response+json' };
      if (token) headers.authorization = `Bearer ${token}`;
      const res = await fetch(`${url}/graphql`, { method: 'POST', headers, body: JSON.stringify({ query: typeof query === 'string' ? query : print(query), variables }) });
      const body = (await res.json()) as GraphQLResponse;
      return { ...body, status: res.status };
    },
    stop: () => app.stop(),
  };
}
