import { type DocumentNode, type GraphQLSchema, Kind, getOperationAST, isListType, isNonNullType, parse } from 'graphql';
import { LRUCache } from 'lru-cache';
import { ErrorCode } from '../../kit/errors';
import { type Refusal, persistedHashOf } from '../../kit/http/handleGraphQLRequest';
import { type CostPolicy, operationCost } from './operationCost';

/** Options of `createCostGuard`. */
export interface CostGuardOptions {
  /** Most one operation may cost (`TAILOR_MAX_OPERATION_COST`). */
  maxOperationCost: number;
  /** Most the operations of one HTTP request may cost together (`TAILOR_MAX_REQUEST_COST`). */
  maxRequestCost: number;
  /** The parser's token limit, so that costing a document can never take longer than parsing it. */
  maxTokens: number;

  /** The schema being served and its cost declarations; `undefined` before the first one loads. */
  current(): { schema: GraphQLSchema; policy: CostPolicy } | undefined;
  /** The text of a persisted operation by its sha256, when the gateway knows it. */
  textOf(hash: string): string | undefined;
}

/**
 * Prices every operation of a request before any of it runs (see `operationCost`), and refuses the
 * request with COST_LIMIT_EXCEEDED, its cost and the limit, when one operation is over the operation
 * budget or all of them together are over the request budget. Operations it cannot read (no text,
 * a syntax error) are left to Apollo Server, which refuses them with their own error.
 */
export function createCostGuard(options: CostGuardOptions): CostGuard {
  // Documents by text: a campaign sends the same few operations again and again.
  const documents = new LRUCache<string, { document: DocumentNode | null }>({ max: 1000 });
  const documentOf = (text: string): DocumentNode | null => {
    let entry = documents.get(text);
    if (!entry) {
      try {
        entry = { document: parse(text, { maxTokens: options.maxTokens }) };
      } catch {
        entry = { document: null };
      }
      documents.set(text, entry);
    }
    return entry.document;
  };

  /** The text, document, name and variables of one operation as sent, when it can be read. */
  const readOperation = (raw: unknown) => {
    if (!raw || typeof raw !== 'object') return undefined;
    const op = raw as { query?: unknown; operationName?: unknown; variables?: unknown };
    const hash = persistedHashOf(op);
    const text = typeof op.query === 'string' ? op.query : typeof hash === 'string' ? options.textOf(hash) : undefined;
    const document = text === undefined ? null : documentOf(text);
    if (!document) return undefined;
    const variables = op.variables && typeof op.variables === 'object' && !Array.isArray(op.variables) ? (op.variables as Record<string, unknown>) : undefined;
    return { document, name: typeof op.operationName === 'string' ? op.operationName : undefined, variables };
  };

  const units = (operations: unknown[]): number => {
    const current = options.current();
    let total = 0;
    for (const raw of operations) {
      const read = current && readOperation(raw);
      total += read ? operationUnits(current.schema, current.policy, read.document, read.name, read.variables) : 1;
    }
    return Math.max(1, total);
  };

  const vet = (operations: unknown[]): Refusal | undefined => {
    const current = options.current();
    if (!current) return undefined;
    const batch = operations.length > 1;
    let total = 0;
    for (const [index, raw] of operations.entries()) {
      const read = readOperation(raw);
      if (!read) continue;
      const { document, name, variables } = read;
      const cost = operationCost(current.schema, current.policy, document, name, variables) ?? 0;
      if (cost > options.maxOperationCost) {
        const which = batch ? `Operation ${index} of the batch costs` : 'The operation costs';
        return {
          status: 400,
          code: ErrorCode.COST_LIMIT_EXCEEDED,
          message: `${which} ${cost}; the limit is ${options.maxOperationCost} (TAILOR_MAX_OPERATION_COST). Ask for fewer items (ids, limit) or split it.`,
          extensions: { cost, limit: options.maxOperationCost, ...(batch ? { operation: index } : {}) },
        };
      }
      total += cost;
    }
    if (total > options.maxRequestCost) {
      return {
        status: 400,
        code: ErrorCode.COST_LIMIT_EXCEEDED,
        message: `The operations of this request cost ${total} together; the limit is ${options.maxRequestCost} (TAILOR_MAX_REQUEST_COST). Split the batch.`,
        extensions: { cost: total, limit: options.maxRequestCost },
      };
    }
    return undefined;
  };
  return { vet, units };
}

/** The guard's two readings of a request's operations. */
export interface CostGuard {
  /** Refuses a request whose operations cost too much (see `createCostGuard`). */
  vet(operations: unknown[]): Refusal | undefined;
  /**
   * What the request counts for in a client's quota: each operation is 1, except that a root field
   * with `@listSize(assumedSize:)` (`users(ids:)`, `products(skus:)`) counts the items of its list
   * argument, so a 500-recipient batch counts 500. Never less than 1.
   */
  units(operations: unknown[]): number;
}

/** The quota units of one operation (see `CostGuard.units`). */
export function operationUnits(schema: GraphQLSchema, policy: CostPolicy, document: DocumentNode, operationName: string | undefined, variables: Record<string, unknown> | undefined): number {
  const operation = getOperationAST(document, operationName);
  const root = operation && schema.getRootType(operation.operation);
  if (!operation || !root) return 1;
  let units = 0;
  for (const selection of operation.selectionSet.selections) {
    if (selection.kind !== Kind.FIELD || selection.name.value.startsWith('__')) continue;
    const field = root.getFields()[selection.name.value];
    const sized = field && policy.listSize(root.name, field.name)?.assumedSize !== undefined;
    let items: number | undefined;
    if (sized) {
      for (const argument of selection.arguments ?? []) {
        const definition = field.args.find((a) => a.name === argument.name.value);
        const type = definition && (isNonNullType(definition.type) ? definition.type.ofType : definition.type);
        if (!type || !isListType(type)) continue;
        const value = argument.value;
        if (value.kind === Kind.LIST) items = value.values.length;
        else if (value.kind === Kind.VARIABLE && Array.isArray(variables?.[value.name.value])) items = (variables![value.name.value] as unknown[]).length;
      }
    }
    units += items ?? 1;
  }
  return Math.max(1, units);
}
