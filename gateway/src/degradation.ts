import {
  type ConstDirectiveNode,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLObjectType,
  type GraphQLOutputType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  GraphQLError,
  Kind,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
  parse,
  print,
  visit,
} from 'graphql';
import { ErrorCode } from '../../kit/errors';

/** The name of the directive a subgraph declares a field's fallback with. */
export const FALLBACK_DIRECTIVE = 'fallback';

/**
 * Every `@fallback(json:)` declaration of a supergraph: `Type.field` → the value that field answers
 * when the subgraph resolving it, or one it depends on, does not answer. Declared once, in the SDL of
 * the subgraph that owns the field, and composed into the supergraph.
 */
export type FallbackTable = ReadonlyMap<string, unknown>;

/** `Type.field` → the fields of `Type` whose `@requires` reads it, e.g. `User.recommendationSignals` → `[recommendations]`. */
export type RequiresTable = ReadonlyMap<string, readonly string[]>;

/** Reads, from a supergraph's `@join__field(requires:)`, which fields each field is an input of. */
export function readRequires(sdl: string | DocumentNode): RequiresTable {
  const document = typeof sdl === 'string' ? parse(sdl) : sdl;
  const table = new Map<string, string[]>();
  for (const def of document.definitions) {
    if (def.kind !== Kind.OBJECT_TYPE_DEFINITION && def.kind !== Kind.OBJECT_TYPE_EXTENSION) continue;
    for (const field of def.fields ?? []) {
      for (const directive of field.directives ?? []) {
        if (directive.name.value !== 'join__field') continue;
        const requires = directive.arguments?.find((a) => a.name.value === 'requires')?.value;
        if (requires?.kind !== Kind.STRING) continue;
        // The top-level names of the selection `requires` holds: what this field reads.
        for (const name of topLevelNames(requires.value)) {
          const key = `${def.name.value}.${name}`;
          table.set(key, [...(table.get(key) ?? []), field.name.value]);
        }
      }
    }
  }
  return table;
}

function topLevelNames(selection: string): string[] {
  const names: string[] = [];
  let depth = 0;
  for (const token of selection.match(/[A-Za-z_]\w*|[{}()]/g) ?? []) {
    if (token === '{' || token === '(') depth++;
    else if (token === '}' || token === ')') depth--;
    else if (depth === 0) names.push(token);
  }
  return names;
}

/** Reads the fallback table of a supergraph (or subgraph) SDL; throws naming a declaration whose JSON does not parse. */
export function readFallbacks(sdl: string | DocumentNode): FallbackTable {
  const document = typeof sdl === 'string' ? parse(sdl) : sdl;
  const table = new Map<string, unknown>();
  for (const def of document.definitions) {
    if (def.kind !== Kind.OBJECT_TYPE_DEFINITION && def.kind !== Kind.OBJECT_TYPE_EXTENSION) continue;
    for (const field of def.fields ?? []) {
      const json = fallbackJson(field.directives);
      if (json === undefined) continue;
      try {
        table.set(`${def.name.value}.${field.name.value}`, JSON.parse(json));
      } catch {
        throw new Error(`@${FALLBACK_DIRECTIVE} on ${def.name.value}.${field.name.value}: json is not JSON: ${json}`);
      }
    }
  }
  return table;
}

function fallbackJson(directives: readonly ConstDirectiveNode[] | undefined): string | undefined {
  const directive = directives?.find((d) => d.name.value === FALLBACK_DIRECTIVE);
  const arg = directive?.arguments?.find((a) => a.name.value === 'json');
  return arg?.value.kind === Kind.STRING ? arg.value.value : undefined;
}

/**
 * The supergraph the gateway executes: the same as `sdl`, except that every field with a fallback
 * loses its outer non-null. A failure below such a field (a nested entity's field whose subgraph is down) then
 * stops at it instead of nulling the recipient; `fillFallbacks` puts the declared value there, so the
 * client still sees the contract's types.
 */
