/**
 * The HTTP core of the amoCRM client: one API call with the account's state and token (from an
 * `AccountAccess`), the shared per-account rate limit, retries with backoff, and amoCRM's answers
 * turned into typed errors (errors.ts, answers.ts). Low level: the typed calls are `AmoClient`'s
 * (client.ts); nothing outside the client builds paths.
 *
 * Retries: 429 (honouring Retry-After, which also pushes back every replica's next slot), 5xx,
 * timeouts and resets are retried up to `maxRetries` times with exponential backoff and full
 * jitter. A non-idempotent request (POST by default) is retried only when it certainly did not
 * reach amoCRM (429, connection refused); after a timeout, reset or 5xx it throws at once with
 * `maybeProcessed: true`, because amoCRM may have created the entity (leads/complex does not
 * deduplicate): the caller must reconcile before sending it again.
 */
import type { Logger } from '../logger.ts';
import { annotate, SpanKind, withSpan } from '../tracing.ts';
import type { AccountAccess } from './account-access.ts';
import { AmoBlockedError, AmoError, AmoHttpError, AmoNetworkError, AmoRateLimitedError, AmoServerError, AmoUnauthorizedError } from './errors.ts';
import { describeNetworkError, isHtml, notSent, parseJson, parseRetryAfter, rejection } from './answers.ts';
import { abortableSleep, type RateLimiter } from './rate-limit.ts';
import { ACCESS_TOKEN_SKEW_MS, type FetchLike } from './tokens.ts';
import type { HalPage } from './types.ts';

export type QueryValue = string | number | boolean | null | undefined | Array<string | number>;

export interface RequestOptions {
  query?: Record<string, QueryValue>;
  /** JSON body */
  body?: unknown;
  /** default: every method but POST. Decides whether timeouts, resets and 5xx are retried. */
  idempotent?: boolean;
  signal?: AbortSignal;
}

export interface PaginateOptions {
  query?: Record<string, QueryValue>;
  /** `limit` sent with the first page (default 250, amoCRM's maximum); null sends none */
  pageSize?: number | null;
  signal?: AbortSignal;
}

/** Retry and timeout settings of a client (every one has a default). */
export interface AmoRetryOptions {
  /** per-attempt timeout of an API request, ms (default 20 000) */
  timeoutMs?: number;
  /** retries after the first attempt for 429 / 5xx / network (default 4) */
  maxRetries?: number;
  /** first backoff step, ms (default 300; doubled per retry, full jitter, capped by maxBackoffMs) */
  backoffMs?: number;
  /** default 8 000 */
  maxBackoffMs?: number;
  /** a Retry-After longer than this is not waited for: AmoRateLimitedError at once (default 60 000) */
  maxRetryAfterMs?: number;
  /** how a backoff waits (default: an abortable timer; unit tests record the waits instead) */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface AmoTransportOptions extends AmoRetryOptions {
  /** the account's state and tokens (PostgreSQL: account-store.ts) */
  access: AccountAccess;
  /** the per-amoCRM-account limiter every request takes a slot of */
  rateLimiter: RateLimiter;
  /** default: global fetch */
  fetch?: FetchLike;
  logger?: Logger;
}

export class AmoTransport {
  readonly access: AccountAccess;
  private readonly limiter: RateLimiter;
  private readonly fetchFn: FetchLike;
  private readonly log?: Logger;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly timeoutMs: number;
  private readonly maxRetries: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly maxRetryAfterMs: number;

  constructor(options: AmoTransportOptions) {
    this.access = options.access;
    this.limiter = options.rateLimiter;
    this.fetchFn = options.fetch ?? ((input, init) => fetch(input, init));
    this.log = options.logger;
    this.sleep = options.sleep ?? abortableSleep;
    this.timeoutMs = options.timeoutMs ?? 20_000;
    this.maxRetries = options.maxRetries ?? 4;
    this.backoffMs = options.backoffMs ?? 300;
    this.maxBackoffMs = options.maxBackoffMs ?? 8_000;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 60_000;
  }

