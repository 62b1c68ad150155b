/** The simulator's in-memory store: accounts, integrations, tokens, logs, faults. */
import { randomBytes } from 'node:crypto';
import type { Account, EntityType, Fault, Integration, RequestLogEntry, SimulatorOptions, StoredLead, TokenRequestEntry, WebhookDelivery } from './types.ts';
import { ENTITY_TYPES } from './types.ts';

/** Deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type IdKind = 'account' | 'user' | 'pipeline' | 'status' | 'field' | 'enum' | 'tag' | 'lead' | 'contact' | 'company' | 'customer' | 'note' | 'task' | 'webhook' | 'delivery';

/** Where each kind of id starts, so ids look like amoCRM's (ints of the usual magnitude). */
const ID_BASES: Record<IdKind, number> = {
  account: 29_300_000,
  user: 8_100_000,
  pipeline: 7_400_000,
  status: 61_200_000,
  field: 1_040_000,
  enum: 712_000,
  tag: 401_000,
  lead: 21_500_000,
  contact: 34_700_000,
  company: 34_100_000,
  customer: 1_200_000,
  note: 190_300_000,
  task: 52_600_000,
  webhook: 15_000,
  delivery: 1,
};

export interface CodeRecord {
  code: string;
  accountId: number;
  clientId: string;
  userId: number;
  expiresAt: number;
  used: boolean;
}

export interface AccessTokenRecord {
  jti: string;
  accountId: number;
  clientId: string;
  expiresAt: number;
  revoked: boolean;
}

export interface RefreshTokenRecord {
  token: string;
  accountId: number;
  clientId: string;
  userId: number;
  issuedAt: number;
  expiresAt: number;
  used: boolean;
  /** killed by a later refresh or by revoke */
  dead: boolean;
}

export interface FaultState {
  fault: Fault;
  remaining: number;
  path: RegExp | null;
}

export interface ResolvedOptions {
  rateLimitRps: number;
  rateLimitCountsRejected: boolean;
  blockAfter429s: number;
  rateLimitBody: 'json' | 'html' | 'alternate';
  accessTokenTtlSec: number;
  refreshTokenTtlSec: number;
  codeTtlSec: number;
  jwtSecret: string;
  webhookRetries: number;
  webhookBackoffMs: number;
  webhookTimeoutMs: number;
  listenHost: string;
}

export class SimState {
  readonly opts: ResolvedOptions;
  readonly integrations = new Map<string, Integration>();
  readonly accounts = new Map<number, Account>();
  readonly codes = new Map<string, CodeRecord>();
  readonly accessTokens = new Map<string, AccessTokenRecord>();
  readonly refreshTokens = new Map<string, RefreshTokenRecord>();
  readonly requestLogs = new Map<number, RequestLogEntry[]>();
  readonly tokenRequests = new Map<number, TokenRequestEntry[]>();
  readonly faults = new Map<number, FaultState[]>();
  readonly blocked = new Set<number>();
  /** real-clock arrival times used by the rate limiter */
  readonly rateWindows = new Map<number, number[]>();
  readonly consecutive429 = new Map<number, number>();
  readonly deliveries = new Map<number, WebhookDelivery[]>();
  /** set by start(): `127.0.0.1:PORT` */
  host = '';
  clockOffsetMs = 0;
  private readonly counters = new Map<IdKind, number>();
  private readonly idRandom = prng(20240601);
  private readonly userNow: (() => number) | undefined;
  private readonly idOffset: number;

  constructor(options: SimulatorOptions) {
    this.userNow = options.now;
    this.idOffset = options.idOffset ?? 0;
    if (!Number.isSafeInteger(this.idOffset) || this.idOffset < 0) throw new Error('amo-sim: idOffset must be a non-negative safe integer');
    this.opts = {
      rateLimitRps: options.rateLimitRps ?? 7,
      rateLimitCountsRejected: options.rateLimitCountsRejected ?? false,
      blockAfter429s: options.blockAfter429s ?? 0,
      rateLimitBody: options.rateLimitBody ?? 'alternate',
      accessTokenTtlSec: options.accessTokenTtlSec ?? 86_400,
      refreshTokenTtlSec: options.refreshTokenTtlSec ?? 90 * 86_400,
      codeTtlSec: options.codeTtlSec ?? 1_200,
      jwtSecret: options.jwtSecret ?? randomBytes(32).toString('hex'),
      webhookRetries: options.webhookRetries ?? 3,
      webhookBackoffMs: options.webhookBackoffMs ?? 200,
      webhookTimeoutMs: options.webhookTimeoutMs ?? 2_000,
      listenHost: options.listenHost ?? '127.0.0.1',
    };
    const main: Integration = {
      clientId: options.clientId ?? 'dev-client-id',
      clientSecret: options.clientSecret ?? 'dev-client-secret',
      redirectUri: options.redirectUri ?? 'http://127.0.0.1:4000/webhook/create',
    };
    this.integrations.set(main.clientId, main);
    for (const i of options.integrations ?? []) this.integrations.set(i.clientId, { ...i });
  }

  /** The simulated clock (epoch ms) used for code and token expiry. */
  now(): number {
    return (this.userNow ? this.userNow() : Date.now()) + this.clockOffsetMs;
  }

  nowSec(): number {
    return Math.floor(this.now() / 1000);
  }

  get baseUrl(): string {
    return `http://${this.host}`;
  }

  /** A fresh amoCRM-like id (increasing, small random gaps). */
  nextId(kind: IdKind): number {
    const prev = this.counters.get(kind) ?? this.idBase(kind);
    const next = prev + 1 + Math.floor(this.idRandom() * (kind === 'delivery' ? 1 : 7));
    this.counters.set(kind, next);
    return next;
  }

  /** Reserve an explicit id (so later generated ids do not collide with it). */
  reserveId(kind: IdKind, id: number): void {
    if (id > (this.counters.get(kind) ?? this.idBase(kind))) this.counters.set(kind, id);
  }

  private idBase(kind: IdKind): number {
    return kind === 'delivery' ? ID_BASES.delivery : ID_BASES[kind] + this.idOffset;
  }

  mainIntegration(): Integration {
    return this.integrations.values().next().value as Integration;
  }

  account(accountId: number): Account {
    const acc = this.accounts.get(Number(accountId));
    if (!acc) throw new Error(`amo-sim: unknown account ${accountId}`);
    return acc;
  }

  findAccountBySubdomain(subdomain: string): Account | undefined {
    for (const a of this.accounts.values()) if (a.subdomain === subdomain) return a;
    return undefined;
  }

  logRequest(accountId: number, entry: RequestLogEntry): void {
    let list = this.requestLogs.get(accountId);
    if (!list) this.requestLogs.set(accountId, (list = []));
    list.push(entry);
  }

  logTokenRequest(accountId: number, entry: TokenRequestEntry): void {
    let list = this.tokenRequests.get(accountId);
    if (!list) this.tokenRequests.set(accountId, (list = []));
    list.push(entry);
  }

  findLead(acc: Account, id: number): StoredLead | undefined {
    return acc.leads.find((l) => l.id === id && !l.is_deleted);
  }

  allFieldsOf(acc: Account, entity: EntityType) {
    return acc.fields[entity];
  }

  emptyEntityRecord<T>(make: () => T): Record<EntityType, T> {
    const out = {} as Record<EntityType, T>;
    for (const e of ENTITY_TYPES) out[e] = make();
    return out;
  }
}
