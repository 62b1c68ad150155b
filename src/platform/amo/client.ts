/**
 * The amoCRM API v4 client bound to one gateway account (`AmoAccount.id`). Every amoCRM call of
 * the product goes through `request`: account state checks (stale, blocked, deleted), the bearer
 * token (refreshed single-flight, see tokens.ts), the shared per-account rate limit, retries with
 * backoff, and amoCRM's answers turned into typed errors (errors.ts, answers.ts). The OAuth
 * callback's account read, before the account is stored, goes through it too (session.ts), and
 * token requests take slots of the same limiter (tokens.ts).
 *
 * Retries: 429 (honouring Retry-After, which also pushes back every replica's next slot), 5xx,
 * timeouts and resets are retried up to `maxRetries` times with exponential backoff and full
 * jitter. A non-idempotent request (POST by default) is retried only when it certainly did not
 * reach amoCRM (429, connection refused); after a timeout, reset or 5xx it throws at once with
 * `maybeProcessed: true`, because amoCRM may have created the entity (leads/complex does not
 * deduplicate): the caller must reconcile before sending it again.
 */
import type { Db } from '../db.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import {
  AmoBlockedError,
  AmoError,
  AmoHttpError,
  AmoNetworkError,
  AmoNotConnectedError,
  AmoRateLimitedError,
  AmoServerError,
  AmoStaleError,
  AmoUnauthorizedError,
} from './errors.ts';
import { describeNetworkError, isHtml, notSent, parseJson, parseRetryAfter, rejection } from './answers.ts';
import { amoOrigin } from './host.ts';
import { abortableSleep, createRateLimiter, type RateLimiter } from './rate-limit.ts';
import { decryptSecret } from './token-crypto.ts';
import { ACCESS_TOKEN_SKEW_MS, markAccountStale, refreshAccessToken, type AmoAuthConfig, type FetchLike, type StoredAccessToken, type TokenContext } from './tokens.ts';
import * as api from './api.ts';
import type {
  AmoAccountInfo,
  AmoComplexLeadInput,
  AmoComplexLeadResult,
  AmoCustomField,
  AmoCustomFieldInput,
  AmoEntity,
  AmoLead,
  AmoNoteCreated,
  AmoNoteInput,
  AmoPipeline,
  AmoTag,
  AmoUser,
  AmoWebhook,
  HalPage,
} from './types.ts';

export interface AmoClientConfig extends AmoAuthConfig {
  amo: AmoAuthConfig['amo'] & Pick<Config['amo'], 'rateLimitRps'>;
}

/**
 * An amoCRM account the gateway has not stored yet (the OAuth callback reads `/api/v4/account`
 * before the account row exists): the API host, the access token, and the amoCRM account id its
 * requests are counted under (null when unknown: see `createAmoSessionClient`).
 */
export interface AmoSession {
  host: string;
  accessToken: string;
  amoId: number | null;
}

export interface AmoClientOptions {
  db: Db;
  config: AmoClientConfig;
  /** the gateway's `AmoAccount.id` ('' for a session client) */
  accountId: string;
  /** explicit host + token + amoId instead of the stored account (see `AmoSession`) */
  session?: AmoSession;
  logger?: Logger;
  /** called once when the account turns stale (the caller publishes `token.stale`) */
  onStale?: (accountId: string) => void | Promise<void>;
  /** fetch for API and token requests (default: global fetch) */
  fetch?: FetchLike;
  /** per-attempt timeout of an API request, ms (default 20 000) */
  timeoutMs?: number;
  /** token endpoint timeout, ms (default 15 000) */
  tokenTimeoutMs?: number;
  /** retries after the first attempt for 429 / 5xx / network (default 4) */
  maxRetries?: number;
  /** first backoff step, ms (default 300; doubled per retry, full jitter, capped by maxBackoffMs) */
  backoffMs?: number;
  /** default 8 000 */
  maxBackoffMs?: number;
  /** a Retry-After longer than this is not waited for: AmoRateLimitedError at once (default 60 000) */
  maxRetryAfterMs?: number;
  /** share one limiter between clients (default: one over `db` at `config.amo.rateLimitRps`) */
  rateLimiter?: RateLimiter;
}

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

