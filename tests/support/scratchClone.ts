import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
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
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: REPO_ROOT, encoding: 'utf8' })
    .split('\0')
    .filter((file) => file && existsSync(join(REPO_ROOT, file)));
  for (const file of files) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    cpSync(join(REPO_ROOT, file), join(dir, file));
  }
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
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
