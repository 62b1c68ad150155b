// Timing GraphQL operations (HTTP and websocket) for `gateway_graphql_operation_duration_seconds`.
import { getOperationAST, type DocumentNode, type OperationTypeNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Histogram } from 'prom-client';

/** Operation names are chosen by callers: past this many distinct names, the rest count as "other". */
const MAX_OPERATION_NAMES = 200;

const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9;
const hasErrors = (result: object) => 'errors' in result && Array.isArray(result.errors) && result.errors.length > 0;

/** The yoga/envelop plugin that observes every operation in `histogram`: invalid ones, executions, subscription set-ups. */
export function graphqlTimingPlugin(histogram: Histogram<'operation' | 'type' | 'error'>): Plugin {
  const names = new Set<string>();
  function operationLabel(name: string | undefined | null): string {
    if (!name) return 'anonymous';
    if (names.has(name)) return name;
    if (names.size >= MAX_OPERATION_NAMES) return 'other';
    names.add(name);
    return name;
  }
  function describe(document: DocumentNode | undefined, operationName?: string | null): { operation: string; type: OperationTypeNode | 'unknown' } {
    const op = document ? getOperationAST(document, operationName) : null;
    return { operation: operationLabel(op?.name?.value ?? operationName), type: op?.operation ?? 'unknown' };
  }
  /** Starts timing an operation; the function returned observes it, with or without errors. */
  function timing(document: DocumentNode, operationName?: string | null): (errors: boolean) => void {
    const start = process.hrtime.bigint();
    const labels = describe(document, operationName);
    return (errors) => histogram.observe({ ...labels, error: String(errors) }, seconds(start));
  }

  return {
    onValidate({ params }) {
      const start = process.hrtime.bigint();
      return ({ valid }) => {
        if (valid) return;
        histogram.observe({ ...describe(params.documentAST), error: 'true' }, seconds(start));
      };
    },
    onExecute({ args }) {
      const done = timing(args.document, args.operationName);
      return { onExecuteDone: ({ result }) => done(hasErrors(result)) };
    },
    onSubscribe({ args }) {
      const done = timing(args.document, args.operationName);
      return { onSubscribeResult: ({ result }) => done(hasErrors(result)), onSubscribeError: () => done(true) };
    },
  };
}
