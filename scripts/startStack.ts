import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const ROOT = join(__dirname, '..');

/** The four processes of a Tailor stack. */
export type ServiceName = 'crm' | 'stock' | 'behavior' | 'gateway';

const ENTRY: Record<ServiceName, string> = {
  crm: 'subgraphs/crm/src/main.ts',
  stock: 'subgraphs/stock/src/main.ts',
  behavior: 'subgraphs/behavior/src/main.ts',
  gateway: 'gateway/src/main.ts',
};

/** Options of `startStack`. */
export interface StackOptions {
  /** Folder of the SQLite databases; created and seeded on first start. */
  dataDir: string;
  /** Ports per service; 0 picks a free one. */
  ports: Record<ServiceName, number>;
  host?: string;
  /** Extra environment for every process (e.g. `TAILOR_DEMO_SCALE`). */
  env?: Record<string, string>;
  /** Extra Node.js flags for every process. */
  nodeArgs?: string[];
  /** Receives every log line of every process; defaults to this process's stdout. */
  onLine?: (service: ServiceName, line: string) => void;
  /** How long a process may take to start listening, in ms. */
  startTimeoutMs?: number;
}

/** A running service process. */
export interface ServiceProcess {
  name: ServiceName;
  child: ChildProcess;
  url: string;
  port: number;
}

/** A running stack. */
export interface Stack {
  services: Record<ServiceName, ServiceProcess>;
  /** The gateway's GraphQL endpoint. */
  graphqlUrl: string;
  /** Stops every process gracefully (SIGTERM, then SIGKILL after a grace period). */
  stop(): Promise<void>;
  /** Starts one service again with the same settings, e.g. after a test killed it. */
  restart(name: Exclude<ServiceName, 'gateway'>): Promise<ServiceProcess>;
}

/**
 * Starts the whole stack the way `npm start` does: crm and behavior, then stock (which needs the
 * behavior URL), then the gateway with the subgraphs' actual URLs. Each is a separate Node.js
 * process running its own entry point; each seeds its own database on first start.
 */
export async function startStack(options: StackOptions): Promise<Stack> {
  const host = options.host ?? '127.0.0.1';
  const running = new Map<ServiceName, ServiceProcess>();
  const stopAll = async () => {
    await Promise.all([...running.values()].map((s) => stopProcess(s.child)));
  };
  const launch = (name: ServiceName, args: string[], env: Record<string, string> = {}) =>
    startService(name, [...args, '--port', String(options.ports[name]), '--host', host], { ...options.env, ...env }, options);
  const launchSubgraph = (name: Exclude<ServiceName, 'gateway'>): Promise<ServiceProcess> => {
    const args = ['--data-dir', options.dataDir];
    if (name === 'stock') args.push('--behavior-url', `${running.get('behavior')!.url}/graphql`);
    return launch(name, args);
  };
  try {
    const [crm, behavior] = await Promise.all([launchSubgraph('crm'), launchSubgraph('behavior')]);
    running.set('crm', crm).set('behavior', behavior);
    running.set('stock', await launchSubgraph('stock'));
    const routes = (['crm', 'stock', 'behavior'] as const).map((n) => `${n}=${running.get(n)!.url}/graphql`).join(',');
    running.set('gateway', await launch('gateway', ['--subgraph-urls', routes]));
  } catch (error) {
    await stopAll();
    throw error;
  }
  const services = Object.fromEntries(running) as Record<ServiceName, ServiceProcess>;
  return {
    services,
    graphqlUrl: `${services.gateway.url}/graphql`,
    stop: stopAll,
    async restart(name) {
      await stopProcess(running.get(name)!.child);
      const fresh = await launchSubgraph(name);
      running.set(name, fresh);
      services[name] = fresh;
      return fresh;
    },
  };
}

/** Spawns one service and resolves once it logs that it is listening. */
function startService(name: ServiceName, args: string[], env: Record<string, string>, options: StackOptions): Promise<ServiceProcess> {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), '--import', 'tsx', join(ROOT, ENTRY[name]), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const onLine = options.onLine ?? ((_service, line) => process.stdout.write(`${line}\n`));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} did not start listening within ${options.startTimeoutMs ?? 60_000} ms`));
    }, options.startTimeoutMs ?? 60_000);
    const stderr: string[] = [];
    createInterface({ input: child.stdout! }).on('line', (line) => {
      onLine(name, line);
      const port = listeningPort(line);
      if (port !== undefined) {
        clearTimeout(timer);
        resolve({ name, child, port, url: `http://${args[args.indexOf('--host') + 1]}:${port}` });
      }
    });
    createInterface({ input: child.stderr! }).on('line', (line) => {
      stderr.push(line);
      onLine(name, line);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited during start-up (${signal ?? `code ${code}`}):\n${stderr.join('\n')}`));
    });
  });
}

function listeningPort(line: string): number | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const entry = JSON.parse(line) as { msg?: string; port?: number };
    return entry.msg === 'listening' && typeof entry.port === 'number' ? entry.port : undefined;
  } catch {
    return undefined;
  }
}

/** Sends SIGTERM, waits for a drain, then SIGKILL if the process is still there. */
export function stopProcess(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