interface AccountState {
  origin: string;
  host: string;
  amoId: number | null;
  token: StoredAccessToken;
}

const sleep = abortableSleep;

export { parseRetryAfter };

export class AmoClient {
  readonly accountId: string;
  private readonly db: Db;
  private readonly config: AmoClientConfig;
  private readonly log?: Logger;
  private readonly fetchFn: FetchLike;
  private readonly limiter: RateLimiter;
  private readonly tokenCtx: TokenContext;
  private readonly timeoutMs: number;
  private readonly maxRetries: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly session?: AmoSession;

  constructor(options: AmoClientOptions) {
    this.accountId = options.accountId;
    this.session = options.session;
    this.db = options.db;
    this.config = options.config;
    this.log = options.logger?.child({ amoAccountId: options.accountId });
    this.fetchFn = options.fetch ?? ((input, init) => fetch(input, init));
    this.limiter =
      options.rateLimiter ??
      createRateLimiter(options.db, {
        rps: options.config.amo.rateLimitRps,
        onLate: (amoId, lateMs) => this.log?.debug({ amoId, lateMs: Math.round(lateMs) }, 'amoCRM request woke late; it takes a new slot'),
      });
    this.timeoutMs = options.timeoutMs ?? 20_000;
    this.maxRetries = options.maxRetries ?? 4;
    this.backoffMs = options.backoffMs ?? 300;
    this.maxBackoffMs = options.maxBackoffMs ?? 8_000;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 60_000;
    this.tokenCtx = {
      db: options.db,
      config: options.config,
      logger: this.log,
      onStale: options.onStale,
      fetch: options.fetch,
      timeoutMs: options.tokenTimeoutMs,
      rateLimiter: this.limiter,
    };
  }

  // ---- core ----------------------------------------------------------------------------------

  /** Loads the account and its token; refuses stale, blocked, deleted and unconnected accounts. */
  private async loadState(): Promise<AccountState> {
    if (this.session) {
      const { host, accessToken, amoId } = this.session;
      // never refreshed here (there are no stored tokens): an infinite expiry skips the refresh check
      return { origin: amoOrigin(host, this.config.amo.allowHttp), host, amoId, token: { accessToken, accessExpiresAt: new Date(8.64e15), version: 0 } };
    }
    const acc = await this.db.amoAccount.findUnique({
      where: { id: this.accountId },
      select: {
        host: true,
        amoId: true,
        stale: true,
        blockedAt: true,
        deletedAt: true,
        token: { select: { accessTokenEnc: true, accessExpiresAt: true, version: true } },
      },
    });
    const accountId = this.accountId;
    if (!acc || acc.deletedAt) throw new AmoNotConnectedError('The amoCRM account is not connected', { accountId });
    if (acc.stale) throw new AmoStaleError('The amoCRM account is stale: its owner must connect it again', { accountId });
    if (acc.blockedAt) throw new AmoBlockedError('amoCRM has blocked this account (API limits); calls are stopped until it is reconnected', { accountId, status: 403 });
    if (!acc.token) throw new AmoNotConnectedError('The amoCRM account has no tokens', { accountId });
    return {
      origin: amoOrigin(acc.host, this.config.amo.allowHttp),
      host: acc.host,
      amoId: acc.amoId,
      token: {
        accessToken: decryptSecret(acc.token.accessTokenEnc, this.config.tokenEncryptionKey),
        accessExpiresAt: acc.token.accessExpiresAt,
        version: acc.token.version,
      },
    };
  }

