import {
  type DirectiveNode,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  GraphQLError,
  type GraphQLOutputType,
  type GraphQLSchema,
  Kind,
  type OperationDefinitionNode,
  type SelectionNode,
  type SelectionSetNode,
  getNamedType,
  getOperationAST,
  isCompositeType,
  isListType,
  isNonNullType,
  isObjectType,
  isInterfaceType,
  parse,
  print,
  valueFromASTUntyped,
  visit,
} from 'graphql';
import { ErrorCode } from '../../kit/errors';

/**
 * Who may read a field or a type, as declared with federation's `@authenticated` and
 * `@requiresScopes(scopes: [[…]])`: any one of the inner lists, all of its scopes.
 */
export interface AccessRule {
  authenticated: boolean;
  /** Alternatives, each a list of scopes that are all needed; `undefined`: no scope needed. */
  scopes?: string[][];
}

/** The rules of one schema: by field coordinate (`User.email`) and by type name (`User`). */
export interface AccessRules {
  fields: Map<string, AccessRule>;
  types: Map<string, AccessRule>;
}

const SPECS = { authenticated: 'https://specs.apollo.dev/authenticated/', requiresScopes: 'https://specs.apollo.dev/requiresScopes/' };

/**
 * Reads `@authenticated` and `@requiresScopes` from a composed supergraph (or any SDL that uses them
 * under their own names), following a `@link(… as:)` rename. Composition carries them from each
 * subgraph's SDL into the supergraph, so a partner declares the scopes of its fields there and nowhere else.
 */
export function readAccessRules(sdl: string | DocumentNode): AccessRules {
  const document = typeof sdl === 'string' ? parse(sdl) : sdl;
  const names = { authenticated: 'authenticated', requiresScopes: 'requiresScopes' };
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.SCHEMA_DEFINITION && definition.kind !== Kind.SCHEMA_EXTENSION) continue;
    for (const link of definition.directives ?? []) {
      if (link.name.value !== 'link') continue;
      const args = Object.fromEntries((link.arguments ?? []).map((a) => [a.name.value, valueFromASTUntyped(a.value)]));
      for (const [key, prefix] of Object.entries(SPECS) as [keyof typeof SPECS, string][]) {
        if (typeof args.url === 'string' && args.url.startsWith(prefix) && typeof args.as === 'string') names[key] = args.as;
      }
    }
  }
  const ruleOf = (directives: readonly DirectiveNode[] | undefined): AccessRule | undefined => {
    let rule: AccessRule | undefined;
    for (const directive of directives ?? []) {
      if (directive.name.value === names.authenticated) rule = { ...rule, authenticated: true };
      if (directive.name.value === names.requiresScopes) {
        const scopes = valueFromASTUntyped(directive.arguments?.find((a) => a.name.value === 'scopes')?.value ?? { kind: Kind.NULL });
        if (Array.isArray(scopes)) rule = { authenticated: true, scopes: [...(rule?.scopes ?? []), ...(scopes as string[][])] };
      }
    }
    return rule;
  };
  const rules: AccessRules = { fields: new Map(), types: new Map() };
  for (const definition of document.definitions) {
    if (!('name' in definition) || !definition.name || !('directives' in definition)) continue;
    const typeName = definition.name.value;
    const typeRule = ruleOf(definition.directives);
    if (typeRule) rules.types.set(typeName, typeRule);
    if ('fields' in definition) {
      for (const field of definition.fields ?? []) {
        const fieldRule = 'directives' in field ? ruleOf(field.directives) : undefined;
        if (fieldRule) rules.fields.set(`${typeName}.${field.name.value}`, fieldRule);
      }
    }
  }
  return rules;
}

/**
 * The supergraph for Apollo Gateway once the gateway itself enforces `@authenticated` and
 * `@requiresScopes` (`authorizeOperation`, before any plan): their `@link`s lose `for: SECURITY`.
 * Apollo Gateway refuses to serve a supergraph with a security feature it does not implement, rightly;
 * here the feature is implemented in front of it, and it never sees a field the client may not read.
 */
export function handOverAccessSpecs(sdl: string): string {
  if (!Object.values(SPECS).some((prefix) => sdl.includes(prefix))) return sdl;
  const document = visit(parse(sdl), {
    Directive(node) {
      if (node.name.value !== 'link') return undefined;
      const url = node.arguments?.find((a) => a.name.value === 'url');
      const target = url && url.value.kind === Kind.STRING ? url.value.value : '';
      if (!Object.values(SPECS).some((prefix) => target.startsWith(prefix))) return undefined;
      return { ...node, arguments: node.arguments?.filter((a) => a.name.value !== 'for') };
    },
  });
  return print(document);
}

/** The scopes a client holds. */
export type ScopeSet = ReadonlySet<string>;

