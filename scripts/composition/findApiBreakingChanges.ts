import { ROUTER_SUPPORTED_SUPERGRAPH_FEATURES, Supergraph } from '@apollo/federation-internals';
import { BreakingChangeType, findBreakingChanges, type GraphQLSchema } from 'graphql';

/** The kinds of graphql-js breaking changes that take away or change something a client operation may use. */
const CLIENT_BREAKING: ReadonlySet<string> = new Set<BreakingChangeType>([
  BreakingChangeType.TYPE_REMOVED,
  BreakingChangeType.TYPE_CHANGED_KIND,
  BreakingChangeType.TYPE_REMOVED_FROM_UNION,
  BreakingChangeType.IMPLEMENTED_INTERFACE_REMOVED,
  BreakingChangeType.VALUE_REMOVED_FROM_ENUM,
  BreakingChangeType.FIELD_REMOVED,
  BreakingChangeType.FIELD_CHANGED_KIND,
  BreakingChangeType.REQUIRED_ARG_ADDED,
  BreakingChangeType.ARG_REMOVED,
  BreakingChangeType.ARG_CHANGED_KIND,
  BreakingChangeType.REQUIRED_INPUT_FIELD_ADDED,
]);

/** A change to the client API that can break an operation written against the old one. */
export interface ApiBreakingChange {
  /** graphql-js's category, e.g. FIELD_REMOVED, FIELD_CHANGED_KIND, REQUIRED_ARG_ADDED, VALUE_REMOVED_FROM_ENUM, TYPE_REMOVED. */
  type: string;
  /** What changed, e.g. `Product.brand was removed`. */
  description: string;
}

/** The client API of a supergraph: federation's API schema, without @inaccessible elements and join__/link__ machinery. */
export function apiSchemaOf(supergraphSdl: string): GraphQLSchema {
  return Supergraph.build(supergraphSdl, { supportedFeatures: ROUTER_SUPPORTED_SUPERGRAPH_FEATURES }).apiSchema().toGraphQLJSSchema();
}

/** The changes from `oldSupergraphSdl`'s client API to `newSupergraphSdl`'s that can break an existing client operation. */
export function findApiBreakingChanges(oldSupergraphSdl: string, newSupergraphSdl: string): ApiBreakingChange[] {
  return findBreakingChanges(apiSchemaOf(oldSupergraphSdl), apiSchemaOf(newSupergraphSdl))
    .filter((change) => CLIENT_BREAKING.has(change.type))
    .map((change) => ({ type: change.type, description: change.description.replace(/\.$/, '') }));
}
