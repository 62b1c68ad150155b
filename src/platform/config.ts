// Settings from the environment, validated once at start-up. The names and
// defaults are the contract's (contract/README.md).
import { z } from 'zod';

const DEV_JWT_SECRET = 'development-only-jwt-secret-change-me';
// 32 bytes of zeros is obviously not a secret; production refuses to start with it.
const DEV_TOKEN_KEY = Buffer.alloc(32, 7).toString('base64');
const DEV_AMO_CLIENT_ID = 'dev-client-id';
const DEV_AMO_CLIENT_SECRET = 'dev-client-secret';

const bool = z.enum(['1', '0', 'true', 'false', 'on', 'off', 'yes', 'no', '']).transform((v) => ['1', 'true', 'on', 'yes'].includes(v));

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

/** A comma-separated list of web origins (scheme://host[:port], nothing after). */
const originList = optionalString.transform((value, ctx) => {
  const list = (value ?? '')
    .split(',')
    .map((o) => o.trim().replace(/\/$/, ''))
    .filter(Boolean);
  for (const entry of list) {
    let origin: string | undefined;
    try {
      origin = new URL(entry).origin;
    } catch {
      origin = undefined;
    }
    if (origin !== entry || !/^https?:\/\//.test(entry)) ctx.addIssue({ code: 'custom', message: `not a web origin (scheme://host[:port]): ${entry}` });
  }
  return list;
});

const envSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).optional(),
    PORT: z.coerce.number().int().min(0).max(65535).default(4000),
    HOST: z.string().default('0.0.0.0'),
    PUBLIC_URL: optionalString,
    DATABASE_URL: optionalString,
    DATA_DIR: z.string().default('.data'),
    KAFKA_BROKERS: optionalString,
    KAFKA_TOPIC_PREFIX: z.string().default(''),
    AUTH_JWT_SECRET: optionalString,
    AUTH_JWKS_URL: optionalString.pipe(z.url().optional()),
    AUTH_ISSUER: optionalString,
    AUTH_AUDIENCE: optionalString,
    AUTH_ACCOUNT_CLAIM: z.string().default('accountId'),
    AMO_CLIENT_ID: optionalString,
    AMO_CLIENT_SECRET: optionalString,
    AMO_REDIRECT_URI: optionalString.pipe(z.url().optional()),
    AMO_AUTH_URL: z.url().default('https://www.amocrm.ru/oauth'),
    AMO_ALLOW_HTTP: bool.default(false),
    AMO_ALLOWED_HOSTS: z.string().default('127.0.0.1,localhost'),
    AMO_RATE_LIMIT_RPS: z.coerce.number().positive().max(100).default(7),
    DELIVERY_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(10),
    DELIVERY_BACKOFF_MS: z.coerce.number().int().min(1).default(5_000),
    DELIVERY_MAX_BACKOFF_MS: z.coerce.number().int().min(1).default(600_000),
    DELIVERY_RECONCILE_DELAY_MS: z.coerce.number().int().min(0).default(30_000),
    DELIVERY_MAX_WAIT_HOURS: z.coerce
      .number()
      .positive()
      .default(7 * 24),
    TOKEN_ENCRYPTION_KEY: optionalString,
    TOKEN_ENCRYPTION_KEYS: optionalString,
    GRAPHIQL: bool.optional(),
    WS_MAX_SUBSCRIPTIONS_PER_CONNECTION: z.coerce.number().int().min(1).default(20),
    WS_MAX_CONNECTIONS_PER_TENANT: z.coerce.number().int().min(1).default(50),
    WS_MAX_MESSAGES_PER_SECOND: z.coerce.number().int().min(1).default(20),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    METRICS_TOKEN: optionalString,
    CORS_ORIGINS: originList,
    OTEL_EXPORTER_OTLP_ENDPOINT: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
    OTEL_SERVICE_NAME: z.string().default('quiz-amocrm-gateway'),
    ADMIN_EMBED_ORIGINS: originList,
    ALERT_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(8),
    ALERT_BACKOFF_MS: z.coerce.number().int().min(1).default(10_000),
    // unset: 6 h, but off under NODE_ENV=test (a test's accounts are synced when it says so)
    CATALOGUE_RESYNC_INTERVAL_MS: z.coerce.number().int().min(0).optional(),
  })
  .transform((env) => ({ ...env, NODE_ENV: modeOf(env) }))
  .superRefine((env, ctx) => {
    if (env.NODE_ENV !== 'production') return;
    // the built-in values are published in this file: a deployment that names them has none
    if (env.AUTH_JWT_SECRET === DEV_JWT_SECRET) ctx.addIssue({ code: 'custom', path: ['AUTH_JWT_SECRET'], message: 'the built-in development secret is refused in production' });
    if (env.TOKEN_ENCRYPTION_KEY === DEV_TOKEN_KEY)
      ctx.addIssue({ code: 'custom', path: ['TOKEN_ENCRYPTION_KEY'], message: 'the built-in development key is refused in production' });
    if (env.TOKEN_ENCRYPTION_KEYS?.split(',').some((e) => e.slice(e.indexOf(':') + 1).trim() === DEV_TOKEN_KEY))
      ctx.addIssue({ code: 'custom', path: ['TOKEN_ENCRYPTION_KEYS'], message: 'the built-in development key is refused in production' });
    // PUBLIC_URL: amoCRM posts each account's lead events there; a default of 127.0.0.1 would silently lose them.
    const required = ['AMO_CLIENT_ID', 'AMO_CLIENT_SECRET', 'AMO_REDIRECT_URI', 'DATABASE_URL', 'PUBLIC_URL'] as const;
    for (const key of required) {
      if (!env[key]) ctx.addIssue({ code: 'custom', path: [key], message: `${key} is required in production` });
    }
    if (!env.TOKEN_ENCRYPTION_KEY && !env.TOKEN_ENCRYPTION_KEYS) {
      ctx.addIssue({ code: 'custom', path: ['TOKEN_ENCRYPTION_KEY'], message: 'TOKEN_ENCRYPTION_KEY is required in production (or TOKEN_ENCRYPTION_KEYS)' });
    }
    // HS256 with a short secret can be brute-forced offline from one token
    if (env.AUTH_JWT_SECRET && Buffer.byteLength(env.AUTH_JWT_SECRET, 'utf8') < 32) {
      ctx.addIssue({ code: 'custom', path: ['AUTH_JWT_SECRET'], message: 'AUTH_JWT_SECRET must be at least 32 bytes in production' });
    }
    if (!env.AUTH_JWT_SECRET && !env.AUTH_JWKS_URL) {
      ctx.addIssue({ code: 'custom', path: ['AUTH_JWT_SECRET'], message: 'AUTH_JWT_SECRET or AUTH_JWKS_URL is required in production' });
    }
    // the issuer's tokens for its other services must not open this one: every token's iss and aud are checked
    for (const key of ['AUTH_ISSUER', 'AUTH_AUDIENCE'] as const) {
      if (!env[key])
        ctx.addIssue({ code: 'custom', path: [key], message: `${key} is required in production (every token's ${key === 'AUTH_ISSUER' ? 'iss' : 'aud'} must match it)` });
    }
  });

