/**
 * What every part of `AmoClient` shares: the options of its calls, the transport (transport.ts)
 * bound to one gateway account, and the entity lists where "feature off" means "none". The calls
 * themselves are in client.ts, tags and tasks in client-tags-tasks.ts.
 */
import { AmoNotFoundError, AmoPaymentRequiredError } from './errors.ts';
import { AmoTransport, type AmoTransportOptions } from './transport.ts';
import type { AmoEntity } from './types.ts';

/** Options of every call. */
export interface CallOptions {
  /** abort the call (its wait for a slot, its backoff, its request): it rejects with the signal's reason */
  signal?: AbortSignal;
}

/** Options of a call whose retry policy the caller may decide. */
export interface SendOptions extends CallOptions {
  /**
   * Whether a timeout, reset or 5xx may be retried (an idempotent call) or throws at once with
   * `maybeProcessed` (see transport.ts). Each call documents its default.
   */
  idempotent?: boolean;
}

/** Options of a list of an entity's custom fields or tags. */
export interface EntityListOptions extends CallOptions {
  /** a feature that is off (402; 404 for customers): an empty list ('empty', the default) or its error ('throw') */
  whenOff?: 'empty' | 'throw';
}

/** Options of a search: one page of amoCRM's full-text search, oldest first. */
export interface SearchOptions extends SendOptions {
  /** the page size (default 50) */
  limit?: number;
}

const ENTITIES: readonly AmoEntity[] = ['leads', 'contacts', 'companies', 'customers'];
export function checkEntity(entity: AmoEntity): void {
  if (!ENTITIES.includes(entity)) throw new TypeError(`unknown amoCRM entity "${String(entity)}"`);
}

export class AmoClientBase {
  readonly accountId: string;
  /** the low-level core (paths, raw answers): only the typed calls use it */
  protected readonly http: AmoTransport;

  constructor(options: AmoTransportOptions) {
    this.http = new AmoTransport(options);
    this.accountId = options.access.accountId;
  }

  /** A list where "feature off" (402; 404 for customers) means "none", unless `whenOff: 'throw'`. */
  protected async listOrNone<T>(entity: AmoEntity, path: string, key: string, options: EntityListOptions): Promise<T[]> {
    checkEntity(entity);
    try {
      return await this.http.listAll<T>(`${entity}/${path}`, key, { signal: options.signal });
    } catch (e) {
      if (options.whenOff === 'throw') throw e;
      if (e instanceof AmoPaymentRequiredError) return [];
      if (entity === 'customers' && e instanceof AmoNotFoundError) return [];
      throw e;
    }
  }
}
