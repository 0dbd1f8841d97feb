/**
 * End-to-end durability and start-up checks on the real processes (small demo data set): an
 * acknowledged ingest batch survives `kill -9` of the subgraph that acknowledged it, on the embedded
 * SQLite files and on PostgreSQL (a database of this suite's own on the machine's server); a bad
 * setting, or a database that cannot be reached, stops a process at start-up with a message naming it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { startStack } from '../scripts/startStack';
import { type TestDatabase, createTestDatabase } from './support/postgresServer';
import { LOOPBACK_ONLY, type ProcessStack, REPO_ROOT, startProcessStack } from './support/processStack';
import { startTcpProxy } from './support/tcpProxy';

jest.setTimeout(120_000);

type Subgraph = 'crm' | 'stock' | 'behavior';

/** Waits for a child process to have exited; resolves with how it ended. */
function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

describe.each(['sqlite', 'postgres'] as const)('ingestion durability across kill -9, on %s', (backend) => {
  let tailor: ProcessStack;
  let database: TestDatabase | undefined;

  beforeAll(async () => {
    if (backend === 'postgres') database = await createTestDatabase('durability');
    tailor = await startProcessStack({ scale: 'small', env: database ? { TAILOR_DATABASE_URL: database.url } : {} });
  }, 200_000);

  afterAll(async () => {
    await tailor?.stop();
    await database?.drop();
  }, 60_000);

  /**
   * POSTs a batch to `/ingest/<kind>` of `service`, and as soon as the 200 acknowledgement is in,
   * kills that process with SIGKILL (no drain, no shutdown hook), then starts it again on the same
   * data folder. Returns the acknowledgement.
   */
  async function ingestThenKill(service: Subgraph, kind: string, items: unknown[]): Promise<{ status: number; body: unknown }> {
    const child = tailor.stack.services[service].child;
    const response = await fetch(`${tailor.url(service)}/ingest/${kind}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(items),
    });
    const body = (await response.json()) as unknown;
    child.kill('SIGKILL');
    expect(await exited(child)).toEqual({ code: null, signal: 'SIGKILL' });
    const fresh = await tailor.stack.restart(service);
    expect(fresh.child.pid).not.toBe(child.pid);
    return { status: response.status, body };
  }

  it(`keeps its data in ${backend}`, async () => {
    const files = readdirSync(tailor.dataDir).filter((file) => /^(crm|stock|behavior)\.db$/.test(file)).sort();
    if (backend === 'sqlite') {
      expect(files).toEqual(['behavior.db', 'crm.db', 'stock.db']);
      return;
    }
    expect(files).toEqual([]);
    const client = new Client({ connectionString: database!.url });
    await client.connect();
    try {
      const { rows } = await client.query(
        "SELECT (SELECT COUNT(*) FROM crm.users)::int AS users, (SELECT COUNT(*) FROM stock.products)::int AS products, (SELECT COUNT(*) FROM behavior.events)::int AS events",
      );
      expect(rows[0]).toEqual({ users: expect.any(Number), products: expect.any(Number), events: expect.any(Number) });
      expect(Math.min(rows[0].users, rows[0].products, rows[0].events)).toBeGreaterThan(0);
    } finally {
      await client.end();
    }
  });

  it('keeps an acknowledged users batch after the crm process is killed at once', async () => {
    const user = {
      id: 'u-durable-01',
      email: 'Durable.One@example.com',
      firstName: 'Dura',
      lastName: 'Ble',
      locale: 'fr-FR',
      timezone: 'Europe/Paris',
      loyaltyTier: 'PLATINUM',
      segments: ['vip', 'newsletter'],
      consent: { email: true, personalization: false },
    };
    const ack = await ingestThenKill('crm', 'users', [user]);
    expect(ack).toEqual({ status: 200, body: { accepted: 1, duplicates: 0, stale: 0 } });

    const answer = await tailor.gql(
      `{ user(id: "u-durable-01") { id email firstName lastName locale timezone loyaltyTier segments consent { email personalization } }
         userByEmail(email: "durable.one@EXAMPLE.com") { id } }`,
    );
    expect(answer.body).toEqual({
      data: {
        user: {
          id: user.id,
          email: user.email,
          firstName: 'Dura',
          lastName: 'Ble',
          locale: 'fr-FR',
          timezone: 'Europe/Paris',
          loyaltyTier: 'PLATINUM',
          segments: ['vip', 'newsletter'],
          consent: { email: true, personalization: false },
        },
        userByEmail: { id: user.id },
      },
    });
  });

  it('keeps an acknowledged stock batch after the stock process is killed at once', async () => {
    const observedAt = new Date().toISOString();
    const ack = await ingestThenKill('stock', 'stock', [
      { sku: 'DRS-0001', available: 4242, observedAt },
      { sku: 'DRS-0002', available: 0, observedAt },
    ]);
    expect(ack).toEqual({ status: 200, body: { accepted: 2, duplicates: 0, stale: 0 } });

    const answer = await tailor.gql(
      `{ a: product(sku: "DRS-0001") { inStock stock { available updatedAt } } b: product(sku: "DRS-0002") { inStock stock { available updatedAt } } }`,
    );
    expect(answer.body).toEqual({
      data: {
        a: { inStock: true, stock: { available: 4242, updatedAt: observedAt } },
        b: { inStock: false, stock: { available: 0, updatedAt: observedAt } },
      },
    });
  });

  it('keeps an acknowledged events batch after the behavior process is killed at once, and still knows its eventIds', async () => {
    const viewedAt = new Date().toISOString();
    const event = { eventId: 'durable-ev-01', userId: 'u-00001', sku: 'ACC-0007', type: 'VIEW', occurredAt: viewedAt };
    const ack = await ingestThenKill('behavior', 'events', [event]);
    expect(ack).toEqual({ status: 200, body: { accepted: 1, duplicates: 0, stale: 0 } });

    const answer = await tailor.gql(`{ user(id: "u-00001") { consent { personalization } recentlyViewed(limit: 1) { viewedAt product { sku } } } }`);
    expect(answer.body).toEqual({
      data: { user: { consent: { personalization: true }, recentlyViewed: [{ viewedAt, product: { sku: 'ACC-0007' } }] } },
    });

    const replay = await fetch(`${tailor.url('behavior')}/ingest/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([event]),
    });
    expect({ status: replay.status, body: await replay.json() }).toEqual({ status: 200, body: { accepted: 0, duplicates: 1, stale: 0 } });
  });
});

