/**
 * End-to-end, as a partner team works: in a scratch clone of this working tree, `npm run new-subgraph`
 * adds a subgraph; then `npm start` starts it with the rest of the registry, its field answers through
 * the gateway, Ctrl-C stops every process, and the clone's own `npm test` passes (every suite but this
 * one and the benchmark's smoke test).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { readRegistry } from '../scripts/composition/readRegistry';
import { readDevKey } from '../scripts/startStack';
import { subgraphNames } from '../scripts/subgraphTemplate';
import { LOOPBACK_ONLY, gql, postJson } from './support/processStack';
import { freeSubgraphName, scratchClone } from './support/scratchClone';

/** This file's name: the clone's `npm test` runs every suite but this one, which is the one running it, */
const THIS_SUITE = 'newSubgraph.e2e.test.ts';
/** The benchmark's smoke test measures the machine, which the outer suite and this one load twice over; the outer suite runs it. */
const BENCH_SMOKE = 'tests/bench\\.test\\.ts';

describe('a scaffolded subgraph, in a scratch clone', () => {
  let root: string;
  let dataDir: string;
  let name: string;
  let field: string;
  let launcher: ChildProcess | undefined;
  const output: string[] = [];

  beforeAll(() => {
    root = scratchClone('tailor-partner-');
    dataDir = mkdtempSync(join(tmpdir(), 'tailor-partner-data-'));
    name = freeSubgraphName(root);
    field = subgraphNames(name, 0).camel;
  });

  afterAll(async () => {
    if (launcher && launcher.exitCode === null && launcher.signalCode === null) {
      const exited = new Promise((resolve) => launcher!.once('exit', resolve));
      launcher.kill('SIGKILL');
      await exited;
    }
    rmSync(root, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('is added by npm run new-subgraph and registered in schema/supergraph.yaml', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/newSubgraph.ts', name], { cwd: root, encoding: 'utf8' });
    expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: '' });
    expect(run.stdout).toContain('npm start ');
    expect(readRegistry(join(root, 'schema', 'supergraph.yaml')).map((s) => s.name)).toContain(name);
  });

  it('is started by npm start with the rest of the registry, and its field answers through the gateway', async () => {
    const registry = readRegistry(join(root, 'schema', 'supergraph.yaml')).map((s) => s.name);
    // `npm start`'s own command, on free ports (the registry's are those of a developer's running stack).
    const start = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.start;
    const [node, ...args] = start.split(' ');
    expect(node).toBe('node');
    launcher = spawn(process.execPath, [...args, '--gateway-port', '0', '--subgraph-ports', registry.map((n) => `${n}=0`).join(','), '--data-dir', dataDir], {
      cwd: root,
      // Every process of the stack inherits the guard that refuses connections off 127.0.0.1.
      // Deadlines far above a loaded machine's answer times: this test is about the scaffold, not speed.
      env: {
        ...process.env,
        NODE_OPTIONS: `--require ${LOOPBACK_ONLY}`,
        TAILOR_DEMO_SCALE: 'small',
        TAILOR_LOG_LEVEL: 'warn',
        TAILOR_REQUEST_DEADLINE_MS: '60000',
        TAILOR_SUBGRAPH_TIMEOUT_MS: '30000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    createInterface({ input: launcher.stdout! }).on('line', (line) => output.push(line));
    createInterface({ input: launcher.stderr! }).on('line', (line) => output.push(line));
    await waitFor(() => output.some((line) => line.includes('Tailor is running.')) && output.some((line) => line.includes('Press Ctrl-C')), launcher, output);

    const urlOf = (label: string) => {
      const line = output.find((l) => new RegExp(`^\\s+${label}\\s+http://`).test(l));
      if (!line) throw new Error(`npm start printed no URL for ${label}:\n${output.join('\n')}`);
      return line.trim().split(/\s+/)[1];
    };
    // Every subgraph of the registry is started here, the new one included.
    for (const subgraph of registry) expect(urlOf(subgraph)).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/graphql$/);
    const graphql = urlOf('GraphQL');
    // The development key the gateway made in the stack's data folder.
    const devKey = readDevKey(dataDir);
    if (!devKey) throw new Error(`npm start made no development key in ${dataDir}:\n${output.join('\n')}`);
    const auth = { authorization: `Bearer ${devKey}` };

    const blank = await gql(graphql, `{ user(id: "u-00001") { id ${field} { __typename note } } }`, undefined, auth);
    expect({ status: blank.status, body: blank.body }).toEqual({
      status: 200,
      body: { data: { user: { id: 'u-00001', [field]: { __typename: `${subgraphNames(name, 0).pascal}Info`, note: null } } } },
    });

    const ingest = await postJson(urlOf(name).replace(/\/graphql$/, `/ingest/${name}`), [{ userId: 'u-00001', note: 'double points this week' }]);
    expect({ status: ingest.status, body: ingest.body }).toEqual({ status: 200, body: { accepted: 1, duplicates: 0, stale: 0 } });
    const loaded = await gql(graphql, `{ user(id: "u-00001") { firstName ${field} { note } } }`, undefined, auth);
    expect({ status: loaded.status, body: loaded.body }).toEqual({
      status: 200,
      body: { data: { user: { firstName: expect.any(String), [field]: { note: 'double points this week' } } } },
    });
  }, 180_000);

  it('stops with every process on Ctrl-C (SIGINT), exit code 0', async () => {
    const exited = new Promise<number | null>((resolve) => launcher!.once('exit', (code) => resolve(code)));
    launcher!.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(output).toContain('Stopped.');
    expect(output.filter((line) => line.includes('(tests/support/loopbackOnly.cjs)'))).toEqual([]);
  }, 60_000);

  it('passes the type check and the test suite of the clone (npm test, the benchmark smoke test aside)', () => {
    const env = { ...process.env };
    delete env.JEST_WORKER_ID;
    const typecheck = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], { cwd: root, encoding: 'utf8' });
    expect({ status: typecheck.status, output: typecheck.stdout + typecheck.stderr }).toEqual({ status: 0, output: '' });
    const run = spawnSync(
      process.execPath,
      [join(root, 'node_modules', 'jest', 'bin', 'jest.js'), '--ci', '--testPathIgnorePatterns', THIS_SUITE, BENCH_SMOKE, '--json', '--outputFile', join(root, 'jest.json')],
      { cwd: root, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
    );
    const results = JSON.parse(readFileSync(join(root, 'jest.json'), 'utf8')) as {
      numFailedTests: number;
      numPassedTests: number;
      numPendingTests: number;
      testResults: { name: string; status: string }[];
    };
    const failed = results.testResults.filter((r) => r.status !== 'passed').map((r) => r.name);
    if (run.status !== 0) throw new Error(`npm test failed in the clone (exit ${run.status}) in ${failed.join(', ')}:\n${run.stderr.slice(-8000)}`);
    expect({ failed: results.numFailedTests, pending: results.numPendingTests }).toEqual({ failed: 0, pending: 0 });
    // The new subgraph's own generated test ran with the rest.
    expect(results.testResults.map((r) => r.name)).toContain(join(root, 'tests', 'subgraphs', `${name}.test.ts`));
    expect(results.numPassedTests).toBeGreaterThan(200);
  }, 1_200_000);
});

/** Resolves once `done()` holds; rejects if `child` exits first or 120 s pass. */
function waitFor(done: () => boolean, child: ChildProcess, output: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      if (done()) {
        clearInterval(timer);
        clearTimeout(timeout);
        resolve();
      }
    }, 100);
    const timeout = setTimeout(() => {
      clearInterval(timer);
      reject(new Error(`npm start did not come up within 120 s:\n${output.join('\n')}`));
    }, 120_000);
    child.once('exit', (code) => {
      clearInterval(timer);
      clearTimeout(timeout);
      reject(new Error(`npm start exited (code ${code}):\n${output.join('\n')}`));
    });
  });
}
