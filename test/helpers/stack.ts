// A gateway wired to an amoCRM simulator over real HTTP, the way production
// is wired to amoCRM; optionally on a real Kafka broker.
import { createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { createAmoSimulator, type AmoSimulator, type SimulatorOptions } from '@quiz-gateway/amo-sim';
import { redactPaths } from '../../src/platform/logger.ts';
import { startTestApp, type TestApp } from './app.ts';
import type { TestDatabase } from './db.ts';
import { TEST_AMO_CLIENT_ID, TEST_AMO_CLIENT_SECRET } from './amo.ts';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Everything a gateway logged, as text, for greps. */
export class LogCapture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: string, done: () => void) {
    this.text += chunk.toString();
    done();
  }
  logger() {
    return pino({ level: 'debug', redact: { paths: redactPaths, censor: '[redacted]' } }, this);
  }
}

export interface Stack {
  sim: AmoSimulator;
  gw: TestApp;
  logs: LogCapture;
  stop(): Promise<void>;
}

/** Kafka settings for a test that wants the real broker (KAFKA_BROKERS), with topics of its own. */
export function kafkaSettings(): Record<string, string> {
  return process.env.KAFKA_BROKERS ? { KAFKA_BROKERS: process.env.KAFKA_BROKERS, KAFKA_TOPIC_PREFIX: `t${randomBytes(4).toString('hex')}.` } : {};
}

export async function startStack(
  testDb: TestDatabase,
  options: { sim?: AmoSimulator; simOptions?: SimulatorOptions; config?: Record<string, string>; workers?: boolean } = {},
): Promise<Stack> {
  // freePort() closes the port before the gateway listens on it: under parallel test files another
  // process can take it in between, so a lost race starts again on a new port
  for (let attempt = 1; ; attempt++) {
    try {
      return await startStackOnce(testDb, options);
    } catch (err) {
      if ((err as NodeJS.ErrnoException)?.code !== 'EADDRINUSE' || attempt >= 3) throw err;
    }
  }
}

async function startStackOnce(
  testDb: TestDatabase,
  options: { sim?: AmoSimulator; simOptions?: SimulatorOptions; config?: Record<string, string>; workers?: boolean },
): Promise<Stack> {
  const port = await freePort();
  const redirectUri = `http://127.0.0.1:${port}/webhook/create`;
  const sim = options.sim ?? createAmoSimulator({ clientId: TEST_AMO_CLIENT_ID, clientSecret: TEST_AMO_CLIENT_SECRET, redirectUri, ...options.simOptions });
  const ownSim = !options.sim;
  if (ownSim) await sim.start();
  const logs = new LogCapture();
  let gw: TestApp;
  try {
    gw = await startTestApp(testDb, {
      port,
      workers: options.workers,
      logger: logs.logger(),
      config: {
        AMO_CLIENT_ID: TEST_AMO_CLIENT_ID,
        AMO_CLIENT_SECRET: TEST_AMO_CLIENT_SECRET,
        AMO_REDIRECT_URI: redirectUri,
        AMO_AUTH_URL: `${sim.url}/oauth`,
        AMO_ALLOW_HTTP: 'true',
        PUBLIC_URL: `http://127.0.0.1:${port}`,
        TOKEN_ENCRYPTION_KEY: Buffer.alloc(32, 42).toString('base64'),
        ...options.config,
      },
    });
  } catch (err) {
    if (ownSim) await sim.stop();
    throw err;
  }
  return {
    sim,
    gw,
    logs,
    async stop() {
      await gw.stop();
      if (ownSim) await sim.stop();
    },
  };
}

/** A graphql-ws client as a subscriber would connect. */
export function wsClient(url: string, token: string, options: { onClose?: (code: number) => void } = {}): Client {
  return createClient({
    url: url.replace(/^http/, 'ws') + '/graphql',
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 0,
    lazy: false,
    onNonLazyError: () => {},
    on: { closed: (event) => options.onClose?.((event as { code: number }).code) },
  });
}

/** Resolves once `listening()` is true: the server registered the subscription, so an event published now reaches it. */
export async function untilListening(listening: () => boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!listening()) {
    if (Date.now() > end) throw new Error('the subscription was never registered on the server');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The next value a subscription yields (or rejects with the close/error). `ready` resolves once
 * `listening()` says the server registered it (e.g. `() => app.services.pubsub.listening('sync.completed', tenant) > 0`).
 */
export function nextEvent<T = any>(client: Client, query: string, variables: Record<string, unknown>, listening: () => boolean): { value: Promise<T>; ready: Promise<void> } {
  const value = new Promise<T>((resolve, reject) => {
    const stop = client.subscribe<T>(
      { query, variables },
      {
        next: (result) => {
          stop();
          if (result.errors) reject(new Error(JSON.stringify(result.errors)));
          else resolve(result.data as T);
        },
        error: reject,
        complete: () => {},
      },
    );
  });
  return { value, ready: untilListening(listening) };
}