/** What a rule needs that `scopes` lacks: `undefined` when it is satisfied, else the scopes of the nearest alternative. */
export function missingScopes(rule: AccessRule | undefined, scopes: ScopeSet): string[] | undefined {
  if (!rule?.scopes?.length) return undefined;
  let nearest: string[] | undefined;
  for (const alternative of rule.scopes) {
    const lacking = alternative.filter((s) => !scopes.has(s));
    if (lacking.length === 0) return undefined;
    if (!nearest || lacking.length < nearest.length) nearest = lacking;
  }
  return nearest;
}

/** One step from an object to a field of it: its response key and its type. */
interface Step {
  key: string;
  type: GraphQLOutputType;
  /** The object type the field was selected on, when it differs from the static type there (a fragment on an abstract type's member). */
  onType?: string;
}

/** A field left out because the client may not read it. */
export interface DeniedField {
  /** `User.email`. */
  coordinate: string;
  /** Response keys from the root to the field. */
  steps: Step[];
  missing: string[];
}

/** An operation with the fields a client may not read left out, and what was left out. */
export interface AuthorizedOperation {
  /** The operation to execute (the original document when nothing was left out). */
  document: DocumentNode;
  denied: DeniedField[];
  /** Every root field was left out, or this is a mutation that lost a field: nothing is to be executed. */
  nothingAllowed: boolean;
}

/** Alias of the `__typename` that keeps a selection set whose every field was left out valid. */
const PLACEHOLDER = '__tailorHidden';
/** Alias of the `__typename` that tells which member of an abstract type a denied field was selected on. */
const TYPE_TAG = '__tailorType';

/**
 * Removes from the selected operation every field the client may not read: a field's own rule and
 * the rule of the type it returns, following fragments. `missingScopes` of each is reported; with
 * nothing denied the document is returned as it is.
 */
export function authorizeOperation(
  schema: GraphQLSchema,
  rules: AccessRules,
  document: DocumentNode,
  operationName: string | null | undefined,
  scopes: ScopeSet,
  variables?: Record<string, unknown>,
): AuthorizedOperation {
  const operation = getOperationAST(document, operationName);
  const root = operation ? schema.getRootType(operation.operation) : undefined;
  if (!operation || !root || (rules.fields.size === 0 && rules.types.size === 0)) return { document, denied: [], nothingAllowed: false };
  const fragments = new Map(
    document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((f) => [f.name.value, f]),
  );
  const denied: DeniedField[] = [];
  let changed = false;
  /** Whether `@skip`/`@include` keep the field in the answer: a field left out by them asks for nothing. */
  const included = (node: { directives?: readonly DirectiveNode[] }): boolean => {
    for (const directive of node.directives ?? []) {
      const name = directive.name.value;
      if (name !== 'skip' && name !== 'include') continue;
      const condition = directive.arguments?.find((a) => a.name.value === 'if')?.value;
      const value = condition?.kind === Kind.BOOLEAN ? condition.value : condition?.kind === Kind.VARIABLE ? variables?.[condition.name.value] === true : undefined;
      if (value === undefined) continue;
      if ((name === 'skip') === value) return false;
    }
    return true;
  };
  const visiting = new Set<string>();

  const walk = (set: SelectionSetNode, parent: GraphQLCompositeType, staticType: GraphQLCompositeType, steps: Step[]): SelectionSetNode => {
    const kept: SelectionNode[] = [];
    let tagged = false;
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        const field = checkField(selection, parent, staticType, steps);
        if (field) kept.push(field);
        else if (parent !== staticType) tagged = true;
        continue;
      }
      const fragment = selection.kind === Kind.INLINE_FRAGMENT ? selection : fragments.get(selection.name.value);
      if (!fragment || !included(selection) || (selection.kind === Kind.FRAGMENT_SPREAD && visiting.has(selection.name.value))) {
        kept.push(selection);
        continue;
      }
      const condition = fragment.typeCondition ? schema.getType(fragment.typeCondition.name.value) : parent;
      if (!condition || !isCompositeType(condition)) {
        kept.push(selection);
        continue;
      }
      if (selection.kind === Kind.FRAGMENT_SPREAD) visiting.add(selection.name.value);
      const inner = walk(fragment.selectionSet, condition, staticType, steps);
      if (selection.kind === Kind.FRAGMENT_SPREAD) visiting.delete(selection.name.value);
      if (inner === fragment.selectionSet && selection.kind === Kind.INLINE_FRAGMENT) {
        kept.push(selection);
        continue;
      }
      // A spread whose fragment lost fields becomes an inline fragment of what is left.
      changed ||= inner !== fragment.selectionSet;
      kept.push({ kind: Kind.INLINE_FRAGMENT, typeCondition: fragment.typeCondition, directives: selection.directives, selectionSet: inner });
    }
    if (tagged) kept.push(typename(TYPE_TAG));
    if (kept.length === 0) kept.push(typename(PLACEHOLDER));
    const same = kept.length === set.selections.length && kept.every((s, i) => s === set.selections[i]);
    return same ? set : { ...set, selections: kept };
  };

  const checkField = (node: FieldNode, parent: GraphQLCompositeType, staticType: GraphQLCompositeType, steps: Step[]): FieldNode | undefined => {
    const name = node.name.value;
    if (name.startsWith('__') || !(isObjectType(parent) || isInterfaceType(parent))) return node;
    const definition = parent.getFields()[name];
    if (!definition) return node;
    const coordinate = `${parent.name}.${name}`;
    const step: Step = { key: node.alias?.value ?? name, type: definition.type, ...(parent !== staticType ? { onType: parent.name } : {}) };
    const returned = getNamedType(definition.type);
    if (!included(node)) return node;
    const lacking = [...(missingScopes(rules.fields.get(coordinate), scopes) ?? []), ...(missingScopes(rules.types.get(returned.name), scopes) ?? [])];
    const missing = lacking.length ? [...new Set(lacking)] : undefined;
    if (missing) {
      denied.push({ coordinate, steps: [...steps, step], missing });
      changed = true;
      return undefined;
    }
    if (!node.selectionSet || !isCompositeType(returned)) return node;
    const inner = walk(node.selectionSet, returned, returned, [...steps, step]);
    return inner === node.selectionSet ? node : { ...node, selectionSet: inner };
  };

  const selectionSet = walk(operation.selectionSet, root, root, []);
  if (!changed) return { document, denied: [], nothingAllowed: false };
  // A mutation runs whole or not at all: one field the client may not use, and none of it runs.
  const nothingAllowed = operation.operation === 'mutation' || selectionSet.selections.every((s) => s.kind === Kind.FIELD && s.alias?.value === PLACEHOLDER);
  const rewritten: OperationDefinitionNode = { ...operation, selectionSet };
  // Fragments are inlined where they lost fields; the others stay as they were.
  return { document: { ...document, definitions: document.definitions.map((d) => (d === operation ? rewritten : d)) }, denied, nothingAllowed };
}

