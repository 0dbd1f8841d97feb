/**
 * End-to-end: the launcher keeps the stack up. Real processes (small demo data set) over real HTTP on
 * 127.0.0.1: a subgraph killed with SIGKILL is started again on its port, with a backoff that grows
 * while the others keep serving; stopping the stack stops every process and restarts none. First
 * through `startStack` with `supervise` (short delays), then through `npm start`'s own command.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { readRegistry } from '../scripts/composition/readRegistry';
import { DEFAULT_RESTART_POLICY, LAUNCHER, type RestartEvent, type Stack, freePort, restartDelay, startStack } from '../scripts/startStack';
import { LOOPBACK_ONLY, REPO_ROOT, get, gql } from './support/processStack';

jest.setTimeout(180_000);

/** A crm-only operation: the gateway can answer it whatever behavior's state. */
const CRM_ONLY = '{ user(id: "u-00001") { id firstName } }';

/** Waits for a child process to have exited; resolves with how it ended. */
function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

const isRunning = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

/** The status `GET url` answered, or `'refused'` when nothing listens there. */
async function statusOf(url: string): Promise<number | 'refused'> {
  try {
    return (await get(url)).status;
  } catch {
    return 'refused';
  }
}

/** Polls `check` until it holds; throws with `what` if it does not within `timeoutMs` (a deadline, not an assertion). */
async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The launcher's own JSON log lines among `lines`. */
function launcherLines(lines: string[]): Record<string, unknown>[] {
  return lines.flatMap((line) => {
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      return parsed?.service === LAUNCHER ? [parsed] : [];
    } catch {
      return [];
    }
  });
}

/** Pids of live processes whose command line holds `dir` as one argument and, if given, `entry` (Linux /proc). */
function processesUsing(dir: string, entry?: string): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        return args.includes(dir) && (entry === undefined || args.includes(entry));
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe('restartDelay', () => {
  it('doubles from the initial delay up to the cap', () => {
    const policy = { initialDelayMs: 250, maxDelayMs: 10_000, resetAfterMs: 30_000 };
    expect([1, 2, 3, 4, 5, 6, 7, 8, 100, 5000].map((attempt) => restartDelay(attempt, policy))).toEqual([250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000, 10_000]);
    expect(restartDelay(3, { ...policy, initialDelayMs: 0 })).toBe(0);
  });

  it('is 250 ms doubling to 10 s, reset after 30 s up, for npm start', () => {
    expect(DEFAULT_RESTART_POLICY).toEqual({ initialDelayMs: 250, maxDelayMs: 10_000, resetAfterMs: 30_000 });
  });
});

describe('freePort', () => {
  it('hands out distinct bindable ports below the ephemeral range, where no outgoing connection takes them', async () => {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    const ports: number[] = [];
    for (let i = 0; i < 40; i++) ports.push(await freePort('127.0.0.1'));
    expect(new Set(ports).size).toBe(ports.length);
    for (const port of ports) expect(port < low && port > 1024).toBe(true);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(ports[0], '127.0.0.1', resolve);
    });
    await new Promise((resolve) => server.close(resolve));
  });
});