export function loosenSupergraph(sdl: string, table: FallbackTable): string {
  if (table.size === 0) return sdl;
  const document = visit(parse(sdl), {
    ObjectTypeDefinition(def) {
      const fields = def.fields?.map((field) =>
        table.has(`${def.name.value}.${field.name.value}`) && field.type.kind === Kind.NON_NULL_TYPE ? { ...field, type: field.type.type } : field,
      );
      return { ...def, fields };
    },
  });
  return print(document);
}

/** A subgraph fetch that failed, and where in the response it would have put its data. */
export interface FetchFailure {
  service: string;
  /** The fetch's path in the response, with `@` for every list index (Apollo's `pathInIncomingRequest`). */
  path: readonly (string | number)[];
}

/** What one request lost to failing subgraphs: filled in by the data sources, read when the answer is shaped. */
export interface DegradationLog {
  /** Fetches that failed without a fallback for all they asked for. */
  failures: FetchFailure[];
  /** Services whose fields were answered with their declared fallbacks. */
  degraded: Set<string>;
}

export const createDegradationLog = (): DegradationLog => ({ failures: [], degraded: new Set() });

/** The answer a failed `_entities` fetch stands in with: each entity's fields at their fallbacks, and an error at each. */
export interface EntityFallback {
  data: { _entities: Record<string, unknown>[] };
  errors: GraphQLError[];
}

/**
 * Stands in for a failed `_entities` fetch when every field it asked for has a declared fallback
 * (a list that falls back to `[]`, inputs of another subgraph's field that fall back to empty ones).
 * Fetches that depend on it still run, on the fallback values: a ranking given empty signals can still
 * rank what needs no signals. Each entity gets an error with code
 * `SUBGRAPH_UNAVAILABLE` at each degraded field; the gateway moves its path to the recipient's.
 * Answers `undefined` when some field has no fallback: the failure then stands.
 */
export function entityFallback(
  document: DocumentNode | undefined,
  representations: unknown,
  table: FallbackTable,
  service: string,
  reason: string,
): EntityFallback | undefined {
  if (!document || !Array.isArray(representations) || table.size === 0) return undefined;
  const operation = document.definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  if (!operation || operation.operation !== 'query') return undefined;
  const fragments = fragmentsOf(document);
  const entitiesField = operation.selectionSet.selections.find((s): s is FieldNode => s.kind === Kind.FIELD && s.name.value === '_entities');
  if (!entitiesField?.selectionSet) return undefined;
  // Per entity type: the response keys asked for and the value each falls back to.
  const byType = new Map<string, [string, unknown][]>();
  const collect = (type: string | undefined, selectionSet: SelectionSetNode): boolean => {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        if (selection.name.value === '__typename') continue;
        if (!type || !table.has(`${type}.${selection.name.value}`)) return false;
        const fields = byType.get(type) ?? [];
        fields.push([selection.alias?.value ?? selection.name.value, table.get(`${type}.${selection.name.value}`)]);
        byType.set(type, fields);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        if (!collect(selection.typeCondition?.name.value ?? type, selection.selectionSet)) return false;
      } else {
        const fragment = fragments.get(selection.name.value);
        if (!fragment || !collect(fragment.typeCondition.name.value, fragment.selectionSet)) return false;
      }
    }
    return true;
  };
  if (!collect(undefined, entitiesField.selectionSet)) return undefined;
  const entities: Record<string, unknown>[] = [];
  const errors: GraphQLError[] = [];
  for (const [index, representation] of representations.entries()) {
    const type = (representation as { __typename?: unknown } | null)?.__typename;
    const entity: Record<string, unknown> = { __typename: type };
    for (const [key, value] of byType.get(String(type)) ?? []) {
      entity[key] = structuredClone(value);
      errors.push(unavailableAt(service, reason, ['_entities', index, key], key));
    }
    entities.push(entity);
  }
  return { data: { _entities: entities }, errors };
}

function unavailableAt(service: string, reason: string, path: (string | number)[], field: string): GraphQLError {
  return new GraphQLError(`The ${service} service ${reason}; ${field} holds its declared fallback.`, {
    path,
    extensions: { code: ErrorCode.SUBGRAPH_UNAVAILABLE, service, fallback: true },
  });
}

