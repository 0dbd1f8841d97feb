import {
  type ASTVisitor,
  type FragmentDefinitionNode,
  GraphQLError,
  Kind,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';

/** Limits that stop deep and aliased query bombs before they are planned (GRAPHQL_VALIDATION_FAILED). */
export interface QueryLimits {
  maxDepth: number;
  maxAliases: number;
}

/**
 * Validation rules that refuse operations deeper than `maxDepth` (not counting introspection) or
 * with more than `maxAliases` aliases.
 */
export function createQueryLimitRules(limits: QueryLimits): ValidationRule[] {
  return [depthLimit(limits.maxDepth), aliasLimit(limits.maxAliases)];
}

function depthLimit(maxDepth: number): ValidationRule {
  return (context: ValidationContext): ASTVisitor => ({
    OperationDefinition(operation) {
      const fragments = new Map<string, FragmentDefinitionNode>();
      for (const def of context.getDocument().definitions) {
        if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
      }
      const depth = selectionDepth(operation.selectionSet, fragments, new Set());
      if (depth > maxDepth) {
        context.reportError(
          new GraphQLError(`The operation is ${depth} levels deep; the limit is ${maxDepth}.`, {
            nodes: [operation],
            extensions: { limit: maxDepth, setting: 'TAILOR_MAX_QUERY_DEPTH' },
          }),
        );
      }
    },
  });
}

function selectionDepth(set: SelectionSetNode, fragments: Map<string, FragmentDefinitionNode>, visiting: Set<string>): number {
  let deepest = 0;
  for (const selection of set.selections) {
    if (selection.kind === Kind.FIELD) {
      // Introspection has its own depth rule in graphql-js; sandboxes' standard query is 15 deep.
      if (selection.name.value.startsWith('__')) continue;
      deepest = Math.max(deepest, 1 + (selection.selectionSet ? selectionDepth(selection.selectionSet, fragments, visiting) : 0));
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      deepest = Math.max(deepest, selectionDepth(selection.selectionSet, fragments, visiting));
    } else {
      const fragment = fragments.get(selection.name.value);
      // A fragment cycle is reported by graphql's own rules; here it just stops the walk.
      if (!fragment || visiting.has(fragment.name.value)) continue;
      visiting.add(fragment.name.value);
      deepest = Math.max(deepest, selectionDepth(fragment.selectionSet, fragments, visiting));
      visiting.delete(fragment.name.value);
    }
  }
  return deepest;
}

function aliasLimit(maxAliases: number): ValidationRule {
  return (context: ValidationContext): ASTVisitor => {
    let aliases = 0;
    return {
      Field(node) {
        if (node.alias) aliases++;
      },
      Document: {
        leave(document) {
          if (aliases > maxAliases) {
            context.reportError(
              new GraphQLError(`The operation uses ${aliases} aliases; the limit is ${maxAliases}.`, {
                nodes: [document],
                extensions: { limit: maxAliases, setting: 'TAILOR_MAX_ALIASES' },
              }),
            );
          }
        },
      },
    };
  };
}