function typename(alias: string): FieldNode {
  return { kind: Kind.FIELD, alias: { kind: Kind.NAME, value: alias }, name: { kind: Kind.NAME, value: '__typename' } };
}

type Json = Record<string, unknown>;

/**
 * Puts `null` where each denied field would have been, as GraphQL does for a field that fails: at a
 * non-null field the `null` goes up to the nearest nullable parent. Removes the helper `__typename`s
 * and adds one FORBIDDEN error per denied field, its path the response keys from the root. Returns
 * the new `data`.
 */
export function placeDenied(data: Json | null | undefined, denied: DeniedField[], errors: unknown[]): Json | null {
  let out: Json | null = data ?? {};
  for (const field of denied) {
    if (out && nullAtObject(out, field.steps, 0)) out = null;
    errors.push(forbiddenError(field));
  }
  if (out) strip(out);
  return out;
}

/** Whether `object` must itself become null because the denied field at `steps[i…]` cannot be. */
function nullAtObject(object: Json, steps: Step[], i: number): boolean {
  const step = steps[i];
  if (step.onType !== undefined && object[TYPE_TAG] !== step.onType) return false;
  if (i === steps.length - 1) {
    if (isNonNullType(step.type)) return true;
    object[step.key] = null;
    return false;
  }
  if (!(step.key in object)) return false;
  if (nullAtValue(object[step.key], step.type, steps, i + 1)) {
    if (isNonNullType(step.type)) return true;
    object[step.key] = null;
  }
  return false;
}

function nullAtValue(value: unknown, type: GraphQLOutputType, steps: Step[], i: number): boolean {
  if (value === null || value === undefined) return false;
  const inner = isNonNullType(type) ? type.ofType : type;
  if (isListType(inner)) {
    if (!Array.isArray(value)) return false;
    const item = inner.ofType as GraphQLOutputType;
    for (let j = 0; j < value.length; j++) {
      if (!nullAtValue(value[j], item, steps, i)) continue;
      if (isNonNullType(item)) return true;
      value[j] = null;
    }
    return false;
  }
  return typeof value === 'object' ? nullAtObject(value as Json, steps, i) : false;
}

function strip(value: unknown): void {
  if (Array.isArray(value)) {
    for (const item of value) strip(item);
    return;
  }
  if (!value || typeof value !== 'object') return;
  const object = value as Json;
  delete object[PLACEHOLDER];
  delete object[TYPE_TAG];
  for (const child of Object.values(object)) strip(child);
}

/** The error a client gets for a field it may not read. */
export function forbiddenError(field: DeniedField) {
  const scopes = field.missing.join(' and ');
  return new GraphQLError(`Not allowed: ${field.coordinate} needs the scope${field.missing.length > 1 ? 's' : ''} ${scopes}, which this client's credential does not carry.`, {
    path: field.steps.map((s) => s.key),
    extensions: { code: ErrorCode.FORBIDDEN, field: field.coordinate, missingScopes: field.missing },
  });
}
