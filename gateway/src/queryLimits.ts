import { ApolloArmor } from '@escape.tech/graphql-armor';
import { GraphQLError, type ValidationContext, type ValidationRule } from 'graphql';
import { ErrorCode } from '../../kit/errors';

/** Limits that stop deep, aliased and directive-stuffed operations before they are planned. */
export interface QueryLimits {
  maxDepth: number;
  maxAliases: number;
  maxDirectives: number;
}

/**
 * Validation rules (graphql-armor's, which count each fragment once) that refuse an operation nested
 * deeper than `maxDepth` fields (fragments do not count as a level; introspection's `__schema` is not
 * counted), with more than `maxAliases` aliases or more than `maxDirectives` directives. Each
 * refusal is a GRAPHQL_VALIDATION_FAILED naming the limit and the setting that raises it.
 */
export function createQueryLimitRules(limits: QueryLimits): ValidationRule[] {
  // graphql-armor says "… limit of N exceeded, found M."; clients get Tailor's own wording of it.
  const refuse = (setting: string, limit: number, say: (found: string) => string) => [
    (context: ValidationContext | null, error: GraphQLError) =>
      context?.reportError(
        new GraphQLError(say(/found (\d+)/.exec(error.message)?.[1] ?? 'more'), {
          extensions: { code: ErrorCode.GRAPHQL_VALIDATION_FAILED, limit, setting },
        }),
      ),
  ];
  const common = { enabled: true, exposeLimits: true, propagateOnRejection: false } as const;
  const armor = new ApolloArmor({
    maxDepth: { ...common, n: limits.maxDepth, flattenFragments: true, ignoreIntrospection: true, onReject: refuse('TAILOR_MAX_QUERY_DEPTH', limits.maxDepth, (n) => `The operation is ${n} levels deep; the limit is ${limits.maxDepth}.`) },
    maxAliases: { ...common, n: limits.maxAliases, onReject: refuse('TAILOR_MAX_ALIASES', limits.maxAliases, (n) => `The operation uses ${n} aliases; the limit is ${limits.maxAliases}.`) },
    maxDirectives: { ...common, n: limits.maxDirectives, onReject: refuse('TAILOR_MAX_DIRECTIVES', limits.maxDirectives, (n) => `The operation uses ${n} directives; the limit is ${limits.maxDirectives}.`) },
    // Tokens are limited by the parser itself (Apollo's parseOptions), cost by operationCost.ts, and
    // "Did you mean…" hints are a production-profile decision: off here.
    maxTokens: { enabled: false },
    costLimit: { enabled: false },
    blockFieldSuggestion: { enabled: false },
  });
  return armor.protect().validationRules;
}
