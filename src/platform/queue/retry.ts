import type { Logger } from '../logger.ts';
import type { Handler, QueueMessage } from './types.ts';

export interface RetryPolicy {
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
}

export type HandleOutcome =
  | { kind: 'ok'; attempts: number }
  | { kind: 'failed'; attempts: number; error: Error }
  /** The consumer is stopping: the message must NOT be committed (it will be redelivered). */
  | { kind: 'aborted' };

export function backoffDelay(policy: RetryPolicy, failedAttempt: number): number {
  return Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** (failedAttempt - 1));
}

export function toError(err: unknown): Error {
  if (err instanceof Error) return err;
  return new Error(typeof err === 'string' ? err : JSON.stringify(err));
}

/** A promise that resolves once, with a flag to read synchronously. */
export class Latch {
  fired = false;
  readonly promise: Promise<void>;
  private resolveFn!: () => void;
  constructor() {
    this.promise = new Promise<void>((resolve) => {
      this.resolveFn = resolve;
    });
  }
  fire(): void {
    if (this.fired) return;
    this.fired = true;
    this.resolveFn();
  }
}

function sleep(ms: number, abort: Latch): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    void abort.promise.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Runs the handler until it succeeds or `maxAttempts` is reached, sleeping with
 * exponential backoff between tries. Never throws.
 * - `stopping`: no new attempt starts after it fired (the outcome is `aborted`).
 * - `abandon`: stop waiting for the attempt in flight (the handler's promise is
 *   left to finish on its own; the outcome is `aborted`).
 */
export async function handleWithRetries(
  handler: Handler,
  message: QueueMessage,
  policy: RetryPolicy,
  signals: { stopping: Latch; abandon: Latch },
  log: Logger,
): Promise<HandleOutcome> {
  for (let attempt = 1; ; attempt++) {
    if (signals.stopping.fired && attempt > 1) return { kind: 'aborted' };
    let error: Error | undefined;
    const run = (async () => {
      try {
        await handler({ ...message, attempt });
      } catch (err) {
        error = toError(err);
      }
    })();
    const done = await Promise.race([run.then(() => true), signals.abandon.promise.then(() => false)]);
    if (!done) return { kind: 'aborted' };
    if (!error) return { kind: 'ok', attempts: attempt };
    if (attempt >= policy.maxAttempts) return { kind: 'failed', attempts: attempt, error };
    const delay = backoffDelay(policy, attempt);
    log.warn(
      { topic: message.topic, key: message.key, partition: message.partition, offset: message.offset, attempt, delayMs: delay, err: error },
      'queue handler failed, retrying',
    );
    await sleep(delay, signals.stopping);
    if (signals.stopping.fired) return { kind: 'aborted' };
  }
}
