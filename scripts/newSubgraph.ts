import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { parse as parseYaml, parseDocument } from 'yaml';
import { type RegisteredSubgraph, readRegistry } from './composition/readRegistry';
import { composeSupergraph } from './composition/composeSupergraph';
import { type SubgraphNames, describeFiles, renderSubgraphFiles, startScript, subgraphNames, subgraphPaths } from './subgraphTemplate';

/** The repository this script belongs to: the default `--root`. */
export const REPO_ROOT = join(__dirname, '..');

/** Names a partner subgraph may not take: Tailor's own services and shared folders. */
export const RESERVED_NAMES: readonly string[] = ['crm', 'stock', 'behavior', 'kit', 'gateway'];

/** The longest subgraph name. */
export const MAX_NAME_LENGTH = 30;

/** The gateway's default port: a new subgraph's port is above it and above every routing URL's. */
const GATEWAY_PORT = 4000;

/** The scaffold refused its input (a bad or taken name, a bad flag): nothing was written. Exit code 2. */
export class ScaffoldRefused extends Error {
  /** The process exit code for this refusal. */
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'ScaffoldRefused';
  }
}

/** Options of `scaffoldSubgraph`. */
export interface ScaffoldOptions {
  /** The new subgraph's name, e.g. `loyalty`. */
  name: string;
  /** The repository to scaffold in; defaults to this one. */
  root?: string;
}

/** What `scaffoldSubgraph` did. */
export interface ScaffoldResult {
  names: SubgraphNames;
  routingUrl: string;
  /** Files created, relative to the root. */
  created: string[];
  /** Files changed, relative to the root. */
  changed: string[];
}

/** Why `name` is not a valid subgraph name, or `undefined` when it is. */
export function nameProblem(name: string): string | undefined {
  if (name === '') return 'a subgraph name is required, e.g. `npm run new-subgraph -- loyalty`.';
  if (name.length > MAX_NAME_LENGTH) return `"${name}" is ${name.length} characters long; a subgraph name has at most ${MAX_NAME_LENGTH}.`;
  if (!/^[a-z][a-z0-9-]*$/.test(name)) {
    return `"${name}" is not a valid subgraph name: use lower-case letters, digits and hyphens, starting with a letter (e.g. loyalty, gift-cards).`;
  }
  if (name.endsWith('-') || name.includes('--')) return `"${name}" is not a valid subgraph name: a hyphen must sit between two letters or digits (e.g. gift-cards).`;
  return undefined;
}

/**
 * Creates `subgraphs/<name>/` and its test from the templates, registers it in `schema/supergraph.yaml`
 * with the next free port, adds `start:<name>` to `package.json`, and recomposes `schema/supergraph.graphql`.
 * Throws `ScaffoldRefused`, having written nothing, for a bad or taken name or a schema that would not compose.
 */
