import { execFileSync } from 'node:child_process';
import { dirname, relative } from 'node:path';
import { SUPERGRAPH_FILE } from './readRegistry';

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