describe('a supervised stack (startStack with supervise)', () => {
  // Long enough a first delay for the checks made while behavior is down to run before it is back; a
  // reset period no test outlasts, so that every restart here is one more in a row.
  const policy = { initialDelayMs: 1_500, maxDelayMs: 60_000, resetAfterMs: 3_600_000 };
  let dataDir: string;
  let stack: Stack | undefined;
  const lines: string[] = [];
  const restarts: RestartEvent[] = [];
  /** `Authorization` headers with the development key the stack's gateway made in its data folder. */
  const auth = () => {
    if (!stack?.devKey) throw new Error(`The gateway made no development key in ${dataDir}`);
    return { authorization: `Bearer ${stack.devKey}` };
  };

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'launcher-test-'));
    stack = await startStack({
      dataDir,
      gatewayPort: 0,
      subgraphPorts: 'free',
      host: '127.0.0.1',
      env: { TAILOR_DEMO_SCALE: 'small', TAILOR_LOG_LEVEL: 'warn', TAILOR_SUBGRAPH_TIMEOUT_MS: '30000', TAILOR_REQUEST_DEADLINE_MS: '60000' },
      nodeArgs: ['--require', LOOPBACK_ONLY],
      onLine: (_service, line) => void lines.push(line),
      startTimeoutMs: 120_000,
      supervise: policy,
      onRestart: (event) => void restarts.push(event),
    });
  }, 200_000);

  afterAll(async () => {
    await stack?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  /** SIGKILLs behavior's current process, waits for the supervision to bring a new one up on the same URL; returns the killed one. */
  async function killBehaviorAndAwaitRestart(checkWhileDown?: (url: string) => Promise<void>): Promise<ChildProcess> {
    const behavior = stack!.services.behavior;
    const { url, port } = behavior;
    const killed = behavior.child;
    expect(isRunning(killed)).toBe(true);
    killed.kill('SIGKILL');
    expect(await exited(killed)).toEqual({ code: null, signal: 'SIGKILL' });
    await checkWhileDown?.(url);
    await waitUntil('behavior answers /health again', async () => (await statusOf(`${url}/health`)) === 200);
    // A new process, on the same port and URL, known to the stack as behavior's current one.
    expect(stack!.services.behavior).toBe(behavior);
    expect({ url: behavior.url, port: behavior.port }).toEqual({ url, port });
    expect(behavior.child.pid).not.toBe(killed.pid);
    expect(isRunning(behavior.child)).toBe(true);
    return killed;
  }

  it('restarts behavior on its port after kill -9, while the gateway and crm keep answering, and logs the restart', async () => {
    await killBehaviorAndAwaitRestart(async (url) => {
      expect(await statusOf(`${url}/health`)).toBe('refused');
      const health = await get(`${stack!.services.gateway.url}/health`);
      expect(health.status).toBe(200);
      const answer = await gql(stack!.graphqlUrl, CRM_ONLY, undefined, auth());
      expect({ status: answer.status, body: answer.body }).toEqual({ status: 200, body: { data: { user: { id: 'u-00001', firstName: expect.any(String) } } } });
      // Nothing was started in the killed process's place yet: the answers above came while behavior was down.
      expect(isRunning(stack!.services.behavior.child)).toBe(false);
      expect(await statusOf(`${url}/health`)).toBe('refused');
    });
    const port = stack!.services.behavior.port;
    expect(restarts).toEqual([{ name: 'behavior', exitCode: null, signal: 'SIGKILL', attempt: 1, delayMs: policy.initialDelayMs, port }]);
    expect(launcherLines(lines)).toEqual([
      {
        level: 'warn',
        time: expect.any(String),
        service: LAUNCHER,
        msg: expect.stringContaining('behavior stopped unexpectedly'),
        name: 'behavior',
        exitCode: null,
        signal: 'SIGKILL',
        attempt: 1,
        delayMs: policy.initialDelayMs,
        port,
      },
    ]);
    // The rest of the stack was never restarted, and the gateway now reaches behavior again.
    for (const name of ['gateway', 'crm', 'stock']) expect(isRunning(stack!.services[name].child)).toBe(true);
    const recommendations = await gql(stack!.graphqlUrl, '{ user(id: "u-00001") { id recommendations(limit: 2) { reason } } }', undefined, auth());
    expect(recommendations.body.errors).toBeUndefined();
    expect(recommendations.body.data.user.recommendations).toHaveLength(2);
  });

  it('waits longer before a second restart in a row (killed again soon after coming back)', async () => {
    await killBehaviorAndAwaitRestart();
    expect(restarts.map((r) => [r.name, r.attempt, r.signal])).toEqual([
      ['behavior', 1, 'SIGKILL'],
      ['behavior', 2, 'SIGKILL'],
    ]);
    expect(restarts[1].delayMs).toBeGreaterThan(restarts[0].delayMs);
    expect(restarts[1].delayMs).toBe(2 * policy.initialDelayMs);
    expect(launcherLines(lines).map((line) => [line.name, line.attempt, line.delayMs])).toEqual([
      ['behavior', 1, policy.initialDelayMs],
      ['behavior', 2, 2 * policy.initialDelayMs],
    ]);
  });

  it('stops every process when stopped (what Ctrl-C does), and restarts none', async () => {
    const children = Object.values(stack!.services).map((s) => s.child);
    // The gateway and every subgraph of the registry (a clone with a partner subgraph has one more).
    const expected = 1 + readRegistry(join(REPO_ROOT, 'schema', 'supergraph.yaml')).length;
    expect(children.map(isRunning)).toEqual(Array.from({ length: expected }, () => true));
    const linesBefore = launcherLines(lines).length;
    const restartsBefore = restarts.length;
    await stack!.stop();
    // Every child exited, on its own drain (SIGTERM), none by a SIGKILL after the grace period.
    expect(await Promise.all(children.map(exited))).toEqual(children.map(() => ({ code: 0, signal: null })));
    // The exits were not taken for crashes: nothing restarted, nothing logged, nothing left running.
    expect(restarts.length - restartsBefore).toBe(0);
    expect(launcherLines(lines).length - linesBefore).toBe(0);
    expect(Object.values(stack!.services).map((s) => s.child.pid)).toEqual(children.map((c) => c.pid));
    expect(processesUsing(dataDir)).toEqual([]);
  });
});