export function scaffoldSubgraph(options: ScaffoldOptions): ScaffoldResult {
  const root = resolve(options.root ?? REPO_ROOT);
  const name = options.name;
  const problem = nameProblem(name);
  if (problem) throw new ScaffoldRefused(problem);

  const registryFile = join(root, 'schema', 'supergraph.yaml');
  const supergraphFile = join(root, 'schema', 'supergraph.graphql');
  const packageFile = join(root, 'package.json');
  for (const file of [registryFile, packageFile]) {
    if (!existsSync(file)) throw new ScaffoldRefused(`${root} is not a Tailor checkout: ${relative(root, file)} is missing (check --root).`);
  }
  const registry = readRegistry(registryFile);
  const packageText = readFileSync(packageFile, 'utf8');
  const scripts: Record<string, string> = (JSON.parse(packageText) as { scripts?: Record<string, string> }).scripts ?? {};

  const names = subgraphNames(name, nextFreePort(registry));
  const paths = subgraphPaths(names);
  const taken = [
    RESERVED_NAMES.includes(name) && `"${name}" is one of Tailor's own services or folders (${RESERVED_NAMES.join(', ')}).`,
    registry.some((s) => s.name === name) && `"${name}" is already registered in schema/supergraph.yaml.`,
    existsSync(join(root, paths.dir)) && `${paths.dir}/ already exists.`,
    existsSync(join(root, paths.test)) && `${paths.test} already exists.`,
    scripts[`start:${name}`] !== undefined && `package.json already has a "start:${name}" script.`,
  ].filter((reason): reason is string => typeof reason === 'string');
  if (taken.length > 0) throw new ScaffoldRefused(`The name "${name}" is taken: ${taken.join(' ')} Choose another name.`);

  const files = renderSubgraphFiles(names);
  const routingUrl = `http://127.0.0.1:${names.port}/graphql`;
  const schemaFile = join(root, paths.schema);

  // Compose in memory first: a name whose field or type clashes with the graph is refused before any write.
  const candidate: RegisteredSubgraph = { name, url: routingUrl, file: schemaFile, sdl: files[paths.schema] };
  const trial = composeSupergraph([...registry, candidate]);
  if ('errors' in trial) {
    throw new ScaffoldRefused(
      `A subgraph named "${name}" would not compose with the graph (its field is User.${names.camel}, its type ${names.pascal}Info):\n` +
        `${trial.errors.map((e) => `  - ${e}`).join('\n')}\nChoose another name.`,
    );
  }

  const registryText = readFileSync(registryFile, 'utf8');
  const supergraphText = existsSync(supergraphFile) ? readFileSync(supergraphFile, 'utf8') : undefined;
  const created: string[] = [];
  try {
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text, { flag: 'wx' });
      created.push(path);
    }
    writeFileSync(registryFile, withRegistryEntry(registryText, name, routingUrl, relative(dirname(registryFile), schemaFile)));
    writeFileSync(packageFile, withStartScript(packageText, `start:${name}`, startScript(names)));
    // Recompose from what is now on disk, exactly as `npm run compose` does.
    const result = composeSupergraph(readRegistry(registryFile));
    if ('errors' in result) throw new Error(`composition failed after registering "${name}":\n${result.errors.join('\n')}`);
    writeFileSync(supergraphFile, result.supergraphSdl);
  } catch (error) {
    // Put everything back as it was: a half-made subgraph is worse than none.
    for (const path of created) rmSync(join(root, path), { force: true });
    rmSync(join(root, paths.dir), { recursive: true, force: true });
    writeFileSync(registryFile, registryText);
    writeFileSync(packageFile, packageText);
    if (supergraphText !== undefined) writeFileSync(supergraphFile, supergraphText);
    throw error;
  }
  return {
    names,
    routingUrl,
    created,
    changed: [relative(root, registryFile), relative(root, packageFile), relative(root, supergraphFile)],
  };
}

/** The port after the highest one the registry's routing URLs and the gateway use. */
function nextFreePort(registry: RegisteredSubgraph[]): number {
  const ports = registry.map((s) => Number(new URL(s.url).port)).filter((p) => Number.isInteger(p) && p > 0);
  return Math.max(GATEWAY_PORT, ...ports) + 1;
}

/** The registry text with one more subgraph, appended so that comments and layout stay as they are. */
function withRegistryEntry(text: string, name: string, routingUrl: string, schemaFile: string): string {
  const entry = { routing_url: routingUrl, schema: { file: schemaFile } };
  const appended = `${text.endsWith('\n') ? text : `${text}\n`}  ${name}:\n    routing_url: ${routingUrl}\n    schema:\n      file: ${schemaFile}\n`;
  const parsed = parseYaml(appended) as { subgraphs?: Record<string, unknown> } | null;
  if (JSON.stringify(parsed?.subgraphs?.[name]) === JSON.stringify(entry)) return appended;
  // The registry is laid out differently (e.g. `subgraphs:` is not last): edit it as a YAML document.
  const doc = parseDocument(text);
  doc.setIn(['subgraphs', name], entry);
  return doc.toString();
}

