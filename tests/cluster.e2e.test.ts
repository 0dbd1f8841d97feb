/**
 * The topology of `npm run start:cluster` on the real processes: two gateways and two replicas of each
 * subgraph (small demo data set) on one PostgreSQL database of this suite's own and one Redis (a key
 * prefix of its own), every gateway routing each subgraph to both replicas.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Stack, planStack, startStack } from '../scripts/startStack';
import { type TestDatabase, createTestDatabase } from './support/postgresServer';
import { LOOPBACK_ONLY, REPO_ROOT, gql } from './support/processStack';
import { connectTestRedis, dropKeys } from './support/redisServer';
import { testLogSink } from './support/testLogs';

jest.setTimeout(180_000);
const execFileAsync = promisify(execFile);

describe('two gateways, two replicas of each subgraph, on PostgreSQL and Redis', () => {
  let database: TestDatabase;
  let stack: Stack;
  let dataDir: string;
  const prefix = `tailor-test-cluster-${process.pid}:`;

  beforeAll(async () => {
    database = await createTestDatabase('cluster');
    dataDir = mkdtempSync(join(tmpdir(), 'tailor-cluster-'));
    const keep = testLogSink('cluster');
    stack = await startStack({
      dataDir,
      gatewayPort: 0,
      subgraphPorts: 'free',
      replicas: 2,
      gateways: 2,
      supervise: { initialDelayMs: 50, maxDelayMs: 500 },
      env: {
        TAILOR_DEMO_SCALE: 'small',
        TAILOR_LOG_LEVEL: 'warn',
        TAILOR_DATABASE_URL: database.url,
        TAILOR_REDIS_URL: 'redis://127.0.0.1:6379',
        TAILOR_REDIS_PREFIX: prefix,
        TAILOR_SUBGRAPH_HEALTH_INTERVAL_MS: '200',
        TAILOR_REQUEST_DEADLINE_MS: '60000',
        TAILOR_SUBGRAPH_TIMEOUT_MS: '30000',
      },
      nodeArgs: ['--require', LOOPBACK_ONLY],
      onLine: (_service, line) => keep(line),
      startTimeoutMs: 90_000,
    });
  }, 240_000);

  afterAll(async () => {
    await stack?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    const redis = await connectTestRedis();
    await dropKeys(redis, prefix);
    redis.disconnect();
    await database?.drop();
  }, 60_000);

  const QUERY = '{ user(id: "u-00001") { id firstName consent { email } recommendations(limit: 2) { reason product { sku inStock } } } }';
  const ask = async (gateway: 'gateway' | 'gateway-2') => {
    const { status, body } = await gql(`${stack.services[gateway].url}/graphql`, QUERY, undefined, { authorization: `Bearer ${stack.devKey}` });
    return { status, body };
  };

  it('starts every process, each gateway routing each subgraph to both replicas', async () => {
    // Every subgraph of the registry (a clone with a partner subgraph has one more), twice, and two gateways.
    const subgraphs = planStack().filter((p) => p.entry).map((p) => p.name);
    expect(subgraphs).toEqual(expect.arrayContaining(['crm', 'stock', 'behavior']));
    expect(Object.keys(stack.services).sort()).toEqual(['gateway', 'gateway-2', ...subgraphs.flatMap((name) => [name, `${name}-2`])].sort());
    const ready = (await (await fetch(`${stack.services['gateway-2'].url}/ready`)).json()) as { subgraphs: Record<string, { replicas: { url: string; up: boolean }[] }> };
    for (const name of ['crm', 'stock', 'behavior']) {
      expect(ready.subgraphs[name].replicas).toEqual([
        { url: `${stack.services[name].url}/graphql`, up: true },
        { url: `${stack.services[`${name}-2`].url}/graphql`, up: true },
      ]);
    }
  });

  it('answers the same personalized answer through both gateways', async () => {
    const [a, b] = [await ask('gateway'), await ask('gateway-2')];
    expect(a.status).toBe(200);
    expect(a.body.errors).toBeUndefined();
    expect(a.body.data.user).toMatchObject({ id: 'u-00001', firstName: expect.any(String), consent: { email: expect.any(Boolean) } });
    expect(a.body.data.user.recommendations).toHaveLength(2);
    expect(b).toEqual(a);
  });

  it('keeps answering in full through both gateways while a replica of crm is killed and started again', async () => {
    const before = (await ask('gateway')).body;
    const victim = stack.services.crm.child;
    victim.kill('SIGKILL');
    for (let i = 0; i < 6; i++) {
      expect(await ask('gateway')).toEqual({ status: 200, body: before });
      expect(await ask('gateway-2')).toEqual({ status: 200, body: before });
    }
    // Supervision starts it again on its port; the gateways take it back once its /health answers.
    for (let i = 0; i < 300 && stack.services.crm.child === victim; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(stack.services.crm.child).not.toBe(victim);
  });

  it('npm run start:cluster refuses a bad flag, naming it (exit 2)', async () => {
    const run = execFileAsync(process.execPath, ['--require', LOOPBACK_ONLY, '--import', 'tsx', join('scripts', 'startCluster.ts'), '--replicas', 'many'], { cwd: REPO_ROOT });
    await expect(run).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('--replicas') });
  });
});
