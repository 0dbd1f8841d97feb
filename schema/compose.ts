import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { composeServices } from '@apollo/composition';
import { Supergraph } from '@apollo/federation-internals';
import {
  BreakingChangeType,
  GraphQLError,
  Kind,
  Source,
  findBreakingChanges,
  parse,
  type ASTNode,
  type DefinitionNode,
  type DocumentNode,
  type GraphQLSchema,
} from 'graphql';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/** The registry file: rover's supergraph config format. */
export const REGISTRY_FILE = join(__dirname, 'supergraph.yaml');
/** The composed supergraph the gateway serves. */
export const SUPERGRAPH_FILE = join(__dirname, 'supergraph.graphql');

const registrySchema = z.object({
  federation_version: z.string().optional(),
  subgraphs: z.record(
    z.string().regex(/^[a-z][a-z0-9_-]*$/, 'subgraph names are lower-case letters, digits, - and _'),
    z.object({
      routing_url: z.url({ message: 'routing_url must be an absolute URL' }),
      schema: z.object({ file: z.string().min(1) }),
    }),
  ),
});

/** One subgraph of the registry, with its SDL read. */
export interface RegisteredSubgraph {
  name: string;
  url: string;
  file: string;
  sdl: string;
}

/** Reads the registry and every schema file it names. */
export function readRegistry(file = REGISTRY_FILE): RegisteredSubgraph[] {
  const parsed = registrySchema.safeParse(parseYaml(readFileSync(file, 'utf8')));
  if (!parsed.success) {
    throw new Error(`${file} is not a valid registry:\n${parsed.error.issues.map((i) => `  - ${i.path.join('.')}: ${i.message}`).join('\n')}`);
  }
  return Object.entries(parsed.data.subgraphs).map(([name, entry]) => {
    const schemaFile = resolve(dirname(file), entry.schema.file);
    return { name, url: entry.routing_url, file: schemaFile, sdl: readFileSync(schemaFile, 'utf8') };
  });
}


/** The repository root, against which file locations are printed. */
const REPO_ROOT = dirname(__dirname);

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
export function compose(subgraphs: RegisteredSubgraph[]): Composition {
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

function displayPath(file: string): string {
  const rel = relative(REPO_ROOT, file);
  return rel.startsWith('..') ? file : rel;
}

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
  return Supergraph.build(supergraphSdl).apiSchema().toGraphQLJSSchema();
}

/** The changes from `oldSupergraphSdl`'s client API to `newSupergraphSdl`'s that can break an existing client operation. */
export function findApiBreakingChanges(oldSupergraphSdl: string, newSupergraphSdl: string): ApiBreakingChange[] {
  return findBreakingChanges(apiSchemaOf(oldSupergraphSdl), apiSchemaOf(newSupergraphSdl))
    .filter((change) => CLIENT_BREAKING.has(change.type))
    .map((change) => ({ type: change.type, description: change.description.replace(/\.$/, '') }));
}

/** What `checkSupergraph` is given: the registry's subgraphs, the supergraph file as it stands, and the API clients rely on. */
export interface CheckInput {
  subgraphs: RegisteredSubgraph[];
  /** The text of schema/supergraph.graphql as it stands, or null when there is none. */
  committedSdl: string | null;
  /** The supergraph whose client API must not break (the one last committed to git); defaults to `committedSdl`. */
  baseSdl?: string | null;
  /** Report breaking changes without failing on them. */
  allowBreaking?: boolean;
}

/** What `checkSupergraph` found. */
export interface CheckResult {
  /** True when the supergraph file is up to date and no breaking change is left unallowed. */
  ok: boolean;
  /** Every reason the check fails, one line each; empty when `ok`. */
  problems: string[];
  /** True when the supergraph file differs from what composing the registry gives (or is missing). */
  stale: boolean;
  /** The client API's breaking changes since the base, listed even when allowed. */
  breakingChanges: ApiBreakingChange[];
  /** The composition the check compared against. */
  composition: Composition;
}

/** Checks, writing nothing, that the supergraph file is what the registry composes to and that the client API loses nothing. */
export function checkSupergraph({ subgraphs, committedSdl, baseSdl, allowBreaking = false }: CheckInput): CheckResult {
  const composition = compose(subgraphs);
  if ('errors' in composition) {
    return { ok: false, problems: composition.errors, stale: true, breakingChanges: [], composition };
  }
  const problems: string[] = [];
  const fresh = composition.supergraphSdl;
  const stale = committedSdl !== fresh;
  if (committedSdl === null) {
    problems.push(`${displayPath(SUPERGRAPH_FILE)} does not exist: run \`npm run compose\` and commit it`);
  } else if (stale) {
    problems.push(`${displayPath(SUPERGRAPH_FILE)} is out of date (it first differs from the composed supergraph at line ${firstDifferentLine(committedSdl, fresh)}): run \`npm run compose\` and commit it`);
  }
  const base = baseSdl === undefined ? committedSdl : baseSdl;
  let breakingChanges: ApiBreakingChange[] = [];
  if (base !== null) {
    try {
      breakingChanges = findApiBreakingChanges(base, fresh);
    } catch (error) {
      problems.push(`the base supergraph cannot be read, so the client API cannot be compared: ${(error as Error).message}`);
    }
  }
  if (!allowBreaking) problems.push(...breakingChanges.map((c) => `${c.type}: ${c.description}`));
  return { ok: problems.length === 0, problems, stale, breakingChanges, composition };
}