/**
 * Development is a choice, never an omission: NODE_ENV names the mode; unset, it
 * is development only while nothing real is configured (the newcomer's `npm start`
 * on embedded parts), and production as soon as DATABASE_URL or KAFKA_BROKERS is
 * set, so a real deployment that forgot NODE_ENV gets production's checks.
 */
function modeOf(env: { NODE_ENV?: Config['env']; DATABASE_URL?: string; KAFKA_BROKERS?: string }): Config['env'] {
  if (env.NODE_ENV) return env.NODE_ENV;
  return env.DATABASE_URL || env.KAFKA_BROKERS ? 'production' : 'development';
}

export type Env = z.input<typeof envSchema>;

export interface Config {
  env: 'development' | 'production' | 'test';
  isProduction: boolean;
  port: number;
  host: string;
  /** Where the gateway is reachable from outside (webhook destinations). */
  publicUrl: string;
  databaseUrl?: string;
  dataDir: string;
  kafka: { brokers: string[]; topicPrefix: string };
  auth: {
    jwtSecret?: string;
    jwksUrl?: string;
    issuer?: string;
    audience?: string;
    accountClaim: string;
    /** true when the built-in development secret is in use */
    devSecret: boolean;
  };
  amo: {
    clientId: string;
    clientSecret: string;
    redirectUri: string;
    authUrl: string;
    allowHttp: boolean;
    /** host names allowed over http (simulators) when allowHttp is on; never in production */
    allowedHosts: string[];
    rateLimitRps: number;
  };
  /** the key new token writes use (`tokenKeys`' current one) */
  tokenEncryptionKey: Buffer;
  /** every token key by id: TOKEN_ENCRYPTION_KEYS (the first one current), TOKEN_ENCRYPTION_KEY as key id k1 */
  tokenKeys: { current: string; keys: ReadonlyMap<string, Buffer> };
  /** the delivery worker's retry policy (see src/features/delivery/options.ts) */
  delivery: { maxAttempts: number; backoffMs: number; maxBackoffMs: number; reconcileDelayMs: number; maxWaitMs: number };
  graphiql: boolean;
  /** graphql-ws limits per connection and per tenant (src/server/websocket.ts) */
  ws: { maxSubscriptionsPerConnection: number; maxConnectionsPerTenant: number; maxMessagesPerSecond: number };
  logLevel: string;
  /** Bearer token GET /metrics asks for; unset: /metrics is open. */
  metricsToken?: string;
  /** Origins whose pages may call /graphql (CORS); none listed: any in development, none in production. */
  corsOrigins: string[];
  /** OpenTelemetry tracing: on when `endpoint` (OTLP/HTTP) is set. */
  tracing: { endpoint?: string; serviceName: string };
  /** Origins besides the gateway's own whose pages may embed /admin, hand it a token by postMessage and hear the OAuth popup's result. */
  adminEmbedOrigins: string[];
  /** The owner's alert webhook (src/features/alerts): posts per alert, and the first retry delay (doubled per attempt, at most an hour). */
  alerts: { maxAttempts: number; backoffMs: number };
  /** How often each account's catalogue is synced and its rules checked again (0: never); each account at its own jittered moment. */
  catalogueResyncIntervalMs: number;
}

