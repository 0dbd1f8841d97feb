import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { GraphQLError, type ValidationRule } from 'graphql';
import { ErrorCode } from '../../kit/errors';

/** The token limit of a subgraph's parser: the gateway's query plans use a few hundred at most. */
export const SUBGRAPH_MAX_TOKENS = 20_000;

/** Refuses an operation type the subgraph's schema does not define (a subscription) as a validation error. */
export const operationTypeDefinedRule: ValidationRule = (context) => ({
  OperationDefinition(node) {
    const schema = context.getSchema();
    const root = node.operation === 'query' ? schema.getQueryType() : node.operation === 'mutation' ? schema.getMutationType() : schema.getSubscriptionType();
    if (!root) context.reportError(new GraphQLError(`This service has no ${node.operation} operations.`, { nodes: [node] }));
  },
});

const COERCION = /^(ID|String|Int|Float|Boolean|DateTime) cannot represent /;

/**
 * A representation the gateway would never send (`_entities` with `sku: []`) fails when its key is
 * serialized back; that is the caller's mistake, so it is `BAD_USER_INPUT`, not a masked internal
 * error. Only entity keys echo caller input into a subgraph's output; every other value comes from
 * its store.
 */
export function createSubgraphInputErrorPlugin<TContext extends BaseContext>(): ApolloServerPlugin<TContext> {
  return {
    async requestDidStart() {
      return {
        async didEncounterErrors({ errors, operation }) {
          if (!operation?.selectionSet.selections.some((s) => s.kind === 'Field' && s.name.value === '_entities')) return;
          for (const error of errors) {
            if (error.extensions?.code === undefined && COERCION.test(error.message)) (error.extensions as Record<string, unknown>).code = ErrorCode.BAD_USER_INPUT;
          }
        },
      };
    },
  };
}
