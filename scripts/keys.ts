import { existsSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { type ConstValueNode, Kind, type ValueNode, parse, visit } from 'graphql';
import { createAuditLog } from '../gateway/src/auditLog';
import { type ClientKey, KeyStoreError, SCOPE_PATTERN, createKeyStore } from '../gateway/src/clientKeys';
import { gatewayDatabasePath, openGatewayDatabase } from '../gateway/src/gatewayDatabase';
import { PRIVACY_SDL_FILE } from '../gateway/src/privacyOperations';
import { displayPath } from './composition/readRegistry';

// `npm run keys -- <command>`: creates, lists and revokes the API keys clients call the gateway with.

/** The supergraph whose `@requiresScopes` directives name the scopes a key may be given. */
export const DEFAULT_SUPERGRAPH = join(__dirname, '..', 'schema', 'supergraph.graphql');

const USAGE = `Usage: npm run keys -- <command> [options]

  create --name <name> --scopes <scope,scope,…>   create a key; its token is printed once
         [--rate-per-minute N] [--daily-quota N]  limits of this key (default: the gateway's)
         [--supergraph <file>]                    where the known scopes are read (default schema/supergraph.graphql)
         [--allow-unknown-scopes]                 accept scopes no @requiresScopes of the supergraph names
  list [--all] [--json]                           the live keys (--all: the revoked ones too); never a token
  revoke <name-or-id>                             revoke a key; the gateway refuses it from its next request on

  Every command takes --data-dir <dir> (default: TAILOR_DATA_DIR, else data); the keys live in <dir>/gateway.db.
`;

/** Bad command-line input: printed with the usage, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The flags a command accepts: those that take a value and those that are switches. */
export interface FlagSpec {
  values: readonly string[];
  switches: readonly string[];
}

/** A parsed command line: flag values by name, switches given, and the other arguments in order. */
export interface ParsedFlags {
  values: Map<string, string>;
  switches: Set<string>;
  positionals: string[];
}

/** Splits `argv` by `spec` (`--flag value` or `--flag=value`); throws a UsageError for an unknown, repeated or empty flag. */
export function parseFlags(argv: readonly string[], spec: FlagSpec): ParsedFlags {
  const parsed: ParsedFlags = { values: new Map(), switches: new Set(), positionals: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) {
      parsed.positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq > 0 ? eq : undefined);
    if (spec.switches.includes(name)) {
      if (eq > 0) throw new UsageError(`--${name} takes no value`);
      parsed.switches.add(name);
      continue;
    }
    if (!spec.values.includes(name)) {
      const known = [...spec.values, ...spec.switches].map((f) => `--${f}`).join(', ');
      throw new UsageError(`unknown flag --${name} (this command takes ${known || 'no flags'})`);
    }
    if (parsed.values.has(name)) throw new UsageError(`--${name} is given twice`);
    const value = eq > 0 ? arg.slice(eq + 1) : argv[i + 1] !== undefined && !argv[i + 1].startsWith('--') ? argv[++i] : undefined;
    if (value === undefined || value.trim() === '') throw new UsageError(`--${name} needs a value`);
    parsed.values.set(name, value);
  }
  return parsed;
}

/** The data folder: `--data-dir`, else `TAILOR_DATA_DIR`, else `data`. */
export function dataDirOf(flags: ParsedFlags, env: Record<string, string | undefined>): string {
  const fromEnv = env.TAILOR_DATA_DIR?.trim();
  return flags.values.get('data-dir') ?? (fromEnv ? fromEnv : 'data');
}

/** A positive whole number given as `--<flag> N`, or undefined when the flag is absent. */
export function positiveIntFlag(flags: ParsedFlags, name: string): number | undefined {
  const raw = flags.values.get(name);
  if (raw === undefined) return undefined;
  const value = /^\d{1,16}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < 1) throw new UsageError(`--${name} must be a whole number of at least 1, got ${JSON.stringify(raw)}`);
  return value;
}

/** One `npm run keys` command, with its options checked. */
export type KeysCommand =
  | { command: 'help' }
  | {
      command: 'create';
      dataDir: string;
      name: string;
      scopes: string[];
      ratePerMinute?: number;
      dailyQuota?: number;
      supergraph: string;
      allowUnknownScopes: boolean;
    }
  | { command: 'list'; dataDir: string; includeRevoked: boolean; json: boolean }
  | { command: 'revoke'; dataDir: string; idOrName: string };