describe('gateway start-up configuration', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'tailor-gateway-config-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it('stops with exit code 2 and a message naming every bad setting', async () => {
    const child = spawn(process.execPath, ['--require', LOOPBACK_ONLY, '--import', 'tsx', join('gateway', 'src', 'main.ts'), '--port', 'notaport'], {
      cwd: REPO_ROOT,
      env: { ...process.env, TAILOR_MAX_QUERY_DEPTH: 'abc', TAILOR_LOG_LEVEL: 'warn', TAILOR_DATA_DIR: dataDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let stdout = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    // A safety net, not a timing assertion: a process that never exits is killed so it cannot outlive the test.
    const safetyNet = setTimeout(() => child.kill('SIGKILL'), 90_000);
    try {
      const { code, signal } = await exited(child);
      expect({ code, signal }).toEqual({ code: 2, signal: null });
    } finally {
      clearTimeout(safetyNet);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    expect(stderr).toContain('--port');
    expect(stderr).toContain('TAILOR_MAX_QUERY_DEPTH');
    expect(stderr).toMatch(/Invalid configuration/);
    expect(stderr).not.toMatch(/\n\s+at .*:\d+:\d+/); // a readable message, not a stack trace
    expect(stdout).not.toMatch(/"msg":"listening"/);
  });
});

describe('subgraph start-up on a database that cannot be reached', () => {
  it('stops with a non-zero exit code and a message naming the database, without listening', async () => {
    // A port that answers nothing: the proxy was cut before the subgraph starts.
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: 5432 });
    await proxy.cut();
    const url = `postgres://tailor:secret@127.0.0.1:${proxy.port}/tailor`;
    const child = spawn(process.execPath, ['--require', LOOPBACK_ONLY, '--import', 'tsx', join('subgraphs', 'crm', 'src', 'main.ts'), '--port', '0'], {
      cwd: REPO_ROOT,
      env: { ...process.env, TAILOR_DATABASE_URL: url, TAILOR_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const safetyNet = setTimeout(() => child.kill('SIGKILL'), 90_000);
    try {
      const { code, signal } = await exited(child);
      expect(signal).toBeNull();
      expect(code).not.toBe(0);
    } finally {
      clearTimeout(safetyNet);
    }
    expect(output).toContain(`cannot reach the database at postgres://127.0.0.1:${proxy.port}/tailor`);
    expect(output).not.toContain('secret');
    expect(output).not.toMatch(/"msg":"listening"/);
  });
});

describe('stack start-up failure', () => {
  it('reports the failing service and leaves no process of the stack running', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tailor-fail-'));
    try {
      await expect(
        startStack({
          dataDir,
          gatewayPort: 0,
          subgraphPorts: 'free',
          env: { TAILOR_DEMO_SCALE: 'small', TAILOR_SIGNAL_WINDOW_DAYS: 'abc' },
          nodeArgs: ['--require', LOOPBACK_ONLY],
          onLine: () => undefined,
        }),
      ).rejects.toThrow(/behavior exited during start-up \(code 2\)[\s\S]*TAILOR_SIGNAL_WINDOW_DAYS/);
      expect(processesUsing(dataDir)).toEqual([]);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

/** Pids of live processes whose command line mentions `dir` (Linux /proc). */
function processesUsing(dir: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(dir);
      } catch {
        return false;
      }
    })
    .map(Number);
}
