import { type DocumentNode, type GraphQLSchema, parse } from 'graphql';
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
export function createCostGuard(options: CostGuardOptions): (operations: unknown[]) => Refusal | undefined {
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

  return (operations) => {
    const current = options.current();
    if (!current) return undefined;
    const batch = operations.length > 1;
    let total = 0;
    for (const [index, raw] of operations.entries()) {
      if (!raw || typeof raw !== 'object') continue;
      const op = raw as { query?: unknown; operationName?: unknown; variables?: unknown };
      const hash = persistedHashOf(op);
      const text = typeof op.query === 'string' ? op.query : typeof hash === 'string' ? options.textOf(hash) : undefined;
      if (text === undefined) continue;
      const document = documentOf(text);
      if (!document) continue;
      const variables = op.variables && typeof op.variables === 'object' && !Array.isArray(op.variables) ? (op.variables as Record<string, unknown>) : undefined;
      const name = typeof op.operationName === 'string' ? op.operationName : undefined;
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
}