function fragmentsOf(document: DocumentNode): Map<string, FragmentDefinitionNode> {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const def of document.definitions) if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
  return fragments;
}

/** The shape of an executed answer as the post-step sees it. */
export interface ShapedResult {
  data?: Record<string, unknown> | null;
  errors?: readonly GraphQLError[];
  extensions?: Record<string, unknown>;
}

/**
 * Puts declared fallbacks where a failure left `null` in a field the contract says is non-null (only a
 * failure can: the owning subgraph never answers null there), adds an error with the path and the
 * service that failed, and lists every service that degraded the answer in `extensions.degraded`.
 * Answers how many content values (leaves that are not IDs) the answer still holds outside them
 * (`NaN` when nothing failed and the answer was not walked).
 */
export function fillFallbacks(
  result: ShapedResult,
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  table: FallbackTable,
  log: DegradationLog,
  requires: RequiresTable = new Map(),
): { liveValues: number } {
  const operation = document.definitions.find(
    (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION && (!operationName || d.name?.value === operationName),
  );
  // Nothing failed: no field can hold a failure's null, and nothing needs judging. The common case skips the walk.
  if (!result.errors?.length && log.failures.length === 0 && log.degraded.size === 0) return { liveValues: Number.NaN };
  const root = operation && schema.getRootType(operation.operation);
  let errors: GraphQLError[] = [...(result.errors ?? [])];
  // Fallback errors at fields the client cannot see (inputs of another subgraph's field), by parent path.
  const hidden = new Map<string, GraphQLError[]>();
  let liveValues = 0;
  if (operation && root && result.data) {
    const fragments = fragmentsOf(document);
    for (const error of errors) {
      const last = error.path?.[error.path.length - 1];
      if (error.extensions?.fallback !== true || typeof last !== 'string') continue;
      const parent = JSON.stringify(error.path!.slice(0, -1));
      hidden.set(parent, [...(hidden.get(parent) ?? []), error]);
    }
    const retarget = (type: GraphQLObjectType, selectionSet: SelectionSetNode, path: (string | number)[]) => {
      const inputs = (hidden.get(JSON.stringify(path)) ?? []).filter((error) => !type.getFields()[String(error.path![error.path!.length - 1])]);
      if (inputs.length === 0) return;
      errors = errors.filter((e) => !inputs.includes(e));
      // In the order of the query's fields, each one an input failed for.
      for (const selection of selectionSet.selections) {
        if (selection.kind !== Kind.FIELD) continue;
        for (const error of inputs) {
          const input = String(error.path![error.path!.length - 1]);
          if (!(requires.get(`${type.name}.${input}`) ?? []).includes(selection.name.value)) continue;
          const key = selection.alias?.value ?? selection.name.value;
          const service = String(error.extensions?.service ?? 'unknown');
          errors.push(
            new GraphQLError(`${error.message.replace(/; [^;]*$/, '')}; ${key} was computed without it.`, {
              path: [...path, key],
              extensions: { ...error.extensions, code: ErrorCode.SUBGRAPH_UNAVAILABLE, service, fallback: true },
            }),
          );
        }
      }
    };
    /** Whether an error the client caused (a bad argument) lies at or under `path`: no fallback masks it. */
    const clientErrorUnder = (path: (string | number)[]) =>
      errors.some((e) => e.extensions?.code === ErrorCode.BAD_USER_INPUT && path.every((step, i) => e.path?.[i] === step));
    /** Walks one object; answers true when it must itself be null (a non-null field of it is null and takes no fallback). */
    const walk = (type: GraphQLObjectType, selectionSet: SelectionSetNode, value: Record<string, unknown>, path: (string | number)[]): boolean => {
      if (hidden.size > 0) retarget(type, selectionSet, path);
      // A non-null field the client's own error nulled nulls this object, as the contract says: its other
      // fields then take no fallback (they were null only because the same answer carried that error).
      for (const selection of selectionSet.selections) {
        if (selection.kind !== Kind.FIELD) continue;
        const key = selection.alias?.value ?? selection.name.value;
        const field = type.getFields()[selection.name.value];
        if (field && value[key] === null && isNonNullType(field.type) && table.has(`${type.name}.${selection.name.value}`) && clientErrorUnder([...path, key])) return true;
      }
      let nullified = false;
      for (const selection of selectionSet.selections) {
        if (selection.kind === Kind.INLINE_FRAGMENT || selection.kind === Kind.FRAGMENT_SPREAD) {
          const fragment = selection.kind === Kind.INLINE_FRAGMENT ? selection : fragments.get(selection.name.value);
          const condition = fragment?.typeCondition?.name.value;
          if (fragment && (!condition || condition === type.name || condition === value.__typename)) nullified = walk(type, fragment.selectionSet, value, path) || nullified;
          continue;
        }
        const name = selection.name.value;
        if (name.startsWith('__')) continue;
        const key = selection.alias?.value ?? name;
        const field = type.getFields()[name];
        if (!field || !(key in value)) continue;
        const fieldPath = [...path, key];
        if (value[key] === null && isNonNullType(field.type) && table.has(`${type.name}.${name}`)) {
          // Null where the contract says non-null: a failure below stopped here (the executed schema is
          // loosened). A client's own error there has nulled this object already (above).
          value[key] = structuredClone(table.get(`${type.name}.${name}`));
          const service = failedServiceAt(log, errors, fieldPath);
          log.degraded.add(service);
          errors.push(unavailableAt(service, 'did not answer', fieldPath, key));
          continue;
        }
        if (complete(field.type, selection, value[key], fieldPath)) {
          if (isNonNullType(field.type)) nullified = true;
          else value[key] = null;
        }
      }
      return nullified;
    };
    /** Walks a field's value; answers true when it must be null. */
    const complete = (type: GraphQLOutputType, selection: FieldNode, value: unknown, path: (string | number)[]): boolean => {
      if (value === null || value === undefined) return false;
      const inner = isNonNullType(type) ? type.ofType : type;
      if (isListType(inner) && Array.isArray(value)) {
        const item = inner.ofType as GraphQLOutputType;
        for (let i = 0; i < value.length; i++) {
          if (!complete(item, selection, value[i], [...path, i])) continue;
          if (isNonNullType(item)) return true;
          value[i] = null;
        }
        return false;
      }
      if (isLeafType(inner)) {
        if (inner.name !== 'ID') liveValues++;
        return false;
      }
      return isObjectType(inner) && !!selection.selectionSet && typeof value === 'object' && walk(inner, selection.selectionSet, value as Record<string, unknown>, path);
    };
    if (walk(root, operation.selectionSet, result.data, [])) result.data = null;
  }
  for (const error of errors) {
    const service = error.extensions?.service ?? error.extensions?.serviceName;
    if (error.extensions?.code === ErrorCode.SUBGRAPH_UNAVAILABLE && typeof service === 'string') log.degraded.add(service);
  }
  result.errors = errors.length ? errors : result.errors;
  if (log.degraded.size > 0) result.extensions = { ...result.extensions, degraded: [...log.degraded].sort() };
  return { liveValues };
}

/** The service whose failed fetch covers `path` (its fetch path, with `@` for indexes, is a prefix of it or it of the fetch path). */
function failedServiceAt(log: DegradationLog, errors: readonly GraphQLError[], path: readonly (string | number)[]): string {
  const covers = (failure: FetchFailure) => {
    const n = Math.min(failure.path.length, path.length);
    for (let i = 0; i < n; i++) {
      const step = failure.path[i];
      if (step !== '@' && step !== path[i]) return false;
    }
    return true;
  };
  const matching = log.failures.filter(covers).sort((a, b) => b.path.length - a.path.length);
  if (matching[0]) return matching[0].service;
  // A subgraph's own error for this entity (a partial answer) names its service.
  const related = (e: GraphQLError) => !!e.path && e.path.slice(0, path.length).every((step, i) => step === path[i]);
  const under = errors.find((e) => related(e) && typeof e.extensions?.serviceName === 'string');
  return String(under?.extensions?.serviceName ?? log.failures[0]?.service ?? 'unknown');
}