/** The package.json text with one more script, inserted after the last `start:*` one so the diff is one line. */
function withStartScript(text: string, script: string, command: string): string {
  const lines = text.split('\n');
  const last = lines.reduce((found, line, i) => (/^\s*"start(:[^"]*)?"\s*:/.test(line) ? i : found), -1);
  if (last >= 0) {
    const indent = /^\s*/.exec(lines[last])![0];
    const hasComma = lines[last].trimEnd().endsWith(',');
    const inserted = [...lines];
    if (!hasComma) inserted[last] = `${lines[last].trimEnd()},`;
    inserted.splice(last + 1, 0, `${indent}${JSON.stringify(script)}: ${JSON.stringify(command)}${hasComma ? ',' : ''}`);
    const result = inserted.join('\n');
    try {
      if ((JSON.parse(result) as { scripts?: Record<string, string> }).scripts?.[script] === command) return result;
    } catch {
      // fall through to a full rewrite
    }
  }
  const pkg = JSON.parse(text) as { scripts?: Record<string, string> };
  pkg.scripts = { ...pkg.scripts, [script]: command };
  return `${JSON.stringify(pkg, null, 2)}\n`;
}

const USAGE = `Usage: npm run new-subgraph -- <name> [--root <dir>]

Creates subgraphs/<name>/ (schema, config, store, loaders, resolvers, main) and tests/subgraphs/<name>.test.ts,
registers it in schema/supergraph.yaml with the next free port, adds "start:<name>" to package.json and
recomposes schema/supergraph.graphql.

  <name>        lower-case letters, digits and hyphens, starting with a letter, at most ${MAX_NAME_LENGTH} characters
  --root <dir>  the repository to scaffold in (default: ${REPO_ROOT})
  --help        this text

See docs/adding-a-subgraph.md.`;

/** Parses the command line; throws `ScaffoldRefused` for a bad flag or a missing name. */
export function parseArgs(argv: string[]): ScaffoldOptions | 'help' {
  const positional: string[] = [];
  let root: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') return 'help';
    if (arg === '--root' || arg.startsWith('--root=')) {
      const value = arg === '--root' ? argv[++i] : arg.slice('--root='.length);
      if (!value) throw new ScaffoldRefused('--root needs a directory, e.g. --root /tmp/tailor-copy.');
      root = value;
    } else if (arg.startsWith('-')) {
      throw new ScaffoldRefused(`unknown flag ${arg}.\n\n${USAGE}`);
    } else {
      positional.push(arg);
    }
  }
  if (positional.length !== 1) {
    throw new ScaffoldRefused(positional.length === 0 ? `a subgraph name is required.\n\n${USAGE}` : `one name at a time, got ${positional.join(', ')}.`);
  }
  return { name: positional[0], root };
}

function main(argv: string[]): void {
  try {
    const options = parseArgs(argv);
    if (options === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return;
    }
    const result = scaffoldSubgraph(options);
    const { name, camel, port } = result.names;
    const width = Math.max(...describeFiles(result.names).map(([path]) => path.length));
    process.stdout.write(
      [
        `Created the "${name}" subgraph:`,
        ...describeFiles(result.names).map(([path, what]) => `  ${path.padEnd(width)}  ${what}`),
        `Registered it in schema/supergraph.yaml (routing_url ${result.routingUrl}),`,
        `added "start:${name}" to package.json, and recomposed schema/supergraph.graphql.`,
        '',
        'Next:',
        `  npm test                    # includes ${subgraphPaths(result.names).test}`,
        `  npm start                   # every subgraph of the registry, ${name} included; restart it if it was running`,
        `  curl -s http://127.0.0.1:4000/graphql -H 'content-type: application/json' \\`,
        `    -d '{"query":"{ user(id: \\"u-00001\\") { ${camel} { __typename userId note updatedAt } } }"}'`,
        '',
        'Then make it yours: docs/adding-a-subgraph.md.',
        '',
      ].join('\n'),
    );
  } catch (error) {
    if (error instanceof ScaffoldRefused) {
      process.stderr.write(`new-subgraph: ${error.message}\n`);
      process.exit(error.exitCode);
    }
    process.stderr.write(`new-subgraph: failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  }
}

if (require.main === module) main(process.argv.slice(2));
