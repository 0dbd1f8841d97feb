import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { readRegistry } from '../../scripts/composition/readRegistry';

/** The repository root. */
export const REPO_ROOT = join(__dirname, '..', '..');

/**
 * A scratch clone of the working tree: every file git tracks or would track (committed or not, but
 * nothing it ignores), in a fresh temporary folder, with node_modules linked to this checkout's.
 */
export function scratchClone(prefix = 'tailor-scratch-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const files = projectFiles().filter((file) => existsSync(join(REPO_ROOT, file)));
  for (const file of files) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    cpSync(join(REPO_ROOT, file), join(dir, file));
  }
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

/** The project's files, repository-relative: what git tracks or would track, or, outside a git checkout (a scratch clone), every file but the folders .gitignore names. */
function projectFiles(): string[] {
  try {
    return execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\0')
      .filter(Boolean);
  } catch {
    const ignored = new Set(
      readFileSync(join(REPO_ROOT, '.gitignore'), 'utf8')
        .split('\n')
        .map((line) => line.trim().replace(/\/$/, ''))
        .filter((line) => line && !line.startsWith('#')),
    );
    const skip = (entry: string) => entry === '.git' || ignored.has(entry) || [...ignored].some((p) => p.startsWith('*.') && entry.endsWith(p.slice(1)));
    const out: string[] = [];
    const walk = (sub: string) => {
      for (const entry of readdirSync(join(REPO_ROOT, sub), { withFileTypes: true })) {
        if (skip(entry.name)) continue;
        const path = sub ? `${sub}/${entry.name}` : entry.name;
        if (entry.isDirectory()) walk(path);
        else out.push(path);
      }
    };
    walk('');
    return out;
  }
}

/** `loyalty`, the README's example, or the first `loyalty-<n>` that no subgraph of `root` has taken. */
export function freeSubgraphName(root: string): string {
  const taken = new Set(readRegistry(join(root, 'schema', 'supergraph.yaml')).map((s) => s.name));
  for (let n = 1; ; n++) {
    const name = n === 1 ? 'loyalty' : `loyalty-${n}`;
    if (!taken.has(name) && !existsSync(join(root, 'subgraphs', name)) && !existsSync(join(root, 'tests', 'subgraphs', `${name}.test.ts`))) return name;
  }
}

/** The port a new subgraph of `root` gets: one above every routing URL's port, and above the gateway's 4000. */
export function nextPort(root: string): number {
  const ports = readRegistry(join(root, 'schema', 'supergraph.yaml')).map((s) => Number(new URL(s.url).port) || 0);
  return Math.max(4000, ...ports) + 1;
}
