import {
  type ConstDirectiveNode,
  type DirectiveNode,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLSchema,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
  getNamedType,
  isCompositeType,
  isListType,
  isNonNullType,
  isObjectType,
  isInterfaceType,
  parse,
  type GraphQLOutputType,
  type GraphQLCompositeType,
} from 'graphql';

/** A `@listSize` declaration (IBM GraphQL Cost Directive spec, as federation composes it). */
export interface ListSize {
  assumedSize?: number;
  slicingArguments: string[];
}

/**
 * The `@cost` and `@listSize` declarations of a supergraph, by type and field. Subgraphs declare them
 * in their SDL (federation 2.9's `@cost` and `@listSize`) and composition carries them into the
 * supergraph, as it does `@cacheControl`.
 */
export interface CostPolicy {
  /** `@cost(weight:)` on `type.field`, if declared. */
  fieldWeight(type: string, field: string): number | undefined;
  /** `@cost(weight:)` on a type, if declared. */
  typeWeight(type: string): number | undefined;
  /** `@listSize` on `type.field`, if declared. */
  listSize(type: string, field: string): ListSize | undefined;
}

/** Size assumed for a list field with no `@listSize` (lists of scalars cost nothing either way). */
export const DEFAULT_LIST_SIZE = 10;
/** What each root field of a mutation adds: a write costs more than a read. */
export const MUTATION_FIELD_COST = 10;

/** Reads every `@cost` and `@listSize` of an SDL (a composed supergraph or a subgraph schema). */
export function readCostPolicy(sdl: string | DocumentNode): CostPolicy {
  const document = typeof sdl === 'string' ? parse(sdl) : sdl;
  const typeWeights = new Map<string, number>();
  const fieldWeights = new Map<string, number>();
  const listSizes = new Map<string, ListSize>();
  for (const def of document.definitions) {
    if (!('name' in def) || !def.name || !('directives' in def)) continue;
    const typeWeight = weightOf(def.directives);
    if (typeWeight !== undefined) typeWeights.set(def.name.value, typeWeight);
    if (!('fields' in def)) continue;
    for (const field of def.fields ?? []) {
      const key = `${def.name.value}.${field.name.value}`;
      const weight = weightOf(field.directives);
      if (weight !== undefined) fieldWeights.set(key, weight);
      const size = listSizeOf(field.directives);
      if (size) listSizes.set(key, size);
    }
  }
  return {
    fieldWeight: (type, field) => fieldWeights.get(`${type}.${field}`),
    typeWeight: (type) => typeWeights.get(type),
    listSize: (type, field) => listSizes.get(`${type}.${field}`),
  };
}

function weightOf(directives: readonly (ConstDirectiveNode | DirectiveNode)[] | undefined): number | undefined {
  const arg = directives?.find((d) => d.name.value === 'cost')?.arguments?.find((a) => a.name.value === 'weight');
  return arg?.value.kind === Kind.INT ? Number(arg.value.value) : undefined;
}

function listSizeOf(directives: readonly (ConstDirectiveNode | DirectiveNode)[] | undefined): ListSize | undefined {
  const directive = directives?.find((d) => d.name.value === 'listSize');
  if (!directive) return undefined;
  const size: ListSize = { slicingArguments: [] };
  for (const arg of directive.arguments ?? []) {
    if (arg.name.value === 'assumedSize' && arg.value.kind === Kind.INT) size.assumedSize = Number(arg.value.value);
    if (arg.name.value === 'slicingArguments' && arg.value.kind === Kind.LIST) {
      size.slicingArguments = arg.value.values.flatMap((v) => (v.kind === Kind.STRING ? [v.value] : []));
    }
  }
  return size;
}

/**
 * The cost of one operation, before it is planned, in the model of the IBM cost spec that Apollo
 * Router and Hive read:
 *
 * - a field of an object, interface or union type costs its weight (`@cost` on the field, else on
 *   its type, else 1) plus the cost of its selection; a scalar or enum field costs its `@cost` (0);
 * - a list field multiplies that by its size: the value of its slicing argument (`limit`), else, for a
 *   field with `assumedSize` that takes a list argument (`ids`, `skus`), that list's length up to
 *   `assumedSize` (composition only lets `Int` arguments slice), else `assumedSize`, else 10;
 * - each root field of a mutation adds 10; introspection (`__schema`, `__type`) costs nothing.
 *
 * Fragments are costed once each, so a document that spreads fragments into each other costs what it
 * would cost written out, without the walk ever doing that. Returns `undefined` when the document has
 * no operation by that name (validation will say so).
 */