describe('npm start', () => {
  let dataDir: string;
  let launcher: ChildProcess | undefined;
  const output: string[] = [];

  afterAll(async () => {
    if (launcher && isRunning(launcher)) {
      const done = exited(launcher);
      launcher.kill('SIGKILL');
      await done;
    }
    for (const pid of dataDir ? processesUsing(dataDir) : []) process.kill(pid, 'SIGKILL');
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  it('restarts a subgraph killed with kill -9 and logs it; Ctrl-C then stops every process, restarting none', async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'launcher-test-'));
    const names = readRegistry(join(REPO_ROOT, 'schema', 'supergraph.yaml')).map((s) => s.name);
    const start = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.start;
    const [node, ...args] = start.split(' ');
    expect(node).toBe('node');
    launcher = spawn(process.execPath, [...args, '--gateway-port', '0', '--subgraph-ports', names.map((n) => `${n}=0`).join(','), '--data-dir', dataDir], {
      cwd: REPO_ROOT,
      env: { ...process.env, NODE_OPTIONS: `--require ${LOOPBACK_ONLY}`, TAILOR_DEMO_SCALE: 'small', TAILOR_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    createInterface({ input: launcher.stdout! }).on('line', (line) => output.push(line));
    createInterface({ input: launcher.stderr! }).on('line', (line) => output.push(line));
    const quit = exited(launcher);
    await waitUntil('npm start prints "Press Ctrl-C"', () => {
      if (!isRunning(launcher!)) throw new Error(`npm start exited:\n${output.join('\n')}`);
      return output.some((line) => line.includes('Press Ctrl-C'));
    }, 150_000);
    const urlOf = (label: string) => output.find((l) => new RegExp(`^\\s+${label}\\s+http://`).test(l))!.trim().split(/\s+/)[1];
    const behaviorBase = urlOf('behavior').replace(/\/graphql$/, '');

    const entry = join(REPO_ROOT, 'subgraphs', 'behavior', 'src', 'main.ts');
    const [pid] = processesUsing(dataDir, entry);
    expect(processesUsing(dataDir, entry)).toEqual([pid]);
    process.kill(pid, 'SIGKILL');
    await waitUntil('a new behavior process answers /health on the same URL', async () => {
      const pids = processesUsing(dataDir, entry);
      return pids.length === 1 && pids[0] !== pid && (await statusOf(`${behaviorBase}/health`)) === 200;
    });
    expect(await statusOf(`${urlOf('GraphQL').replace(/\/graphql$/, '')}/health`)).toBe(200);
    expect(launcherLines(output)).toEqual([
      expect.objectContaining({ level: 'warn', name: 'behavior', exitCode: null, signal: 'SIGKILL', attempt: 1, delayMs: DEFAULT_RESTART_POLICY.initialDelayMs, port: Number(new URL(behaviorBase).port) }),
    ]);

    const before = output.length;
    launcher.kill('SIGINT');
    expect(await quit).toEqual({ code: 0, signal: null });
    const afterStop = output.slice(before);
    expect(afterStop.some((line) => line.includes('Stopping Tailor'))).toBe(true);
    expect(afterStop).toContain('Stopped.');
    expect(launcherLines(afterStop)).toEqual([]);
    expect(processesUsing(dataDir)).toEqual([]);
    expect(output.filter((line) => line.includes('(tests/support/loopbackOnly.cjs)'))).toEqual([]);
  });
});
