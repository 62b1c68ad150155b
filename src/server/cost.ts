// The query cost limit, computed at execution where the variables are known. graphql-armor's
// rule multiplies only literal first/last, so `first: $n` or no `first` at all (the default
// page) slipped through; here a connection's size is its literal, its variable's value, or the
// default page size, and the same limit holds on HTTP and over the websocket (both run
// through yoga's envelop).
import {
  GraphQLError,
  getNamedType,
  isCompositeType,
  isObjectType,
  isInterfaceType,
  Kind,
  valueFromASTUntyped,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLSchema,
  type SelectionSetNode,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';

export interface CostLimits {
  maxCost: number;
  objectCost: number;
  scalarCost: number;
  depthCostFactor: number;
  /** the page a connection returns without first/last (the relay plugin's defaultConnectionSize) */
  defaultPageSize: number;
}

type Variables = Record<string, unknown> | null | undefined;

function pageSize(args: readonly { name: { value: string }; value: import('graphql').ValueNode }[], variables: Variables, limits: CostLimits): number {
  for (const arg of args) {
    if (arg.name.value !== 'first' && arg.name.value !== 'last') continue;
    const value = valueFromASTUntyped(arg.value, variables ?? undefined);
    if (typeof value === 'number' && Number.isFinite(value)) return Math.max(1, value);
  }
  return limits.defaultPageSize;
}

/** The cost of one operation of `document`: graphql-armor's formula with every connection sized. */
export function operationCost(schema: GraphQLSchema, document: DocumentNode, operationName: string | null | undefined, variables: Variables, limits: CostLimits): number {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const def of document.definitions) if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
  const operation = document.definitions.find((d) => d.kind === Kind.OPERATION_DEFINITION && (!operationName || d.name?.value === operationName));
  if (!operation || operation.kind !== Kind.OPERATION_DEFINITION) return 0;
  const root = schema.getRootType(operation.operation);
  if (!root) return 0;

  const selectionCost = (set: SelectionSetNode, parent: GraphQLCompositeType, visiting: Set<string>): number => {
    let cost = 0;
    for (const sel of set.selections) {
      if (sel.kind === Kind.FIELD) {
        if (sel.name.value.startsWith('__')) continue;
        const field = isObjectType(parent) || isInterfaceType(parent) ? parent.getFields()[sel.name.value] : undefined;
        if (!sel.selectionSet || !field) {
          cost += limits.scalarCost;
          continue;
        }
        const type = getNamedType(field.type);
        const isConnection = field.args.some((a) => a.name === 'first' || a.name === 'last');
        const multiplier = isConnection ? pageSize(sel.arguments ?? [], variables, limits) : 1;
        const inner = isCompositeType(type) ? selectionCost(sel.selectionSet, type, visiting) : 0;
        cost += multiplier * (limits.objectCost + limits.depthCostFactor * inner);
      } else if (sel.kind === Kind.INLINE_FRAGMENT) {
        const type = sel.typeCondition ? schema.getType(sel.typeCondition.name.value) : parent;
        cost += selectionCost(sel.selectionSet, type && isCompositeType(type) ? type : parent, visiting);
      } else {
        const fragment = fragments.get(sel.name.value);
        // a cycle is refused by validation already; counted once here
        if (!fragment || visiting.has(fragment.name.value)) continue;
        const type = schema.getType(fragment.typeCondition.name.value);
        cost += selectionCost(fragment.selectionSet, type && isCompositeType(type) ? type : parent, new Set([...visiting, fragment.name.value]));
      }
    }
    return cost;
  };
  return selectionCost(operation.selectionSet, root, new Set());
}

/** Refuses an operation over `limits.maxCost` before it runs (queries, mutations and subscriptions). */
export function costLimit(limits: CostLimits): Plugin {
  const check = (args: { schema: GraphQLSchema; document: DocumentNode; operationName?: string | null; variableValues?: Variables }) => {
    const cost = operationCost(args.schema, args.document, args.operationName, args.variableValues, limits);
    if (cost <= limits.maxCost) return undefined;
    return {
      errors: [new GraphQLError(`Query Cost limit of ${limits.maxCost} exceeded, found ${Math.round(cost)}.`, { extensions: { code: 'BAD_USER_INPUT' } })],
    };
  };
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const refused = check(args);
      if (refused) setResultAndStopExecution(refused);
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const refused = check(args);
      if (refused) setResultAndStopExecution(refused);
    },
  };
}
