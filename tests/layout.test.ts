import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { planStack } from '../scripts/startStack';

// The dependency rules of the README's "Project layout": each folder is one layer, and imports only
// point down. Checked on the import paths of every source file, as written.

const ROOT = join(__dirname, '..');

/** Every `.ts`/`.tsx`/`.cjs`/`.js` file under `dir` (repository-relative), but node_modules and built assets. */
function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (sub: string) => {
    for (const entry of readdirSync(join(ROOT, sub), { withFileTypes: true })) {
      const path = join(sub, entry.name);
      if (entry.name === 'node_modules' || entry.name === 'dist' || entry.name.startsWith('.')) continue;
      if (entry.isDirectory()) walk(path);
      else if (/\.(ts|tsx|cjs|js)$/.test(entry.name)) out.push(path.split(sep).join('/'));
    }
  };
  if (existsSync(join(ROOT, dir))) walk(dir);
  return out;
}

/** The relative imports of a source file, resolved to repository-relative paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const specifiers = [
    ...text.matchAll(/\bfrom\s+['"]([^'"]+)['"]/g),
    ...text.matchAll(/\bimport\s+['"]([^'"]+)['"]/g),
    ...text.matchAll(/\b(?:require|import)\(\s*['"]([^'"]+)['"]\s*\)/g),
  ].map((m) => m[1]);
  return specifiers
    .filter((s) => s.startsWith('.'))
    .map((s) => relative(ROOT, resolve(ROOT, dirname(file), s)).split(sep).join('/'));
}

/** The layer of a repository-relative path: `kit`, `gateway`, `subgraphs/kit`, `subgraphs/<name>`, `schema`, … */
function layerOf(path: string): string {
  const [top, second] = path.split('/');
  return top === 'subgraphs' && second ? `subgraphs/${second}` : top;
}

/** What each layer may import, besides itself and npm packages. */
const ALLOWED: Record<string, (target: string, from: string) => boolean> = {
  kit: () => false,
  demo: () => false,
  gateway: (t) => t === 'kit',
  'subgraphs/kit': (t) => t === 'kit',
  // A subgraph builds on both kits and seeds from demo/; never on another subgraph or the gateway.
  subgraph: (t) => t === 'kit' || t === 'subgraphs/kit' || t === 'demo',
  // Tools run beside the services: they may read any runtime layer, never tests or benchmarks.
  scripts: (t) => !['tests', 'bench'].includes(t),
  examples: (t) => !['tests', 'bench'].includes(t),
  bench: (t) => t !== 'tests',
};

function violations(): string[] {
  const problems: string[] = [];
  for (const folder of ['kit', 'demo', 'gateway', 'subgraphs', 'scripts', 'examples', 'bench', 'schema']) {
    for (const file of sourceFiles(folder)) {
      const from = layerOf(file);
      const rule = ALLOWED[from.startsWith('subgraphs/') && from !== 'subgraphs/kit' ? 'subgraph' : from];
      for (const target of importsOf(file)) {
        const to = layerOf(target);
        if (to === from) continue;
        if (!rule?.(to, from)) problems.push(`${file} imports ${target} (${from} → ${to})`);
      }
    }
  }
  return problems;
}

describe('the layout', () => {
  it('has imports that only point down: kit ← gateway, kit ← subgraphs/kit ← subgraphs/<name>; no runtime file imports tests/ or bench/', () => {
    expect(violations()).toEqual([]);
  });

  it('keeps schema/ as data: no code in it', () => {
    expect(sourceFiles('schema')).toEqual([]);
  });

  it('names no subgraph and no demo id under gateway/src (the bundled sandbox assets aside)', () => {
    const names = planStack().map((s) => s.name);
    expect(names.length).toBeGreaterThan(0);
    const word = new RegExp(`\\b(${names.join('|')})\\b|\\bu-\\d{5}\\b`, 'i');
    const found = sourceFiles('gateway/src')
      .flatMap((file) => readFileSync(join(ROOT, file), 'utf8').split('\n').map((line, i) => ({ file, line: i + 1, text: line })))
      .filter((l) => word.test(l.text))
      .map((l) => `${l.file}:${l.line}: ${l.text.trim()}`);
    expect(found).toEqual([]);
  });

  it('catches what it guards: a subgraph importing another, and the gateway importing a subgraph', () => {
    // The rules themselves, applied to imports the repository must never have.
    const subgraph = ALLOWED.subgraph;
    expect(subgraph('subgraphs/stock', 'subgraphs/crm')).toBe(false);
    expect(ALLOWED.gateway('subgraphs/kit', 'gateway')).toBe(false);
    expect(ALLOWED.gateway('schema', 'gateway')).toBe(false);
    expect(ALLOWED.kit('gateway', 'kit')).toBe(false);
    expect(ALLOWED.scripts('tests', 'scripts')).toBe(false);
    expect(importsOf('gateway/src/startGateway.ts')).toContain('kit/apolloDefaults');
    expect(layerOf('subgraphs/crm/src/crmStore.ts')).toBe('subgraphs/crm');
  });
});