export function operationCost(
  schema: GraphQLSchema,
  policy: CostPolicy,
  document: DocumentNode,
  operationName: string | undefined,
  variables: Record<string, unknown> | undefined,
): number | undefined {
  const operations = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  const operation = operationName ? operations.find((op) => op.name?.value === operationName) : operations.length === 1 ? operations[0] : undefined;
  if (!operation) return undefined;
  const root = operation.operation === 'query' ? schema.getQueryType() : operation.operation === 'mutation' ? schema.getMutationType() : schema.getSubscriptionType();
  if (!root) return undefined;

  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const def of document.definitions) if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
  const defaults = new Map<string, ValueNode>();
  for (const v of operation.variableDefinitions ?? []) if (v.defaultValue) defaults.set(v.variable.name.value, v.defaultValue);
  const fragmentCosts = new Map<string, number>();
  const visiting = new Set<string>();

  /** An argument's value: a literal, or a variable (from the request, else its default). */
  const valueOf = (node: ValueNode | undefined): unknown => {
    if (!node) return undefined;
    switch (node.kind) {
      case Kind.VARIABLE: {
        const name = node.name.value;
        if (variables && name in variables) return variables[name];
        return valueOf(defaults.get(name));
      }
      case Kind.INT:
        return Number(node.value);
      case Kind.LIST:
        return node.values.map(valueOf);
      case Kind.NULL:
        return null;
      default:
        return undefined;
    }
  };

  const sizeOf = (parent: string, field: GraphQLField<unknown, unknown>, args: Map<string, unknown>): number => {
    const declared = policy.listSize(parent, field.name);
    for (const name of declared?.slicingArguments ?? []) {
      const value = args.has(name) ? args.get(name) : field.args.find((a) => a.name === name)?.defaultValue;
      if (typeof value === 'number' && Number.isFinite(value)) return Math.max(0, Math.trunc(value));
    }
    if (declared?.assumedSize !== undefined) {
      const lists = [...args.values()].filter(Array.isArray);
      return lists.length === 1 ? Math.min(lists[0].length, declared.assumedSize) : declared.assumedSize;
    }
    return DEFAULT_LIST_SIZE;
  };

  const selectionCost = (set: SelectionSetNode, parentType: GraphQLCompositeType): number => {
    let total = 0;
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        if (selection.name.value.startsWith('__')) continue;
        if (!isObjectType(parentType) && !isInterfaceType(parentType)) continue;
        const field = parentType.getFields()[selection.name.value];
        if (!field) continue; // validation reports unknown fields
        const args = new Map((selection.arguments ?? []).map((a) => [a.name.value, valueOf(a.value)]));
        total += fieldCost(parentType.name, field, args, selection.selectionSet);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const type = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : parentType;
        if (type && isCompositeType(type)) total += selectionCost(selection.selectionSet, type);
      } else {
        total += fragmentCost(selection.name.value);
      }
    }
    return total;
  };

  const fragmentCost = (name: string): number => {
    const known = fragmentCosts.get(name);
    if (known !== undefined) return known;
    const fragment = fragments.get(name);
    // A fragment cycle is refused by validation; here it only stops the walk.
    if (!fragment || visiting.has(name)) return 0;
    const type = schema.getType(fragment.typeCondition.name.value);
    visiting.add(name);
    const cost = type && isCompositeType(type) ? selectionCost(fragment.selectionSet, type) : 0;
    visiting.delete(name);
    fragmentCosts.set(name, cost);
    return cost;
  };

  const fieldCost = (parent: string, field: GraphQLField<unknown, unknown>, args: Map<string, unknown>, selection: SelectionSetNode | undefined): number => {
    const named = getNamedType(field.type);
    const weight = policy.fieldWeight(parent, field.name) ?? policy.typeWeight(named.name) ?? (isCompositeType(named) ? 1 : 0);
    const inner = selection && isCompositeType(named) ? selectionCost(selection, named) : 0;
    return multiplier(field.type, () => sizeOf(parent, field, args)) * (weight + inner);
  };

  let cost = selectionCost(operation.selectionSet, root);
  if (operation.operation === 'mutation') cost += operation.selectionSet.selections.filter((s) => s.kind === Kind.FIELD).length * MUTATION_FIELD_COST;
  return cost;
}

/** How many values a field of `type` stands for: 1, or its size for each list level. */
function multiplier(type: GraphQLOutputType, size: () => number): number {
  let t = isNonNullType(type) ? type.ofType : type;
  let factor = 1;
  while (isListType(t)) {
    factor *= size();
    t = isNonNullType(t.ofType) ? t.ofType.ofType : t.ofType;
  }
  return factor;
}