function firstDifferentLine(a: string, b: string): number {
  const left = a.split('\n');
  const right = b.split('\n');
  let i = 0;
  while (i < left.length && i < right.length && left[i] === right[i]) i++;
  return i + 1;
}

/** The supergraph file as committed at a git revision, or null when git or the file at that revision is not there. */
export function readCommittedSupergraph(revision: string, file = SUPERGRAPH_FILE): string | null {
  try {
    const top = execFileSync('git', ['rev-parse', '--show-toplevel'], { cwd: dirname(file), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const path = relative(top, file).split('\\').join('/');
    return execFileSync('git', ['show', `${revision}:${path}`], { cwd: top, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 * 1024 * 1024 });
  } catch {
    return null;
  }
}

const USAGE = `Usage: npm run compose [-- --check [--allow-breaking] [--base <git revision>]]

  (no flag)          compose schema/supergraph.yaml into schema/supergraph.graphql
  --check            write nothing; fail when schema/supergraph.graphql is out of date or the client
                     API loses or changes something compared with the supergraph committed at --base
  --allow-breaking   accept breaking changes to the client API (they are still printed)
  --base <revision>  git revision whose committed supergraph clients rely on (default HEAD; without git,
                     the supergraph file itself)
`;

interface CliOptions {
  check: boolean;
  allowBreaking: boolean;
  base?: string;
}

function parseArgs(argv: string[]): CliOptions | string {
  const options: CliOptions = { check: false, allowBreaking: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--check') options.check = true;
    else if (arg === '--allow-breaking') options.allowBreaking = true;
    else if (arg === '--base') {
      const value = argv[++i];
      if (!value || value.startsWith('--')) return '--base needs a git revision, e.g. --base origin/main';
      options.base = value;
    } else if (arg.startsWith('--base=')) options.base = arg.slice('--base='.length);
    else return `unknown argument ${arg}`;
  }
  return options;
}

function printBreaking(changes: ApiBreakingChange[], out: NodeJS.WriteStream): void {
  for (const c of changes) out.write(`  - ${c.type}: ${c.description}\n`);
}

function main(): void {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return;
  }
  const options = parseArgs(argv);
  if (typeof options === 'string') {
    process.stderr.write(`compose: ${options}\n\n${USAGE}`);
    process.exit(2);
  }
  const subgraphs = readRegistry();
  const file = displayPath(SUPERGRAPH_FILE);
  const current = existsSync(SUPERGRAPH_FILE) ? readFileSync(SUPERGRAPH_FILE, 'utf8') : null;

  if (!options.check) {
    const result = compose(subgraphs);
    if ('errors' in result) {
      process.stderr.write(formatCompositionErrors(result.details));
      process.exit(1);
    }
    if (current !== null) {
      let changes: ApiBreakingChange[] = [];
      try {
        changes = findApiBreakingChanges(current, result.supergraphSdl);
      } catch {
        // The previous file is unreadable: nothing to compare with.
      }
      if (changes.length > 0) {
        process.stderr.write(`Warning: ${changes.length} change(s) break the client API of the previous ${file}:\n`);
        printBreaking(changes, process.stderr);
        process.stderr.write('`npm run compose -- --check` fails on them unless given --allow-breaking.\n');
      }
    }
    writeFileSync(SUPERGRAPH_FILE, result.supergraphSdl);
    process.stdout.write(`Composed ${SUPERGRAPH_FILE}\n`);
    return;
  }

  const revision = options.base ?? 'HEAD';
  let baseSdl = readCommittedSupergraph(revision);
  let baseName = `${file} at ${revision}`;
  if (baseSdl === null) {
    if (options.base) {
      process.stderr.write(`compose --check: cannot read ${file} at git revision ${options.base}\n`);
      process.exit(2);
    }
    baseSdl = current;
    baseName = file;
  }
  const result = checkSupergraph({ subgraphs, committedSdl: current, baseSdl, allowBreaking: options.allowBreaking });
  if ('errors' in result.composition) {
    process.stderr.write(formatCompositionErrors(result.composition.details));
    process.exit(1);
  }
  if (result.breakingChanges.length > 0 && options.allowBreaking) {
    process.stdout.write(`${result.breakingChanges.length} breaking change(s) to the client API since ${baseName}, allowed by --allow-breaking:\n`);
    printBreaking(result.breakingChanges, process.stdout);
  }
  if (!result.ok) {
    process.stderr.write(`compose --check FAILED (client API compared with ${baseName}):\n${result.problems.map((p) => `  - ${p}`).join('\n')}\n`);
    if (result.breakingChanges.length > 0 && !options.allowBreaking) {
      process.stderr.write('Clients may rely on what a breaking change removes or changes. Keep it (deprecate instead), or, if every client is ready, rerun with --allow-breaking.\n');
    }
    process.exit(1);
  }
  const allowed = result.breakingChanges.length > 0 ? `; ${result.breakingChanges.length} breaking change(s) allowed` : '; no breaking change to the client API';
  process.stdout.write(`compose --check OK: ${file} is up to date with ${subgraphs.length} subgraph(s)${allowed} (compared with ${baseName})\n`);
}

if (require.main === module) main();