  private buildUrl(origin: string, path: string, query?: Record<string, QueryValue>): URL {
    let url: URL;
    if (/^https?:\/\//i.test(path)) {
      url = new URL(path);
      // HAL links are absolute: never send the bearer token anywhere but the account's host
      if (url.origin !== origin) throw new AmoError(`amoCRM link points to another host (${url.host})`, { accountId: this.access.accountId });
    } else {
      const p = path.startsWith('/') ? path : `/api/v4/${path}`;
      url = new URL(p, origin);
    }
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v === undefined || v === null) continue;
      url.searchParams.set(k, Array.isArray(v) ? v.join(',') : String(v));
    }
    return url;
  }

  private backoff(retry: number): number {
    const cap = Math.min(this.maxBackoffMs, this.backoffMs * 2 ** (retry - 1));
    return Math.round(cap / 2 + Math.random() * (cap / 2));
  }

  /**
   * One API call. `path`: `/api/v4/...`, a path relative to `/api/v4/` (`'leads/pipelines'`), or
   * an absolute link on the account's host. Resolves to the parsed JSON, or null for 204 / empty.
   */
  async request<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<T | null> {
    method = method.toUpperCase();
    // one client span per call, its retries included (url.path is set once it is built: no host, no query)
    const attributes = { 'http.request.method': method, 'amo.account_id': this.access.accountId };
    return withSpan(`amoCRM ${method}`, { kind: SpanKind.CLIENT, attributes }, () => this.send<T>(method, path, options));
  }

  private async send<T>(method: string, path: string, options: RequestOptions): Promise<T | null> {
    const idempotent = options.idempotent ?? method !== 'POST';
    const accountId = this.access.accountId;
    let retries = 0;
    let refreshedAfter401 = false;

    for (;;) {
      const state = await this.access.load();
      let token: { accessToken: string; version: number } = state;
      if (state.accessExpiresAt.getTime() <= Date.now() + ACCESS_TOKEN_SKEW_MS) {
        token = (await this.access.refresh(state.version)) ?? state;
      }
      const url = this.buildUrl(state.origin, path, options.query);
      const logPath = url.pathname;
      // everything but the send is done before the slot: nothing may delay a send past its slot
      const headers: Record<string, string> = { authorization: `Bearer ${token.accessToken}`, accept: 'application/json' };
      if (options.body !== undefined) headers['content-type'] = 'application/json';
      const payload = options.body !== undefined ? JSON.stringify(options.body) : undefined;

      // an unknown amoId only in a session client before the account is known (see createAmoSessionClient)
      const slot = state.amoId !== null ? await this.limiter.acquire(state.amoId, options.signal) : undefined;

      const timeout = AbortSignal.timeout(this.timeoutMs);
      const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
      const started = Date.now();
      let res: Response;
      let text: string;
      try {
        res = await this.fetchFn(url, { method, headers, body: payload, signal, redirect: 'manual' });
        // the answer's headers are in: amoCRM had the request by now (what the next window is counted from)
        slot?.arrived();
        text = await res.text();
      } catch (err) {
        if (options.signal?.aborted) {
          slot?.unanswered();
          throw options.signal.reason;
        }
        const timedOut = timeout.aborted;
        const what = describeNetworkError(err, timedOut);
        const safe = notSent(err) && !timedOut;
        // no answer: never sent, or it may still reach amoCRM (the limiter's one assumption: within UNANSWERED_GRACE_MS)
        if (safe) slot?.unsent();
        else slot?.unanswered();
        if ((idempotent || safe) && retries < this.maxRetries) {
          retries++;
          const wait = this.backoff(retries);
          this.log?.warn({ method, path: logPath, retry: retries, waitMs: wait, reason: what }, 'amoCRM request failed; retrying');
          await this.sleep(wait, options.signal);
          continue;
        }
        throw new AmoNetworkError(`amoCRM ${method} ${logPath} ${what}`, { accountId, cause: err, maybeProcessed: !safe });
      }

      const status = res.status;
      this.log?.debug({ method, path: logPath, status, ms: Date.now() - started, retry: retries }, 'amoCRM request');
      annotate({ 'url.path': logPath, 'http.response.status_code': status, 'http.request.resend_count': retries });
      const contentType = res.headers.get('content-type') ?? '';

      if (status >= 200 && status < 300) {
        if (status === 204 || !text.trim()) return null;
        const data = parseJson(text);
        // A 2xx means amoCRM did it, whatever the body: a non-idempotent call must be reconciled, not resent.
        if (data === undefined)
          throw new AmoHttpError(`amoCRM ${method} ${logPath} answered ${status} with a body that is not JSON`, { status, accountId, maybeProcessed: !idempotent });
        return data as T;
      }

      if (status === 401) {
        if (!refreshedAfter401) {
          refreshedAfter401 = true;
          if (await this.access.refresh(token.version)) continue;
          throw new AmoUnauthorizedError('amoCRM refused the access token', { status, accountId });
        }
        await this.access.markStale('401 after a token refresh');
        throw new AmoUnauthorizedError("amoCRM refused the account's tokens even after a refresh; the account must be connected again", { status, accountId });
      }

      if (status === 429) {
        const retryAfter = parseRetryAfter(res.headers.get('retry-after'));
        if (retries < this.maxRetries && (retryAfter === undefined || retryAfter <= this.maxRetryAfterMs)) {
          retries++;
          const wait = retryAfter ?? this.backoff(retries);
          this.log?.warn({ method, path: logPath, retry: retries, waitMs: wait }, 'amoCRM rate limit (429); backing off');
          // every replica waits: the limit is amoCRM's, per account
          try {
            if (state.amoId === null) throw new Error('no account to penalize');
            await this.limiter.penalize(state.amoId, wait);
          } catch {
            await this.sleep(wait, options.signal);
          }
          continue;
        }
        throw new AmoRateLimitedError(`amoCRM kept answering 429 to ${method} ${logPath}`, { status, accountId, retryAfterMs: retryAfter });
      }

      if (status >= 500) {
        if (idempotent && retries < this.maxRetries) {
          retries++;
          const wait = this.backoff(retries);
          this.log?.warn({ method, path: logPath, status, retry: retries, waitMs: wait }, 'amoCRM server error; retrying');
          await this.sleep(wait, options.signal);
          continue;
        }
        throw new AmoServerError(`amoCRM answered ${status} to ${method} ${logPath}`, { status, accountId, maybeProcessed: true });
      }

      const body = parseJson(text) as Record<string, unknown> | undefined;
      const detail = typeof body?.detail === 'string' ? body.detail : typeof body?.title === 'string' ? body.title : undefined;

      if (status === 403 && isHtml(contentType, text)) {
        await this.access.markBlocked(state);
        throw new AmoBlockedError('amoCRM has blocked this account (API limits); calls are stopped until it is reconnected', { status, accountId });
      }
      throw rejection(`${method} ${logPath}`, status, body, detail, accountId);
    }
  }

  /**
   * Every item of a HAL list: `_embedded[key]` of each page, following `_links.next` until it is
   * absent or a page is 204 / empty.
   */
  async *paginate<T>(path: string, key: string, options: PaginateOptions = {}): AsyncGenerator<T, void, undefined> {
    const pageSize = options.pageSize === undefined ? 250 : options.pageSize;
    let next: string | null = path;
    let query: Record<string, QueryValue> | undefined = { ...(options.query ?? {}), ...(pageSize !== null ? { limit: pageSize } : {}) };
    const seen = new Set<string>();
    while (next) {
      const page: HalPage<string, T> | null = await this.request<HalPage<string, T>>('GET', next, { query, signal: options.signal });
      if (!page) return;
      const items = page._embedded?.[key] ?? [];
      for (const item of items) yield item;
      const href: string | undefined = page._links?.next?.href;
      seen.add(next);
      if (!href || items.length === 0 || seen.has(href)) return;
      next = href;
      query = undefined; // the link carries page, limit and filters
    }
  }

  async listAll<T>(path: string, key: string, options: PaginateOptions = {}): Promise<T[]> {
    const out: T[] = [];
    for await (const item of this.paginate<T>(path, key, options)) out.push(item);
    return out;
  }
}