export class ConfigError extends Error {}

const invalid = (name: string, why: string) => new ConfigError(`Invalid settings:\n  ${name}: ${why}`);

/**
 * The token keys: TOKEN_ENCRYPTION_KEYS (`id:base64key,…`, the first one encrypts new writes,
 * the others still decrypt), TOKEN_ENCRYPTION_KEY as the key id `k1` (current when it is the
 * only setting; read-only beside TOKEN_ENCRYPTION_KEYS unless that list names k1 itself).
 */
function tokenKeyring(list: string | undefined, single: string | undefined): Config['tokenKeys'] {
  const keys = new Map<string, Buffer>();
  let current: string | undefined;
  for (const entry of (list ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)) {
    const at = entry.indexOf(':');
    const id = at > 0 ? entry.slice(0, at) : '';
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(id)) throw invalid('TOKEN_ENCRYPTION_KEYS', 'each entry is id:base64key, the id letters, digits, - or _');
    if (keys.has(id)) throw invalid('TOKEN_ENCRYPTION_KEYS', `key id ${id} is listed twice`);
    const key = Buffer.from(entry.slice(at + 1), 'base64');
    if (key.length !== 32) throw invalid('TOKEN_ENCRYPTION_KEYS', `key ${id} must be 32 bytes, base64-encoded`);
    keys.set(id, key);
    current ??= id;
  }
  if (single !== undefined) {
    const key = Buffer.from(single, 'base64');
    if (key.length !== 32) throw invalid('TOKEN_ENCRYPTION_KEY', 'must be 32 bytes, base64-encoded');
    if (!keys.has('k1')) keys.set('k1', key);
    current ??= 'k1';
  }
  if (current === undefined) throw invalid('TOKEN_ENCRYPTION_KEYS', 'lists no key');
  return { current, keys };
}

