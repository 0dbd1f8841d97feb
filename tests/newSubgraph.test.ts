import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildSchema, getNamedType, isObjectType } from 'graphql';
import { parse as parseYaml } from 'yaml';
import { loadGatewayConfig } from '../gateway/src/config';
import { type RunningGateway, startGateway } from '../gateway/src/startGateway';
import { composeSupergraph } from '../scripts/composition/composeSupergraph';
import { readRegistry } from '../scripts/composition/readRegistry';
import { createLogger } from '../kit/logger';
import { subgraphNames } from '../scripts/subgraphTemplate';
import { LOOPBACK_ONLY } from './support/processStack';
import { freeSubgraphName, nextPort, scratchClone } from './support/scratchClone';
import { RELAXED_DEADLINES, type InProcessStack, startInProcessStack } from './support/inProcessStack';
import { TEST_SUBGRAPH_SECRET, postSigned } from './support/subgraphSigning';

const ROOT = join(__dirname, '..');

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
function startScriptProcess(root: string, script: string, args: string[], env: Record<string, string> = {}): Promise<{ child: ChildProcess; url: string }> {
  const [node, ...nodeArgs] = script.split(' ');
  expect(node).toBe('node');
  const child = spawn(process.execPath, ['--require', LOOPBACK_ONLY, ...nodeArgs, ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
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
    root = scratchClone('tailor-new-subgraph-');
    originalPackageJson = readFileSync(join(root, 'package.json'), 'utf8');
  });
  // The README's example name, or the first free one when a partner has already added it.
  const N = freeSubgraphName(ROOT);
  const names = subgraphNames(N, nextPort(ROOT));
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
    const run = scaffold(root, N);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toContain(`Created the "${N}" subgraph`);
    const files = [
      `subgraphs/${N}/schema.graphql`,
      `subgraphs/${N}/src/config.ts`,
      `subgraphs/${N}/src/${names.camel}Store.ts`,
      `subgraphs/${N}/src/${names.camel}Loaders.ts`,
      `subgraphs/${N}/src/${names.camel}Resolvers.ts`,
      `subgraphs/${N}/src/create${names.pascal}Subgraph.ts`,
      `subgraphs/${N}/src/main.ts`,
      `tests/subgraphs/${N}.test.ts`,
    ];
    for (const file of files) {
      expect(existsSync(join(root, file))).toBe(true);
      expect(run.stdout).toContain(file);
    }
    expect(readFileSync(join(root, `subgraphs/${N}/src/${names.camel}Store.ts`), 'utf8')).toContain('json_each');
    const registry = parseYaml(readFileSync(join(root, 'schema', 'supergraph.yaml'), 'utf8'));
    expect(registry.subgraphs[N]).toEqual({ routing_url: `http://127.0.0.1:${names.port}/graphql`, schema: { file: `../subgraphs/${N}/schema.graphql` } });
    const scripts = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts;
    expect(scripts[`start:${N}`]).toBe(`node --max-semi-space-size=64 --import tsx subgraphs/${N}/src/main.ts`);
    // The original package.json, plus exactly one line.
    const originalLines = originalPackageJson.split('\n');
    const added = readFileSync(join(root, 'package.json'), 'utf8').split('\n').filter((line) => !originalLines.includes(line));
    expect(added).toEqual([`    "start:${N}": "node --max-semi-space-size=64 --import tsx subgraphs/${N}/src/main.ts",`]);
  });

  it('then refuses the same name again, writing nothing', () => {
    const before = snapshot(root);
    const run = scaffold(root, N);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(new RegExp(`The name "${N}" is taken: .*already registered in schema/supergraph\\.yaml`));
    expect(snapshot(root)).toEqual(before);
  }, 60_000);

  it('recomposes the supergraph with the new User field, exactly as npm run compose would', () => {
    const supergraph = readFileSync(join(root, 'schema', 'supergraph.graphql'), 'utf8');
    const composed = composeSupergraph(readRegistry(join(root, 'schema', 'supergraph.yaml')));
    if ('errors' in composed) throw new Error(composed.errors.join('\n'));
    expect(supergraph).toBe(composed.supergraphSdl);
    const user = buildSchema(supergraph).getType('User');
    if (!isObjectType(user)) throw new Error('User is not an object type in the supergraph');
    const field = user.getFields()[names.camel];
    expect(String(field?.type)).toBe(`${names.pascal}Info`);
    const info = getNamedType(field.type);
    expect(isObjectType(info) && Object.keys(info.getFields())).toEqual(['userId', 'note', 'updatedAt']);
  });

  it("passes the generated subgraph's own test (jest, in the scaffolded repository)", () => {
    const env = { ...process.env };
    delete env.JEST_WORKER_ID;
    const run = spawnSync(process.execPath, [join(root, 'node_modules', 'jest', 'bin', 'jest.js'), '--ci', `tests/subgraphs/${N}.test.ts`], {
      cwd: root,
      env,
      encoding: 'utf8',
    });
    const output = `${run.stdout}\n${run.stderr}`;
    if (run.status !== 0) throw new Error(`the generated test failed (exit ${run.status}):\n${output}`);
    expect(output).toMatch(/Tests:\s+3 passed, 3 total/);
    expect(output).toContain(`answers _entities with User.${names.camel}, in one SQL statement per batch`);
  }, 180_000);

  describe('through a real gateway serving the recomposed supergraph', () => {
    let stack: InProcessStack;
    let partner: { child: ChildProcess; url: string } | undefined;
    let gateway: RunningGateway | undefined;

    beforeAll(async () => {
      stack = await startInProcessStack();
      await stack.crm.store.upsertUsers([{ id: 'u1', email: 'u1@example.com' }]);
      const script = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts[`start:${N}`] as string;
      partner = await startScriptProcess(root, script, ['--port', '0', '--host', '127.0.0.1', '--data-dir', join(root, 'data'), '--log-level', 'warn'], {
        // The scaffolded subgraph requires the gateway credential, through the kit, like Tailor's own.
        TAILOR_SUBGRAPH_SECRET: TEST_SUBGRAPH_SECRET,
      });
      const { crm, stock, behavior } = stack.urls;
      gateway = await startGateway(
        loadGatewayConfig({
          env: {
            ...RELAXED_DEADLINES,
            TAILOR_DATA_DIR: ':memory:',
            TAILOR_SUBGRAPH_SECRET: TEST_SUBGRAPH_SECRET,
            TAILOR_SUPERGRAPH: join(root, 'schema', 'supergraph.graphql'),
            TAILOR_WATCH_SUPERGRAPH: 'false',
            TAILOR_SUBGRAPH_URLS: `crm=${crm}/graphql,stock=${stock}/graphql,behavior=${behavior}/graphql,${N}=${partner.url}/graphql`,
          },
          argv: ['--port', '0'],
        }),
        createLogger('gateway', 'silent'),
      );
    }, 120_000);

    afterAll(async () => {
      await gateway?.close();
      if (partner && partner.child.exitCode === null) {
        const exited = new Promise((resolve) => partner!.child.once('exit', resolve));
        partner.child.kill('SIGTERM');
        await exited;
      }
      await stack?.close();
    });

    const query = async (text: string) => {
      const response = await fetch(`${gateway!.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${gateway!.devKey}` },
        body: JSON.stringify({ query: text }),
      });
      return { status: response.status, body: (await response.json()) as { data?: any; errors?: unknown[] } };
    };

    it('answers { user(id: "u1") { id <field> { __typename } } } without errors', async () => {
      const res = await query(`{ user(id: "u1") { id ${names.camel} { __typename } } }`);
      expect(res).toEqual({ status: 200, body: { data: { user: { id: 'u1', [names.camel]: { __typename: `${names.pascal}Info` } } } } });
    });

    it("refuses a call to the partner subgraph's /graphql that does not come from the gateway (401 UNAUTHENTICATED)", async () => {
      const response = await fetch(`${partner!.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ __typename }' }) });
      expect(response.status).toBe(401);
      expect(((await response.json()) as any).errors[0].extensions.code).toBe('UNAUTHENTICATED');
    });

    it('serves what the partner loaded into the subgraph (POST /ingest/<name>), next to crm fields', async () => {
      const ingest = await fetch(`${partner!.url}/ingest/${N}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify([{ userId: 'u1', note: 'double points this week' }]),
      });
      expect(await ingest.json()).toEqual({ accepted: 1, duplicates: 0, stale: 0 });
      const res = await query(`{ user(id: "u1") { email ${names.camel} { userId note } } }`);
      expect(res).toEqual({ status: 200, body: { data: { user: { email: 'u1@example.com', [names.camel]: { userId: 'u1', note: 'double points this week' } } } } });
    });

    it("takes part in eraseUser and exportUser through the kit's privacy hook: its rows are exported, then erased with a receipt, and nothing is left in its database", async () => {
      // Subgraphs of the registry this test does not start (another partner's, in a clone that has one) cannot
      // be reached: their parts and receipts say so, and the answer is not complete. This test's are.
      const exported = await query(`{ exportUser(id: "u1") { complete document } }`);
      expect(exported.status).toBe(200);
      expect(exported.body.data.exportUser.document.unreachable ?? []).not.toContain(N);
      expect(exported.body.data.exportUser.document.subgraphs[N]).toEqual({ [`${names.camel}Info`]: { note: 'double points this week', updatedAt: expect.stringMatching(/^\d{4}-/) } });

      const erased = await query(`mutation { eraseUser(id: "u1") { complete receipts { subgraph holdsPersonalData deleted { kind count } error } } }`);
      expect(erased.status).toBe(200);
      const receipts = erased.body.data.eraseUser.receipts as { subgraph: string; error: string | null }[];
      const started = ['behavior', 'crm', N, 'stock'];
      expect(receipts.map((r) => r.subgraph)).toEqual(expect.arrayContaining(started));
      expect(receipts.filter((r) => started.includes(r.subgraph)).map((r) => r.error)).toEqual([null, null, null, null]);
      expect(receipts.find((r) => r.subgraph === N)).toEqual({ subgraph: N, holdsPersonalData: true, deleted: [{ kind: `${names.camel}Infos`, count: 1 }], error: null });
      expect(receipts.find((r) => r.subgraph === 'crm')).toEqual({ subgraph: 'crm', holdsPersonalData: true, deleted: [{ kind: 'consents', count: 1 }, { kind: 'profiles', count: 1 }], error: null });

      // The partner answers as for an unknown user, from its cache too, and its files hold no trace of u1's note.
      const after = await query(`{ user(id: "u1") { id } }`);
      expect(after).toEqual({ status: 200, body: { data: { user: null } } });
      const direct = await postSigned(`${partner!.url}/graphql`, { query: `{ _entities(representations: [{ __typename: "User", id: "u1" }]) { ... on User { ${names.camel} { note } } } }` });
      expect(direct.body.data._entities[0][names.camel]).toEqual({ note: null });
      const files = readdirSync(join(root, 'data')).filter((f) => f.startsWith(`${N}.db`));
      expect(files.length).toBeGreaterThan(0);
      for (const file of files) expect(readFileSync(join(root, 'data', file)).toString('latin1')).not.toContain('double points this week');
    });
  });
});
