import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { checkSupergraph } from './composition/checkSupergraph';
import { composeSupergraph, formatCompositionErrors } from './composition/composeSupergraph';
import { type ApiBreakingChange, findApiBreakingChanges } from './composition/findApiBreakingChanges';
import { readCommittedSupergraph } from './composition/readCommittedSupergraph';
import { SUPERGRAPH_FILE, displayPath, readRegistry } from './composition/readRegistry';

// `npm run compose`: composes schema/supergraph.yaml into schema/supergraph.graphql, or checks it.

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
    const result = composeSupergraph(subgraphs);
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
