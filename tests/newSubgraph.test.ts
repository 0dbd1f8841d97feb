import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSchema, getNamedType, isObjectType } from 'graphql';
import { parse as parseYaml } from 'yaml';
import { loadGatewayConfig } from '../gateway/src/config';
import { type RunningGateway, startGateway } from '../gateway/src/startGateway';
import { composeSupergraph } from '../scripts/composition/composeSupergraph';
import { readRegistry } from '../scripts/composition/readRegistry';
import { createLogger } from '../kit/logger';
import { LOOPBACK_ONLY } from './support/processStack';
import { type InProcessStack, startInProcessStack } from './support/inProcessStack';

const ROOT = join(__dirname, '..');

/** A copy of the parts of the repository the scaffold and its test need, with node_modules linked. */
function copyRepo(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tailor-new-subgraph-'));
  for (const part of ['schema', 'subgraphs', 'scripts', 'package.json', 'tsconfig.json', join('tests', 'support')]) {
    cpSync(join(ROOT, part), join(dir, part), { recursive: true });
  }
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

/** Every file under `dir` (but node_modules) with a hash of its content: to prove nothing was written. */
function snapshot(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (sub: string) => {
    for (const entry of readdirSync(join(dir, sub), { withFileTypes: true })) {
      const path = join(sub, entry.name);
      if (entry.name === 'node_modules') continue;
      if (entry.isDirectory()) {
        files[`${path}/`] = 'dir';
        walk(path);
      } else files[path] = createHash('sha256').update(readFileSync(join(dir, path))).digest('hex');
    }
  };
  walk('');
  return files;
}

/** Runs `npm run new-subgraph` (its script) in `root`, as a partner would. */
function scaffold(root: string, ...args: string[]) {
  const run = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'scripts', 'newSubgraph.ts'), ...args, '--root', root], {
    cwd: root,
    encoding: 'utf8',
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** Starts a subgraph process with the command of its `start:<name>` script, and waits until it listens. */
function startScriptProcess(root: string, script: string, args: string[]): Promise<{ child: ChildProcess; url: string }> {
  const [node, ...nodeArgs] = script.split(' ');
  expect(node).toBe('node');
  const child = spawn(process.execPath, ['--require', LOOPBACK_ONLY, ...nodeArgs, ...args], { cwd: root, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the subgraph exited during start-up (code ${code}):\n${stderr}`)));
    child.on('message', (message: { type?: string; url?: string }) => {
      if (message?.type === 'listening') resolve({ child, url: message.url! });
    });
  });
}

describe('npm run new-subgraph', () => {
  let root: string;
  let originalPackageJson: string;
  beforeAll(() => {
    root = copyRepo();
    originalPackageJson = readFileSync(join(root, 'package.json'), 'utf8');
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('refuses a bad name with exit code 2, writing nothing', () => {
    const before = snapshot(root);
    for (const name of ['Loyalty', '9lives', 'gift_cards', 'reviews-', 'x'.repeat(31)]) {
      const run = scaffold(root, name);
      expect({ name, status: run.status }).toEqual({ name, status: 2 });
      expect(run.stderr).toMatch(/^new-subgraph: .*(not a valid subgraph name|at most 30|name is required)/);
    }
    expect(snapshot(root)).toEqual(before);
  }, 180_000);

  it('refuses a taken name (a built-in service, a registered subgraph, an existing folder) with exit code 2, writing nothing', () => {
    mkdirSync(join(root, 'subgraphs', 'reviews'));
    const before = snapshot(root);
    for (const [name, reason] of [
      ['crm', /one of Tailor's own services/],
      ['kit', /one of Tailor's own services/],
      ['reviews', /subgraphs\/reviews\/ already exists/],
    ] as const) {
      const run = scaffold(root, name);
      expect({ name, status: run.status }).toEqual({ name, status: 2 });
      expect(run.stderr).toMatch(new RegExp(`^new-subgraph: The name "${name}" is taken: `));
      expect(run.stderr).toMatch(reason);
    }
    expect(snapshot(root)).toEqual(before);
    rmSync(join(root, 'subgraphs', 'reviews'), { recursive: true });
  }, 180_000);

  it('creates a subgraph in the built-in shape, registers it on the next free port and adds its start script', () => {
    const run = scaffold(root, 'loyalty');
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('Created the "loyalty" subgraph');
    const files = [
      'subgraphs/loyalty/schema.graphql',
      'subgraphs/loyalty/src/config.ts',
      'subgraphs/loyalty/src/loyaltyStore.ts',
      'subgraphs/loyalty/src/loyaltyLoaders.ts',
      'subgraphs/loyalty/src/loyaltyResolvers.ts',
      'subgraphs/loyalty/src/createLoyaltySubgraph.ts',
      'subgraphs/loyalty/src/main.ts',
      'tests/subgraphs/loyalty.test.ts',
    ];
    for (const file of files) {
      expect(existsSync(join(root, file))).toBe(true);
      expect(run.stdout).toContain(file);
    }
    expect(readFileSync(join(root, 'subgraphs/loyalty/src/loyaltyStore.ts'), 'utf8')).toContain('json_each');
    const registry = parseYaml(readFileSync(join(root, 'schema', 'supergraph.yaml'), 'utf8'));
    expect(registry.subgraphs.loyalty).toEqual({ routing_url: 'http://127.0.0.1:4004/graphql', schema: { file: '../subgraphs/loyalty/schema.graphql' } });
    const scripts = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts;
    expect(scripts['start:loyalty']).toBe('node --max-semi-space-size=64 --import tsx subgraphs/loyalty/src/main.ts');
    // The original package.json, plus exactly one line.
    const originalLines = originalPackageJson.split('\n');
    const added = readFileSync(join(root, 'package.json'), 'utf8').split('\n').filter((line) => !originalLines.includes(line));
    expect(added).toEqual(['    "start:loyalty": "node --max-semi-space-size=64 --import tsx subgraphs/loyalty/src/main.ts",']);
  });

  it('then refuses the same name again, writing nothing', () => {
    const before = snapshot(root);
    const run = scaffold(root, 'loyalty');
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/The name "loyalty" is taken: .*already registered in schema\/supergraph\.yaml/);
    expect(snapshot(root)).toEqual(before);
  }, 60_000);

  it('recomposes the supergraph with User.loyalty, exactly as npm run compose would', () => {
    const supergraph = readFileSync(join(root, 'schema', 'supergraph.graphql'), 'utf8');
    const composed = composeSupergraph(readRegistry(join(root, 'schema', 'supergraph.yaml')));
    if ('errors' in composed) throw new Error(composed.errors.join('\n'));
    expect(supergraph).toBe(composed.supergraphSdl);
    const user = buildSchema(supergraph).getType('User');
    if (!isObjectType(user)) throw new Error('User is not an object type in the supergraph');
    const field = user.getFields().loyalty;
    expect(String(field?.type)).toBe('LoyaltyInfo!');
    const info = getNamedType(field.type);
    expect(isObjectType(info) && Object.keys(info.getFields())).toEqual(['userId', 'note', 'updatedAt']);
  });

  it("passes the generated subgraph's own test (jest, in the scaffolded repository)", () => {
    const env = { ...process.env };
    delete env.JEST_WORKER_ID;
    const run = spawnSync(process.execPath, [join(root, 'node_modules', 'jest', 'bin', 'jest.js'), '--ci', 'tests/subgraphs/loyalty.test.ts'], {
      cwd: root,
      env,
      encoding: 'utf8',
    });
    const output = `${run.stdout}\n${run.stderr}`;
    if (run.status !== 0) throw new Error(`the generated test failed (exit ${run.status}):\n${output}`);
    expect(output).toMatch(/Tests:\s+3 passed, 3 total/);
    expect(output).toContain('answers _entities with User.loyalty, in one SQL statement per batch');
  }, 180_000);

  describe('through a real gateway serving the recomposed supergraph', () => {
    let stack: InProcessStack;
    let loyalty: { child: ChildProcess; url: string } | undefined;
    let gateway: RunningGateway | undefined;

    beforeAll(async () => {
      stack = await startInProcessStack();
      stack.crm.store.upsertUsers([{ id: 'u1', email: 'u1@example.com' }]);
      const script = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts['start:loyalty'] as string;
      loyalty = await startScriptProcess(root, script, ['--port', '0', '--host', '127.0.0.1', '--data-dir', join(root, 'data'), '--log-level', 'warn']);
      const { crm, stock, behavior } = stack.urls;
      gateway = await startGateway(
        loadGatewayConfig({
          env: {
            TAILOR_SUPERGRAPH: join(root, 'schema', 'supergraph.graphql'),
            TAILOR_WATCH_SUPERGRAPH: 'false',
            TAILOR_SUBGRAPH_URLS: `crm=${crm}/graphql,stock=${stock}/graphql,behavior=${behavior}/graphql,loyalty=${loyalty.url}/graphql`,
          },
          argv: ['--port', '0'],
        }),
        createLogger('gateway', 'silent'),
      );
    }, 120_000);

    afterAll(async () => {
      await gateway?.close();
      if (loyalty && loyalty.child.exitCode === null) {
        const exited = new Promise((resolve) => loyalty!.child.once('exit', resolve));
        loyalty.child.kill('SIGTERM');
        await exited;
      }
      await stack?.close();
    });

    const query = async (text: string) => {
      const response = await fetch(`${gateway!.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: text }),
      });
      return { status: response.status, body: (await response.json()) as { data?: any; errors?: unknown[] } };
    };

    it('answers { user(id: "u1") { id loyalty { __typename } } } without errors', async () => {
      const res = await query('{ user(id: "u1") { id loyalty { __typename } } }');
      expect(res.body.errors).toBeUndefined();
      expect(res.status).toBe(200);
      expect(res.body.data).toEqual({ user: { id: 'u1', loyalty: { __typename: 'LoyaltyInfo' } } });
    });

    it('serves what the partner loaded into the subgraph (POST /ingest/loyalty), next to crm fields', async () => {
      const ingest = await fetch(`${loyalty!.url}/ingest/loyalty`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify([{ userId: 'u1', note: 'double points this week' }]),
      });
      expect(await ingest.json()).toEqual({ accepted: 1, duplicates: 0, stale: 0 });
      const res = await query('{ user(id: "u1") { email loyalty { userId note } } }');
      expect(res.body.errors).toBeUndefined();
      expect(res.body.data).toEqual({ user: { email: 'u1@example.com', loyalty: { userId: 'u1', note: 'double points this week' } } });
    });
  });
});
