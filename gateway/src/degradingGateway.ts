import type { ApolloGateway } from '@apollo/gateway';
import { ROUTER_SUPPORTED_SUPERGRAPH_FEATURES, Supergraph } from '@apollo/federation-internals';
import type { GatewayExecutor, GatewayInterface } from '@apollo/server-gateway-interface';
import { createHash } from 'node:crypto';
import { type DocumentNode, type GraphQLSchema, Kind, type OperationDefinitionNode, execute, print } from 'graphql';
import { type AccessRules, authorizeOperation, handOverAccessSpecs, placeDenied, readAccessRules } from './authorization';
import type { Client } from './clientAuth';
import { type DegradationLog, type FallbackTable, type RequiresTable, fillFallbacks, loosenSupergraph, readFallbacks, readRequires } from './degradation';
import type { PrivacyOperations } from './privacyOperations';

/** The supergraph as clients see it, and its fallbacks. */
export interface ServedSchema {
  /**
   * The API schema of the composed supergraph, with the contract's types (fallback fields non-null),
   * and the privacy fields the gateway answers itself.
   */
  apiSchema: GraphQLSchema;
  /** Who may read what: `@authenticated`/`@requiresScopes` of the supergraph and of the privacy fields. */
  access: AccessRules;
  /** The composed supergraph SDL, as in the file. */
  supergraphSdl: string;
  fallbacks: FallbackTable;
  requires: RequiresTable;
}

/** The request context fields the steps around execution read and write. */
interface ServingContext {
  degradation?: DegradationLog;
  /** Content values left in the answer after fallbacks, for the status decision. */
  liveValues?: number;
  /** Who sent the operation; its scopes decide which fields are read. */
  client?: Client;
  /** Set when the client may read none of the operation's root fields. */
  forbidden?: boolean;
  auditDetail?: Record<string, unknown>;
}

/**
 * Apollo Gateway, seen by Apollo Server through its schema-and-executor interface, with field-level
 * authorization, the gateway's own privacy fields and the declared degradation of `degradation.ts`
 * around it:
 *
 * - `prepare` turns each supergraph into the one the gateway executes, whose fallback fields are
 *   nullable, so that a failure stops at the nearest fallback field;
 * - Apollo Server validates against the composed API schema (plus the privacy fields), so clients, the
 *   sandbox and introspection see the contract's types;
 * - before each execution, the fields the client's scopes do not allow are taken out of the operation
 *   (`authorizeOperation`): nothing is fetched for them;
 * - an operation of privacy fields is answered by `privacy`, never planned;
 * - after each execution, `fillFallbacks` puts the declared values at fallback fields, and
 *   `placeDenied` puts `null` and a FORBIDDEN error where each denied field was.
 */
export function createDegradingGateway(gateway: ApolloGateway, privacy?: PrivacyOperations) {
  const strictOf = new Map<string, string>();
  let served: ServedSchema | undefined;

  const prepare = (sdl: string): string => {
    const loose = handOverAccessSpecs(loosenSupergraph(sdl, readFallbacks(sdl)));
    strictOf.clear();
    strictOf.set(loose, sdl);
    return loose;
  };

  const serve = (coreSupergraphSdl: string): ServedSchema => {
    const supergraphSdl = strictOf.get(coreSupergraphSdl) ?? coreSupergraphSdl;
    const access = readAccessRules(supergraphSdl);
    if (privacy) {
      const own = readAccessRules(privacy.document);
      for (const [coordinate, rule] of own.fields) access.fields.set(coordinate, rule);
    }
    const composed = Supergraph.build(supergraphSdl, { supportedFeatures: ROUTER_SUPPORTED_SUPERGRAPH_FEATURES }).apiSchema().toGraphQLJSSchema();
    served = {
      supergraphSdl,
      access,
      apiSchema: privacy ? privacy.extend(composed) : composed,
      fallbacks: readFallbacks(supergraphSdl),
      requires: readRequires(supergraphSdl),
    };
    return served;
  };

  const wrap = (executor: GatewayExecutor): GatewayExecutor => async (requestContext) => {
    const current = served;
    const original = requestContext.document as DocumentNode | undefined;
    if (!current || !original) return executor(requestContext);
    const context = requestContext.context as ServingContext;
    const { operationName } = requestContext;
    const authorized = authorizeOperation(current.apiSchema, current.access, original, operationName, context.client?.scopes ?? new Set(), requestContext.request.variables);
    const document = authorized.document;
    const finish = (result: Awaited<ReturnType<GatewayExecutor>>) => {
      if (!authorized.denied.length) return result;
      const errors = [...(result.errors ?? [])];
      const data = placeDenied(result.data as Record<string, unknown> | null | undefined, authorized.denied, errors);
      return { ...result, data, errors } as typeof result;
    };
    if (authorized.nothingAllowed) {
      context.forbidden = true;
      return finish({ data: {} } as Awaited<ReturnType<GatewayExecutor>>);
    }
    const roots = privacy?.rootFieldsOf(document, operationName);
    if (privacy && roots && roots.privacy > 0) {
      if (roots.other > 0) return { errors: [privacy.mixedError()] } as unknown as Awaited<ReturnType<GatewayExecutor>>;
      const note = (detail: Record<string, unknown>) => void (context.auditDetail = detail);
      const result = await privacy.execute(current.apiSchema, document, operationName, requestContext.request.variables, context.client, note);
      return finish(result as Awaited<ReturnType<GatewayExecutor>>);
    }
    // A rewritten operation is planned (and its plan cached) under its own text's hash.
    const rewritten = document === original ? requestContext : { ...requestContext, document, queryHash: createHash('sha256').update(print(document)).digest('hex') };
    const result = await executor(rewritten as typeof requestContext);
    const operation = document.definitions.find(
      (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION && (!operationName || d.name?.value === operationName),
    );
    if (operation && introspects(operation)) {
      // The executed schema is the loosened one; introspection answers with the contract's.
      const strict = await execute({ schema: current.apiSchema, document, operationName, variableValues: requestContext.request.variables });
      for (const selection of operation.selectionSet.selections) {
        if (selection.kind !== Kind.FIELD || !selection.name.value.startsWith('__')) continue;
        const key = selection.alias?.value ?? selection.name.value;
        if (result.data && strict.data && key in strict.data) result.data[key] = strict.data[key];
      }
    }
    const log = context.degradation ?? { failures: [], degraded: new Set<string>() };
    const shaped = result as Parameters<typeof fillFallbacks>[0];
    context.liveValues = fillFallbacks(shaped, current.apiSchema, document, operationName, current.fallbacks, log, current.requires).liveValues;
    return finish(shaped as typeof result);
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
