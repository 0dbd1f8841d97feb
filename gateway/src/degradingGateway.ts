import type { ApolloGateway } from '@apollo/gateway';
import { Supergraph } from '@apollo/federation-internals';
import type { GatewayExecutor, GatewayInterface } from '@apollo/server-gateway-interface';
import { type DocumentNode, type GraphQLSchema, Kind, type OperationDefinitionNode, execute } from 'graphql';
import { type DegradationLog, type FallbackTable, type RequiresTable, fillFallbacks, loosenSupergraph, readFallbacks, readRequires } from './degradation';

/** The supergraph as clients see it, and its fallbacks. */
export interface ServedSchema {
  /** The API schema of the composed supergraph, with the contract's types (fallback fields non-null). */
  apiSchema: GraphQLSchema;
  /** The composed supergraph SDL, as in the file. */
  supergraphSdl: string;
  fallbacks: FallbackTable;
  requires: RequiresTable;
}

/** The request context fields the post-step reads. */
interface DegradationContext {
  degradation?: DegradationLog;
  /** Content values left in the answer after fallbacks, for the status decision. */
  liveValues?: number;
}

/**
 * Apollo Gateway, seen by Apollo Server through its schema-and-executor interface, with the declared
 * degradation of `degradation.ts` around it:
 *
 * - `prepare` turns each supergraph into the one the gateway executes, whose fallback fields are
 *   nullable, so that a failure stops at the nearest fallback field;
 * - Apollo Server validates against the composed API schema, so clients, the sandbox and introspection
 *   see the contract's types;
 * - after each execution, `fillFallbacks` puts the declared values at those fields.
 */
export function createDegradingGateway(gateway: ApolloGateway) {
  const strictOf = new Map<string, string>();
  let served: ServedSchema | undefined;

  const prepare = (sdl: string): string => {
    const loose = loosenSupergraph(sdl, readFallbacks(sdl));
    strictOf.clear();
    strictOf.set(loose, sdl);
    return loose;
  };

  const serve = (coreSupergraphSdl: string): ServedSchema => {
    const supergraphSdl = strictOf.get(coreSupergraphSdl) ?? coreSupergraphSdl;
    served = {
      supergraphSdl,
      apiSchema: Supergraph.build(supergraphSdl).apiSchema().toGraphQLJSSchema(),
      fallbacks: readFallbacks(supergraphSdl),
      requires: readRequires(supergraphSdl),
    };
    return served;
  };

  const wrap = (executor: GatewayExecutor): GatewayExecutor => async (requestContext) => {
    const result = await executor(requestContext);
    const current = served;
    const document = requestContext.document as DocumentNode | undefined;
    if (!current || !document) return result;
    const operation = document.definitions.find(
      (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION && (!requestContext.operationName || d.name?.value === requestContext.operationName),
    );
    if (operation && introspects(operation)) {
      // The executed schema is the loosened one; introspection answers with the contract's.
      const strict = await execute({ schema: current.apiSchema, document, operationName: requestContext.operationName, variableValues: requestContext.request.variables });
      for (const selection of operation.selectionSet.selections) {
        if (selection.kind !== Kind.FIELD || !selection.name.value.startsWith('__')) continue;
        const key = selection.alias?.value ?? selection.name.value;
        if (result.data && strict.data && key in strict.data) result.data[key] = strict.data[key];
      }
    }
    const context = requestContext.context as DegradationContext;
    const log = context.degradation ?? { failures: [], degraded: new Set<string>() };
    const shaped = result as Parameters<typeof fillFallbacks>[0];
    context.liveValues = fillFallbacks(shaped, current.apiSchema, document, requestContext.operationName, current.fallbacks, log, current.requires).liveValues;
    return shaped as typeof result;
  };

  const facade: GatewayInterface = {
    onSchemaLoadOrUpdate: (callback) =>
      gateway.onSchemaLoadOrUpdate(({ coreSupergraphSdl }) => {
        const { apiSchema, supergraphSdl } = serve(coreSupergraphSdl);
        callback({ apiSchema, coreSupergraphSdl: supergraphSdl });
      }),
    load: async (options) => {
      const loaded = await gateway.load(options);
      return { executor: loaded.executor ? wrap(loaded.executor as GatewayExecutor) : null };
    },
    stop: () => gateway.stop(),
  };
  return {
    /** The gateway to give Apollo Server. */
    facade,
    /** Turns a supergraph from the file into the one Apollo Gateway executes. */
    prepare,
    /** The schema and fallbacks being served. */
    served: () => served,
  };
}

function introspects(operation: OperationDefinitionNode): boolean {
  return operation.selectionSet.selections.some((s) => s.kind === Kind.FIELD && (s.name.value === '__schema' || s.name.value === '__type'));
}
