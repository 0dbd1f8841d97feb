import {
  type DocumentNode,
  type GraphQLSchema,
  Kind,
  TypeInfo,
  type ConstDirectiveNode,
  getNamedType,
  isCompositeType,
  parse,
  visit,
  visitWithTypeInfo,
} from 'graphql';

/** Who may keep a cached response: any cache, or only the recipient's own. */
export type CacheScope = 'PUBLIC' | 'PRIVATE';

/** A `@cacheControl` declaration: seconds a value may be served from a cache, and by whom. */
export interface CacheHint {
  maxAge: number;
  scope: CacheScope;
}

/**
 * The cache policy declared in an SDL with `@cacheControl(maxAge:, scope:)`, on types and fields.
 * It is the single declaration that both a subgraph's LRU TTLs and the gateway's `Cache-Control`
 * response header are derived from.
 */
export interface CachePolicy {
  /** The hint on `type`, if declared. */
  typeHint(type: string): CacheHint | undefined;
  /** The hint on `type.field`, if declared. */
  fieldHint(type: string, field: string): CacheHint | undefined;
  /** Seconds `type`'s values may be cached, as a TTL in milliseconds; 0 when undeclared. */
  typeTtlMs(type: string): number;
  /** Seconds `type.field` may be cached, as a TTL in milliseconds; 0 when undeclared. */
  fieldTtlMs(type: string, field: string): number;
}

/** Reads every `@cacheControl` declaration of an SDL (a subgraph schema or a composed supergraph). */
export function readCachePolicy(sdl: string | DocumentNode): CachePolicy {
  const document = typeof sdl === 'string' ? parse(sdl) : sdl;
  const types = new Map<string, CacheHint>();
  const fields = new Map<string, CacheHint>();
  for (const def of document.definitions) {
    if (
      def.kind !== Kind.OBJECT_TYPE_DEFINITION &&
      def.kind !== Kind.OBJECT_TYPE_EXTENSION &&
      def.kind !== Kind.INTERFACE_TYPE_DEFINITION &&
      def.kind !== Kind.INTERFACE_TYPE_EXTENSION
    ) {
      continue;
    }
    const typeHint = hintOf(def.directives);
    if (typeHint) types.set(def.name.value, typeHint);
    for (const field of def.fields ?? []) {
      const fieldHint = hintOf(field.directives);
      if (fieldHint) fields.set(`${def.name.value}.${field.name.value}`, fieldHint);
    }
  }
  const policy: CachePolicy = {
    typeHint: (type) => types.get(type),
    fieldHint: (type, field) => fields.get(`${type}.${field}`),
    typeTtlMs: (type) => (types.get(type)?.maxAge ?? 0) * 1000,
    fieldTtlMs: (type, field) => (fields.get(`${type}.${field}`)?.maxAge ?? 0) * 1000,
  };
  return policy;
}

function hintOf(directives: readonly ConstDirectiveNode[] | undefined): CacheHint | undefined {
  const directive = directives?.find((d) => d.name.value === 'cacheControl');
  if (!directive) return undefined;
  let maxAge = 0;
  let scope: CacheScope = 'PUBLIC';
  for (const arg of directive.arguments ?? []) {
    if (arg.name.value === 'maxAge' && arg.value.kind === Kind.INT) maxAge = Number(arg.value.value);
    if (arg.name.value === 'scope' && arg.value.kind === Kind.ENUM) scope = arg.value.value === 'PRIVATE' ? 'PRIVATE' : 'PUBLIC';
  }
  return { maxAge, scope };
}

/**
 * The policy of one operation's response: the smallest `maxAge` of everything it selects, PRIVATE if
 * anything selected is. A field takes its own hint, else its object type's hint; an object field with
 * neither is uncacheable, and a leaf field with neither follows its parent. Root leaf fields without a
 * hint and every mutation are uncacheable.
 */
export function responseCachePolicy(schema: GraphQLSchema, document: DocumentNode, policy: CachePolicy): CacheHint {
  let maxAge = Number.POSITIVE_INFINITY;
  let scope: CacheScope = 'PUBLIC';
  const restrict = (hint: CacheHint) => {
    maxAge = Math.min(maxAge, hint.maxAge);
    if (hint.scope === 'PRIVATE') scope = 'PRIVATE';
  };
  const rootTypes = new Set([schema.getQueryType()?.name, schema.getMutationType()?.name].filter(Boolean));
  const typeInfo = new TypeInfo(schema);
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      OperationDefinition(node) {
        if (node.operation !== 'query') restrict({ maxAge: 0, scope });
      },
      Field(node) {
        if (node.name.value.startsWith('__')) return;
        const parent = typeInfo.getParentType();
        const fieldType = typeInfo.getType();
        if (!parent || !fieldType) return;
        const named = getNamedType(fieldType);
        const hint = policy.fieldHint(parent.name, node.name.value) ?? (isCompositeType(named) ? policy.typeHint(named.name) : undefined);
        if (hint) restrict(hint);
        else if (isCompositeType(named) || rootTypes.has(parent.name)) restrict({ maxAge: 0, scope });
      },
    }),
  );
  return { maxAge: Number.isFinite(maxAge) ? maxAge : 0, scope };
}

/** The `Cache-Control` header value for a policy: `no-store` when nothing may be cached. */
export function cacheControlHeader(hint: CacheHint): string {
  return hint.maxAge > 0 ? `max-age=${hint.maxAge}, ${hint.scope === 'PRIVATE' ? 'private' : 'public'}` : 'no-store';
}
