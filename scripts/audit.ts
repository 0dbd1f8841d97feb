import { existsSync } from 'node:fs';
import { type AuditEntry, DEFAULT_AUDIT_READ_LIMIT, createAuditLog } from '../gateway/src/auditLog';
import { gatewayDatabasePath, openGatewayDatabase } from '../gateway/src/gatewayDatabase';
import { UsageError, alignColumns, dataDirOf, parseFlags, positiveIntFlag } from './keys';

// `npm run audit`: prints the gateway's audit log, oldest first.

const USAGE = `Usage: npm run audit -- [options]

  --since <ISO time>   entries at or after this time, e.g. 2025-01-31T09:00:00Z
  --actor <name>       entries of this actor, e.g. cli:alice
  --action <action>    entries of this action, e.g. key.create
  --limit N            the last N matching entries (default ${DEFAULT_AUDIT_READ_LIMIT})
  --json               print the entries as JSON
  --data-dir <dir>     data folder (default: TAILOR_DATA_DIR, else data); the log lives in <dir>/gateway.db
`;

/** What `npm run audit` was asked for. */
export interface AuditCommand {
  help: boolean;
  dataDir: string;
  since?: string;
  actor?: string;
  action?: string;
  limit: number;
  json: boolean;
}

/** Parses the arguments of `npm run audit`; throws a UsageError naming what is wrong. */
export function parseAuditArgs(argv: readonly string[], env: Record<string, string | undefined> = {}): AuditCommand {
  if (argv.includes('--help') || argv.includes('-h')) return { help: true, dataDir: '', limit: DEFAULT_AUDIT_READ_LIMIT, json: false };
  const flags = parseFlags(argv, { values: ['since', 'actor', 'action', 'limit', 'data-dir'], switches: ['json'] });
  if (flags.positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(flags.positionals[0])} (filters are given as --name value)`);
  const since = flags.values.get('since');
  if (since !== undefined && Number.isNaN(new Date(since).getTime())) throw new UsageError(`--since must be an ISO time, e.g. 2025-01-31T09:00:00Z, got ${JSON.stringify(since)}`);
  return {
    help: false,
    dataDir: dataDirOf(flags, env),
    since,
    actor: flags.values.get('actor'),
    action: flags.values.get('action'),
    limit: positiveIntFlag(flags, 'limit') ?? DEFAULT_AUDIT_READ_LIMIT,
    json: flags.switches.has('json'),
  };
}

/** The entries as aligned lines: time, actor, action, target, outcome, and the detail as compact JSON. */
export function formatAuditEntries(entries: AuditEntry[]): string {
  return alignColumns(entries.map((e) => [e.at, e.actor, e.action, e.target ?? '-', e.outcome, e.detail === null ? '' : JSON.stringify(e.detail)]));
}

function main(argv: string[], env: Record<string, string | undefined>): number {
  let command: AuditCommand;
  try {
    command = parseAuditArgs(argv, env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`audit: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (command.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const file = gatewayDatabasePath(command.dataDir);
  if (file !== ':memory:' && !existsSync(file)) {
    process.stderr.write(`audit: No gateway database at ${file}: nothing was ever recorded there. Check --data-dir (or TAILOR_DATA_DIR).\n`);
    return 1;
  }
  try {
    const db = openGatewayDatabase(file);
    try {
      const entries = createAuditLog(db).read({ since: command.since, actor: command.actor, action: command.action, limit: command.limit });
      if (command.json) process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
      else if (entries.length === 0) process.stdout.write('No audit entries match.\n');
      else process.stdout.write(formatAuditEntries(entries));
      return 0;
    } finally {
      db.close();
    }
  } catch (error) {
    process.stderr.write(`audit: ${(error as Error).message}\n`);
    return 1;
  }
}

if (require.main === module) process.exitCode = main(process.argv.slice(2), process.env);
