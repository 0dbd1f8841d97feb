import { composeServices } from '@apollo/composition';
import { GraphQLError, Kind, Source, parse, type ASTNode, type DefinitionNode, type DocumentNode } from 'graphql';
import { type RegisteredSubgraph, displayPath } from './readRegistry';

/** One composition error in plain words: its code, the subgraphs and the schema elements involved. */
export interface CompositionErrorDetail {
  /** Apollo's error code, e.g. FIELD_TYPE_MISMATCH or INVALID_FIELD_SHARING (INVALID_GRAPHQL when an SDL does not parse). */
  code: string;
  /** Apollo's message, unchanged. */
  message: string;
  /** The subgraphs involved, in registry order. */
  subgraphs: string[];
  /** Schema coordinates of the offending elements, e.g. `Product.name`, `User.recommendations(limit:)`, `LoyaltyTier.GOLD`. */
  elements: string[];
  /** `file:line:column (subgraph)` of each offending definition, with the file relative to the repository. */
  locations: string[];
}

/** The result of composing a registry: the supergraph SDL, or every error in plain words (one line each) with its details. */
export type Composition = { supergraphSdl: string } | { errors: string[]; details: CompositionErrorDetail[] };

interface ParsedSubgraph {
  subgraph: RegisteredSubgraph;
  source: Source;
  document: DocumentNode;
}

/** Composes the subgraphs into a supergraph with Apollo's composition (federation 2). */
export function composeSupergraph(subgraphs: RegisteredSubgraph[]): Composition {
  const parsed: ParsedSubgraph[] = [];
  const details: CompositionErrorDetail[] = [];
  for (const subgraph of subgraphs) {
    const source = new Source(subgraph.sdl, subgraph.file);
    try {
      parsed.push({ subgraph, source, document: parse(source) });
    } catch (error) {
      const located = error instanceof GraphQLError ? (error.locations ?? []) : [];
      details.push({
        code: 'INVALID_GRAPHQL',
        message: `the SDL does not parse: ${(error as Error).message}`,
        subgraphs: [subgraph.name],
        elements: [],
        locations: located.length > 0 ? located.map((l) => `${displayPath(subgraph.file)}:${l.line}:${l.column} (${subgraph.name})`) : [`${displayPath(subgraph.file)} (${subgraph.name})`],
      });
    }
  }
  if (details.length === 0) {
    const result = composeServices(parsed.map((p) => ({ name: p.subgraph.name, url: p.subgraph.url, typeDefs: p.document })));
    if (!result.errors) return { supergraphSdl: result.supergraphSdl };
    details.push(...result.errors.map((error) => describeError(error, parsed)));
  }
  return { errors: details.map(formatErrorLine), details };
}

/** One line per error: `CODE: message [element …; subgraphs …; at file:line:column]`. */
function formatErrorLine(d: CompositionErrorDetail): string {
  const where = [
    d.elements.length > 0 ? `${d.elements.length > 1 ? 'elements' : 'element'} ${d.elements.join(', ')}` : '',
    d.subgraphs.length > 0 ? `${d.subgraphs.length > 1 ? 'subgraphs' : 'subgraph'} ${d.subgraphs.join(', ')}` : '',
    d.locations.length > 0 ? `at ${d.locations.join(', ')}` : '',
  ].filter(Boolean);
  return `${d.code}: ${d.message}${where.length > 0 ? ` [${where.join('; ')}]` : ''}`;
}

/** Several lines per error, for a terminal: the code and the element first, then Apollo's message and the locations. */
export function formatCompositionErrors(details: CompositionErrorDetail[]): string {
  const blocks = details.map((d) => {
    const element = d.elements.length > 0 ? ` on ${d.elements.join(', ')}` : '';
    const subgraphs = d.subgraphs.length > 0 ? ` (${d.subgraphs.length > 1 ? 'subgraphs' : 'subgraph'} ${d.subgraphs.join(', ')})` : '';
    return [`  ${d.code}${element}${subgraphs}`, `    ${d.message}`, ...d.locations.map((l) => `    at ${l}`)].join('\n');
  });
  return `Composition failed with ${details.length} error(s):\n${blocks.join('\n\n')}\n`;
}

function describeError(error: GraphQLError, parsed: ParsedSubgraph[]): CompositionErrorDetail {
  const code = String(error.extensions?.code ?? 'COMPOSITION_ERROR');
  const subgraphs = new Set<string>();
  const elements: string[] = [];
  const locations: string[] = [];
  for (const node of error.nodes ?? []) {
    const loc = node.loc;
    if (!loc) continue;
    const owner = parsed.find((p) => p.source === loc.source) ?? parsed.find((p) => p.source.name === loc.source.name);
    if (!owner) continue;
    subgraphs.add(owner.subgraph.name);
    const coordinate = coordinateAt(owner.document, loc.start);
    if (coordinate && !elements.includes(coordinate)) elements.push(coordinate);
    locations.push(`${displayPath(owner.subgraph.file)}:${loc.startToken.line}:${loc.startToken.column} (${owner.subgraph.name})`);
  }
  // Apollo's messages name the subgraphs in quotes; some errors (satisfiability, for one) carry no nodes.
  for (const p of parsed) if (error.message.includes(`"${p.subgraph.name}"`)) subgraphs.add(p.subgraph.name);
  if (elements.length === 0) {
    for (const match of error.message.matchAll(/"(@?[A-Za-z_]\w*\.[A-Za-z_]\w*(?:\([A-Za-z_]\w*:\))?)"/g)) {
      if (!elements.includes(match[1])) elements.push(match[1]);
    }
  }
  const ordered = parsed.map((p) => p.subgraph.name).filter((name) => subgraphs.has(name));
  return { code, message: error.message, subgraphs: ordered, elements, locations };
}

/** The schema coordinate (`Type`, `Type.field`, `Type.field(arg:)`, `@directive`) of the definition at `offset`. */
function coordinateAt(document: DocumentNode, offset: number): string | undefined {
  const within = (node: ASTNode | undefined): boolean => !!node?.loc && node.loc.start <= offset && offset < node.loc.end;
  const definition: DefinitionNode | undefined = document.definitions.find(within);
  if (!definition) return undefined;
  if (definition.kind === Kind.DIRECTIVE_DEFINITION) {
    const arg = definition.arguments?.find(within);
    return arg ? `@${definition.name.value}(${arg.name.value}:)` : `@${definition.name.value}`;
  }
  if (definition.kind === Kind.SCHEMA_DEFINITION || definition.kind === Kind.SCHEMA_EXTENSION) return 'schema';
  if (!('name' in definition) || !definition.name) return undefined;
  const type = definition.name.value;
  const members = [
    ...('fields' in definition ? (definition.fields ?? []) : []),
    ...('values' in definition ? (definition.values ?? []) : []),
  ] as Array<{ name: { value: string }; loc?: ASTNode['loc']; arguments?: ReadonlyArray<{ name: { value: string }; loc?: ASTNode['loc'] }> }>;
  const member = members.find((m) => within(m as ASTNode));
  if (!member) return type;
  const arg = member.arguments?.find((a) => within(a as ASTNode));
  return arg ? `${type}.${member.name.value}(${arg.name.value}:)` : `${type}.${member.name.value}`;
}