export function loadConfig(source: Record<string, string | undefined> = process.env): Config {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(env)'}: ${i.message}`);
    throw new ConfigError(`Invalid settings:\n${lines.join('\n')}`);
  }
  const env = parsed.data;
  const isProduction = env.NODE_ENV === 'production';
  const tokenKeys = tokenKeyring(env.TOKEN_ENCRYPTION_KEYS, env.TOKEN_ENCRYPTION_KEY ?? (env.TOKEN_ENCRYPTION_KEYS ? undefined : DEV_TOKEN_KEY));
  const key = tokenKeys.keys.get(tokenKeys.current)!;
  const publicUrl = (env.PUBLIC_URL ?? `http://127.0.0.1:${env.PORT}`).replace(/\/$/, '');
  return {
    env: env.NODE_ENV,
    isProduction,
    port: env.PORT,
    host: env.HOST,
    publicUrl,
    databaseUrl: env.DATABASE_URL,
    dataDir: env.DATA_DIR,
    kafka: {
      brokers: (env.KAFKA_BROKERS ?? '')
        .split(',')
        .map((b) => b.trim())
        .filter(Boolean),
      topicPrefix: env.KAFKA_TOPIC_PREFIX,
    },
    auth: {
      jwtSecret: env.AUTH_JWT_SECRET ?? (env.AUTH_JWKS_URL ? undefined : DEV_JWT_SECRET),
      jwksUrl: env.AUTH_JWKS_URL,
      issuer: env.AUTH_ISSUER,
      audience: env.AUTH_AUDIENCE,
      accountClaim: env.AUTH_ACCOUNT_CLAIM,
      devSecret: !env.AUTH_JWKS_URL && (env.AUTH_JWT_SECRET ?? DEV_JWT_SECRET) === DEV_JWT_SECRET,
    },
    amo: {
      clientId: env.AMO_CLIENT_ID ?? DEV_AMO_CLIENT_ID,
      clientSecret: env.AMO_CLIENT_SECRET ?? DEV_AMO_CLIENT_SECRET,
      redirectUri: env.AMO_REDIRECT_URI ?? `${publicUrl}/webhook/create`,
      authUrl: env.AMO_AUTH_URL,
      // the referer is tenant-chosen: in production only amoCRM's own domains get tokens and the client secret
      allowHttp: env.AMO_ALLOW_HTTP && !isProduction,
      allowedHosts: env.AMO_ALLOWED_HOSTS.split(',')
        .map((h) => h.trim())
        .filter(Boolean),
      rateLimitRps: env.AMO_RATE_LIMIT_RPS,
    },
    tokenEncryptionKey: key,
    tokenKeys,
    delivery: {
      maxAttempts: env.DELIVERY_MAX_ATTEMPTS,
      backoffMs: env.DELIVERY_BACKOFF_MS,
      maxBackoffMs: env.DELIVERY_MAX_BACKOFF_MS,
      reconcileDelayMs: env.DELIVERY_RECONCILE_DELAY_MS,
      maxWaitMs: Math.round(env.DELIVERY_MAX_WAIT_HOURS * 60 * 60_000),
    },
    graphiql: env.GRAPHIQL ?? !isProduction,
    ws: {
      maxSubscriptionsPerConnection: env.WS_MAX_SUBSCRIPTIONS_PER_CONNECTION,
      maxConnectionsPerTenant: env.WS_MAX_CONNECTIONS_PER_TENANT,
      maxMessagesPerSecond: env.WS_MAX_MESSAGES_PER_SECOND,
    },
    logLevel: env.LOG_LEVEL,
    metricsToken: env.METRICS_TOKEN,
    corsOrigins: env.CORS_ORIGINS,
    tracing: { endpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: env.OTEL_SERVICE_NAME },
    adminEmbedOrigins: env.ADMIN_EMBED_ORIGINS,
    alerts: { maxAttempts: env.ALERT_MAX_ATTEMPTS, backoffMs: env.ALERT_BACKOFF_MS },
    catalogueResyncIntervalMs: env.CATALOGUE_RESYNC_INTERVAL_MS ?? (env.NODE_ENV === 'test' ? 0 : 6 * 60 * 60_000),
  };
}