  private buildUrl(origin: string, path: string, query?: Record<string, QueryValue>): URL {
    let url: URL;
    if (/^https?:\/\//i.test(path)) {
      url = new URL(path);
      // HAL links are absolute: never send the bearer token anywhere but the account's host
      if (url.origin !== origin) throw new AmoError(`amoCRM link points to another host (${url.host})`, { accountId: this.accountId });
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

  private async markBlocked(state: AccountState): Promise<void> {
    // the block is amoCRM's, per amoCRM account: every live connection of it stops
    if (this.session) {
      if (state.amoId !== null) {
        await this.db.$executeRaw`
          UPDATE amo_account SET blocked_at = now(), updated_at = now()
          WHERE blocked_at IS NULL AND deleted_at IS NULL AND amo_id = ${state.amoId} AND host = ${state.host}`;
      }
      this.log?.error({ amoId: state.amoId }, 'amoCRM blocked the account (403 HTML)');
      return;
    }
    await this.db.$executeRaw`
      UPDATE amo_account SET blocked_at = now(), updated_at = now()
      WHERE blocked_at IS NULL AND deleted_at IS NULL
        AND (id = ${this.accountId}::uuid OR (amo_id = ${state.amoId} AND host = ${state.host}))`;
    this.log?.error({ amoId: state.amoId }, 'amoCRM blocked the account (403 HTML): calls stopped until reconnect');
  }

  /**
   * One API call. `path`: `/api/v4/...`, a path relative to `/api/v4/` (`'leads/pipelines'`), or
   * an absolute link on the account's host. Resolves to the parsed JSON, or null for 204 / empty.
   */
  async request<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<T | null> {
    method = method.toUpperCase();
    const idempotent = options.idempotent ?? method !== 'POST';
    const accountId = this.accountId;
    let retries = 0;
    let refreshedAfter401 = false;

    for (;;) {
      const state = await this.loadState();
      let token = state.token;
      if (token.accessExpiresAt.getTime() <= Date.now() + ACCESS_TOKEN_SKEW_MS) {
        token = await refreshAccessToken(this.tokenCtx, accountId, { knownVersion: token.version });
      }
      const url = this.buildUrl(state.origin, path, options.query);
      const logPath = url.pathname;
      // everything but the send is done before the slot: nothing may delay a send past its slot
      const headers: Record<string, string> = { authorization: `Bearer ${token.accessToken}`, accept: 'application/json' };
      if (options.body !== undefined) headers['content-type'] = 'application/json';
      const payload = options.body !== undefined ? JSON.stringify(options.body) : undefined;

      // an unknown amoId only in a session client before the account is known (see createAmoSessionClient)
      if (state.amoId !== null) await this.limiter.acquire(state.amoId, options.signal);

      const timeout = AbortSignal.timeout(this.timeoutMs);
      const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
      const started = Date.now();
      let res: Response;
      let text: string;
      try {
        res = await this.fetchFn(url, { method, headers, body: payload, signal, redirect: 'manual' });
        text = await res.text();
      } catch (err) {
        if (options.signal?.aborted) throw options.signal.reason;
        const timedOut = timeout.aborted;
        const what = describeNetworkError(err, timedOut);
        const safe = notSent(err) && !timedOut;
        if ((idempotent || safe) && retries < this.maxRetries) {
          retries++;
          const wait = this.backoff(retries);
          this.log?.warn({ method, path: logPath, retry: retries, waitMs: wait, reason: what }, 'amoCRM request failed; retrying');
          await sleep(wait, options.signal);
          continue;
        }
        throw new AmoNetworkError(`amoCRM ${method} ${logPath} ${what}`, { accountId, cause: err, maybeProcessed: !safe });
      }

      const status = res.status;
      this.log?.debug({ method, path: logPath, status, ms: Date.now() - started, retry: retries }, 'amoCRM request');
      const contentType = res.headers.get('content-type') ?? '';

      if (status >= 200 && status < 300) {
        if (status === 204 || !text.trim()) return null;
        const data = parseJson(text);
        // A 2xx means amoCRM did it, whatever the body: a non-idempotent call must be reconciled, not resent.
        if (data === undefined) throw new AmoHttpError(`amoCRM ${method} ${logPath} answered ${status} with a body that is not JSON`, { status, accountId, maybeProcessed: !idempotent });
        return data as T;
      }

      if (status === 401) {
        if (this.session) throw new AmoUnauthorizedError('amoCRM refused the access token', { status, accountId });
        if (!refreshedAfter401) {
          refreshedAfter401 = true;
          await refreshAccessToken(this.tokenCtx, accountId, { knownVersion: token.version });
          continue;
        }
        await markAccountStale(this.tokenCtx, accountId, '401 after a token refresh');
        throw new AmoUnauthorizedError('amoCRM refused the account\'s tokens even after a refresh; the account must be connected again', { status, accountId });
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
            await sleep(wait, options.signal);
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
          await sleep(wait, options.signal);
          continue;
        }
        throw new AmoServerError(`amoCRM answered ${status} to ${method} ${logPath}`, { status, accountId, maybeProcessed: true });
      }

      const body = parseJson(text) as Record<string, unknown> | undefined;
      const detail = typeof body?.detail === 'string' ? body.detail : typeof body?.title === 'string' ? body.title : undefined;

      if (status === 403 && isHtml(contentType, text)) {
        await this.markBlocked(state);
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

  // ---- typed helpers (api.ts) ----------------------------------------------------------------

  getAccount(withParams?: string[]): Promise<AmoAccountInfo> {
    return api.getAccount(this, withParams);
  }
  listUsers(): Promise<AmoUser[]> {
    return api.listUsers(this);
  }
  listPipelines(): Promise<AmoPipeline[]> {
    return api.listPipelines(this);
  }
  listCustomFields(entity: AmoEntity): Promise<AmoCustomField[]> {
    return api.listCustomFields(this, entity);
  }
  createCustomFields(entity: AmoEntity, fields: AmoCustomFieldInput[]): Promise<AmoCustomField[]> {
    return api.createCustomFields(this, entity, fields);
  }
  listTags(entity: AmoEntity): Promise<AmoTag[]> {
    return api.listTags(this, entity);
  }
  createLeadsComplex(leads: AmoComplexLeadInput[], options?: { idempotent?: boolean }): Promise<AmoComplexLeadResult[]> {
    return api.createLeadsComplex(this, leads, options);
  }
  addLeadNotes(leadId: number, notes: AmoNoteInput[] | string): Promise<AmoNoteCreated[]> {
    return api.addLeadNotes(this, leadId, notes);
  }
  /** Notes for several entities in one call (see `api.addNotesBatch`). */
  addNotesBatch(entity: AmoEntity, notes: api.AmoBatchNoteInput[]): Promise<AmoNoteCreated[]> {
    return api.addNotesBatch(this, entity, notes);
  }
  searchLeads(query: string, options?: { maxItems?: number }): Promise<AmoLead[]> {
    return api.searchLeads(this, query, options);
  }
  getLead(id: number, withParams?: string[]): Promise<AmoLead | null> {
    return api.getLead(this, id, withParams);
  }
  subscribeWebhook(destination: string, events: string[]): Promise<AmoWebhook> {
    return api.subscribeWebhook(this, destination, events);
  }
  unsubscribeWebhook(destination: string): Promise<void> {
    return api.unsubscribeWebhook(this, destination);
  }
}

export function createAmoClient(options: AmoClientOptions): AmoClient {
  return new AmoClient(options);
}

/** Clients for any account sharing one set of options (and one rate limiter). */
export function createAmoClientFactory(options: Omit<AmoClientOptions, 'accountId'>): (accountId: string) => AmoClient {
  const rateLimiter = options.rateLimiter ?? createRateLimiter(options.db, { rps: options.config.amo.rateLimitRps });
  return (accountId) => new AmoClient({ ...options, rateLimiter, accountId });
}
