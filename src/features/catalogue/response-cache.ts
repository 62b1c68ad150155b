// Answers to catalogue-only queries (`pipelines`, `steps`, `fields`, `tags`, `users` and nothing
// else at the root), kept per tenant and catalogue version. The catalogue changes only when its
// tables are written (a sync, a disconnect): triggers move `catalogue_version` of the account in
// the writing statement's own transaction (migration 20261203145800_catalogue_version), so a key
// that holds the version stops matching at that commit in every replica, with nothing to send
// between them. A hit costs one statement (the tenant's live account and its version) instead of
// executing ~3,000 GraphQL objects.
//
// Never across tenants: the key starts with the caller's quiz account id and its live amoCRM
// account id, then the version, the document and the variables. Only answers without errors are
// kept. What the answer depends on beyond the catalogue rows and the live account: nothing — the
// test in test/response-cache.test.ts walks every type these root fields reach and fails when a
// type outside the catalogue is added to them (its answer would then not follow the version).
import { getOperationAST, Kind, print, type DocumentNode, type ExecutionResult, type SelectionSetNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Context } from '../../platform/context.ts';
import type { Db } from '../../platform/db.ts';

/** Root fields whose answers depend on the caller's catalogue only. */
export const CATALOGUE_ROOT_FIELDS: ReadonlySet<string> = new Set(['pipelines', 'steps', 'fields', 'tags', 'users']);

export interface ResponseCacheOptions {
  /** answers kept (least recently used dropped first; default 1,000) */
  maxEntries?: number;
  /** counts hits and misses (tests, metrics) */
  onLookup?: (hit: boolean) => void;
}

export interface ResponseCache {
  plugin: Plugin<Context>;
  readonly size: number;
  clear(): void;
}

/** True when every root selection of the (query) operation is a catalogue field or __typename. */
function catalogueOnly(set: SelectionSetNode, fragments: Map<string, SelectionSetNode>, seen = new Set<string>()): boolean {
  for (const s of set.selections) {
    if (s.kind === Kind.FIELD) {
      if (s.name.value !== '__typename' && !CATALOGUE_ROOT_FIELDS.has(s.name.value)) return false;
    } else if (s.kind === Kind.INLINE_FRAGMENT) {
      if (!catalogueOnly(s.selectionSet, fragments, seen)) return false;
    } else {
      const name = s.name.value;
      const f = fragments.get(name);
      if (!f) return false;
      if (seen.has(name)) continue;
      seen.add(name);
      if (!catalogueOnly(f, fragments, seen)) return false;
    }
  }
  return true;
}

/** The document's text per operation when it may be cached, else null (memoised per parsed document). */
const cacheable = new WeakMap<DocumentNode, Map<string, string | null>>();

function cacheableText(document: DocumentNode, operationName: string | null | undefined): string | null {
  let perOp = cacheable.get(document);
  if (!perOp) cacheable.set(document, (perOp = new Map()));
  const key = operationName ?? '';
  const known = perOp.get(key);
  if (known !== undefined) return known;
  const op = getOperationAST(document, operationName);
  let text: string | null = null;
  if (op && op.operation === 'query') {
    const fragments = new Map<string, SelectionSetNode>();
    for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d.selectionSet);
    if (catalogueOnly(op.selectionSet, fragments)) text = `${key}\n${print(document)}`;
  }
  perOp.set(key, text);
  return text;
}

/**
 * Serialises the kept answer once: yoga's result processor uses a result's own `stringify` when it
 * has one (graphql-yoga/plugins/result-processor/stringify.js), so a hit sends the same bytes again
 * instead of serialising ~3,000 objects per request. Not enumerable: not part of the JSON itself.
 */
function serialiseOnce(result: ExecutionResult): ExecutionResult {
  let body: string | undefined;
  Object.defineProperty(result, 'stringify', { value: (r: unknown) => (r === result ? (body ??= JSON.stringify(r)) : JSON.stringify(r)), enumerable: false });
  return result;
}

/** The caller's live amoCRM account and its catalogue version, in one statement. */
async function versionOf(db: Db, quizAccountId: string): Promise<string> {
  const rows = await db.$queryRaw<Array<{ id: string; version: string }>>`
    SELECT a.id::text AS id, coalesce(v.version, 0)::text AS version
    FROM amo_account a LEFT JOIN catalogue_version v ON v.account_id = a.id
    WHERE a.quiz_account_id = ${quizAccountId} AND a.deleted_at IS NULL`;
  const row = rows[0];
  return row ? `${row.id}@${row.version}` : 'none';
}

export function createResponseCache(options: ResponseCacheOptions = {}): ResponseCache {
  const max = Math.max(1, options.maxEntries ?? 1000);
  // a Map keeps insertion order: re-inserting on a hit makes the first key the least recently used
  const entries = new Map<string, ExecutionResult>();
  const remember = (key: string, result: ExecutionResult) => {
    entries.delete(key);
    entries.set(key, result);
    while (entries.size > max) entries.delete(entries.keys().next().value as string);
  };

  const plugin: Plugin<Context> = {
    async onExecute({ args, setResultAndStopExecution }) {
      const text = cacheableText(args.document, args.operationName);
      const ctx = args.contextValue as Context | undefined;
      if (text === null || !ctx?.caller) return;
      const tenant = ctx.caller.quizAccountId;
      const key = JSON.stringify([tenant, await versionOf(ctx.db, tenant), text, args.variableValues ?? {}]);
      const hit = entries.get(key);
      options.onLookup?.(hit !== undefined);
      if (hit) {
        remember(key, hit);
        setResultAndStopExecution(hit);
        return;
      }
      return {
        onExecuteDone({ result }) {
          const r = result as ExecutionResult | AsyncIterable<unknown>;
          if (Symbol.asyncIterator in r || r.errors?.length || r.extensions) return;
          remember(key, serialiseOnce(r));
        },
      };
    },
  };
  return {
    plugin,
    get size() {
      return entries.size;
    },
    clear: () => entries.clear(),
  };
}