/** Parses the arguments of `npm run keys`; throws a UsageError naming what is wrong. */
export function parseKeysArgs(argv: readonly string[], env: Record<string, string | undefined> = {}): KeysCommand {
  if (argv.includes('--help') || argv.includes('-h')) return { command: 'help' };
  const [command, ...rest] = argv;
  if (command === undefined) throw new UsageError('a command is needed: create, list or revoke');
  switch (command) {
    case 'create': {
      const flags = parseFlags(rest, { values: ['name', 'scopes', 'rate-per-minute', 'daily-quota', 'supergraph', 'data-dir'], switches: ['allow-unknown-scopes'] });
      if (flags.positionals.length > 0) throw new UsageError(`create takes no argument ${JSON.stringify(flags.positionals[0])} (give the name with --name)`);
      const name = flags.values.get('name');
      if (name === undefined) throw new UsageError('create needs --name, e.g. --name braze');
      const scopes = (flags.values.get('scopes') ?? '').split(',').map((s) => s.trim()).filter(Boolean);
      if (scopes.length === 0) throw new UsageError('create needs --scopes, e.g. --scopes recipients:read,pii:read');
      return {
        command,
        dataDir: dataDirOf(flags, env),
        name,
        scopes,
        ratePerMinute: positiveIntFlag(flags, 'rate-per-minute'),
        dailyQuota: positiveIntFlag(flags, 'daily-quota'),
        supergraph: flags.values.get('supergraph') ?? DEFAULT_SUPERGRAPH,
        allowUnknownScopes: flags.switches.has('allow-unknown-scopes'),
      };
    }
    case 'list': {
      const flags = parseFlags(rest, { values: ['data-dir'], switches: ['all', 'json'] });
      if (flags.positionals.length > 0) throw new UsageError(`list takes no argument ${JSON.stringify(flags.positionals[0])}`);
      return { command, dataDir: dataDirOf(flags, env), includeRevoked: flags.switches.has('all'), json: flags.switches.has('json') };
    }
    case 'revoke': {
      const flags = parseFlags(rest, { values: ['data-dir'], switches: [] });
      if (flags.positionals.length !== 1) throw new UsageError('revoke needs exactly one key name or id, e.g. revoke braze');
      return { command, dataDir: dataDirOf(flags, env), idOrName: flags.positionals[0] };
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)} (commands: create, list, revoke)`);
  }
}

/**
 * Every scope the `@requiresScopes(scopes: [[…]])` directives of a supergraph name, sorted. The
 * directive is found under the name its `@link` gives it (`as:`), `requiresScopes` by default.
 */
export function scopesOfSupergraph(sdl: string): string[] {
  const document = parse(sdl);
  const names = new Set(['requiresScopes']);
  visit(document, {
    Directive(node) {
      if (node.name.value !== 'link') return;
      const url = node.arguments?.find((a) => a.name.value === 'url')?.value;
      const as = node.arguments?.find((a) => a.name.value === 'as')?.value;
      if (url?.kind === Kind.STRING && /\/requiresScopes\/v[\d.]+$/.test(url.value) && as?.kind === Kind.STRING) names.add(as.value);
    },
  });
  const scopes = new Set<string>();
  const collect = (value: ValueNode | ConstValueNode): void => {
    if (value.kind === Kind.STRING) scopes.add(value.value);
    else if (value.kind === Kind.LIST) value.values.forEach(collect);
  };
  visit(document, {
    Directive(node) {
      if (!names.has(node.name.value)) return;
      const scopesArgument = node.arguments?.find((a) => a.name.value === 'scopes');
      if (scopesArgument) collect(scopesArgument.value);
    },
  });
  return [...scopes].sort();
}

/** Who runs the CLI, as the audit log names them. */
function cliActor(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    // A container user without a passwd entry has a uid but no name.
    return `cli:uid-${process.getuid?.() ?? 'unknown'}`;
  }
}

/** A failure of a well-formed command (a name in use, an unknown scope, no database): exit code 2 or 1, no usage. */
class CommandError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** Runs one command; returns the exit code. */
function run(command: Exclude<KeysCommand, { command: 'help' }>): number {
  const file = gatewayDatabasePath(command.dataDir);
  if (command.command !== 'create' && file !== ':memory:' && !existsSync(file)) {
    throw new CommandError(`No gateway database at ${file}: no key was ever created there. Check --data-dir (or TAILOR_DATA_DIR).`, 1);
  }
  if (command.command === 'create') checkScopesAreKnown(command);
  const db = openGatewayDatabase(file);
  try {
    const store = createKeyStore(db);
    const audit = createAuditLog(db);
    switch (command.command) {
      case 'create': {
        const { name, scopes, ratePerMinute, dailyQuota } = command;
        // The key and its audit entry are committed together, or neither is.
        const { token, key } = db.transaction(() => {
          const created = store.create({ name, scopes, ratePerMinute, dailyQuota });
          audit.append({ actor: cliActor(), action: 'key.create', target: created.key.name, outcome: 'ok', detail: { id: created.key.id, scopes: created.key.scopes } });
          return created;
        }).immediate();
        process.stdout.write(
          [
            `Created key ${key.name} (${key.id}) with scopes ${key.scopes.join(', ')}; ${limitsOf(key)}.`,
            '',
            `  ${token}`,
            '',
            'This is the only time the token is shown: it cannot be shown again, only revoked and replaced.',
            'Give it to the client now; it calls the gateway with `Authorization: Bearer <token>`.',
            '',
          ].join('\n'),
        );
        return 0;
      }
      case 'list': {
        const keys = store.list({ includeRevoked: command.includeRevoked });
        if (command.json) process.stdout.write(`${JSON.stringify(keys, null, 2)}\n`);
        else if (keys.length === 0) process.stdout.write(`No ${command.includeRevoked ? '' : 'live '}keys. Create one with: npm run keys -- create --name <name> --scopes <scopes>\n`);
        else process.stdout.write(table(keys));
        return 0;
      }
      case 'revoke': {
        const key = db.transaction(() => {
          const revoked = store.revoke(command.idOrName);
          audit.append({
            actor: cliActor(),
            action: 'key.revoke',
            target: revoked?.name ?? command.idOrName,
            outcome: revoked ? 'ok' : 'refused',
            ...(revoked ? { detail: { id: revoked.id, scopes: revoked.scopes } } : {}),
          });
          return revoked;
        }).immediate();
        if (!key) throw new CommandError(`No live key is named or has the id ${JSON.stringify(command.idOrName)}: nothing was revoked (npm run keys -- list --all shows every key).`, 1);
        process.stdout.write(
          `Revoked key ${key.name} (${key.id}). The gateway refuses it from its next request on; no restart is needed.\n` +
            (store.hasLiveKeys() ? '' : 'No live key remains.\n'),
        );
        return 0;
      }
    }
  } finally {
    db.close();
  }
}

/** Refuses scopes that no `@requiresScopes` of the supergraph names, unless `--allow-unknown-scopes`. */
function checkScopesAreKnown(command: Extract<KeysCommand, { command: 'create' }>): void {
  // A malformed scope is the store's to name, with the rule it breaks.
  if (command.allowUnknownScopes || !command.scopes.every((s) => SCOPE_PATTERN.test(s))) return;
  let sdl: string;
  try {
    sdl = readFileSync(command.supergraph, 'utf8');
  } catch (error) {
    throw new CommandError(`Cannot read the supergraph ${command.supergraph} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): pass --supergraph <file>.`, 2);
  }
  let known: string[];
  try {
    known = scopesOfSupergraph(sdl);
  } catch (error) {
    throw new CommandError(`The supergraph ${command.supergraph} does not parse: ${(error as Error).message}`, 2);
  }
  // A supergraph without @requiresScopes yet: any well-formed scope may be given.
  if (known.length === 0) return;
  // The privacy fields the gateway answers itself declare theirs beside the supergraph.
  known = [...new Set([...known, ...scopesOfSupergraph(readFileSync(PRIVACY_SDL_FILE, 'utf8'))])].sort();
  const unknown = command.scopes.filter((s) => !known.includes(s));
  if (unknown.length > 0) {
    throw new CommandError(
      `Unknown scope${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}: no @requiresScopes of ${displayPath(command.supergraph)} names ${unknown.length > 1 ? 'them' : 'it'}. ` +
        `Known scopes: ${known.join(', ')}. Pass --allow-unknown-scopes to create the key anyway.`,
      2,
    );
  }
}

function limitsOf(key: ClientKey): string {
  const rate = key.ratePerMinute === null ? 'default rate' : `${key.ratePerMinute}/min`;
  const quota = key.dailyQuota === null ? 'default daily quota' : `${key.dailyQuota}/day`;
  return `${rate}, ${quota}`;
}

/** The keys as an aligned text table. */
function table(keys: ClientKey[]): string {
  const rows = [
    ['id', 'name', 'scopes', 'created', 'revoked', 'limits'],
    ...keys.map((k) => [k.id, k.name, k.scopes.join(','), k.createdAt, k.revokedAt ?? '-', limitsOf(k)]),
  ];
  return alignColumns(rows);
}

/** Rows of cells as lines of aligned columns, two spaces apart; the last column is not padded. */
export function alignColumns(rows: string[][]): string {
  const widths = (rows[0] ?? []).map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows.map((row) => `${row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]))).join('  ').trimEnd()}\n`).join('');
}

/** Runs `npm run keys` with `argv`; prints errors without a stack trace and returns the exit code. */
function main(argv: string[], env: Record<string, string | undefined>): number {
  let command: KeysCommand;
  try {
    command = parseKeysArgs(argv, env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`keys: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (command.command === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  try {
    return run(command);
  } catch (error) {
    if (error instanceof KeyStoreError) {
      process.stderr.write(`keys: ${error.message}\n`);
      return 2;
    }
    process.stderr.write(`keys: ${(error as Error).message}\n`);
    return error instanceof CommandError ? error.exitCode : 1;
  }
}

if (require.main === module) process.exitCode = main(process.argv.slice(2), process.env);
