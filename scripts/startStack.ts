import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { REGISTRY_FILE, readRegistry } from './composition/readRegistry';

const ROOT = join(__dirname, '..');
const GATEWAY_ENTRY = join(ROOT, 'gateway', 'src', 'main.ts');

/**
 * Node.js flags of every service. A larger young generation (64 MB semi-spaces) cuts the time spent
 * in scavenges when a 500-recipient batch allocates many short-lived objects: about 15% more campaign
 * throughput on a 2-core machine, for some 100 MB more peak memory per process.
 */
export const SERVICE_NODE_FLAGS = ['--max-semi-space-size=64'];

/** Hosts a routing URL may name for `npm start` to run the subgraph on this machine. */
const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/** Options of `startStack`. */
export interface StackOptions {
  /** Folder of the SQLite databases; created and seeded on first start. */
  dataDir: string;
  /** The subgraph registry (rover's format); default `schema/supergraph.yaml`. */
  registryFile?: string;
  /** Gateway port; 0 picks a free one. */
  gatewayPort: number;
  /**
   * Subgraph ports by name, instead of the port of the registry's `routing_url`; 0 picks a free one.
   * `'free'` picks a free port for every subgraph started (tests, benchmarks).
   */
  subgraphPorts?: Record<string, number> | 'free';
  host?: string;
  /** Extra environment for every process (e.g. `TAILOR_DEMO_SCALE`). */
  env?: Record<string, string>;
  /** Extra Node.js flags for every process. */
  nodeArgs?: string[];
  /** Receives every log line of every process; defaults to this process's stdout. */
  onLine?: (service: string, line: string) => void;
  /** How long a process may take to start listening, in ms. */
  startTimeoutMs?: number;
}

/** A running service process. */
export interface ServiceProcess {
  /** `gateway`, or the subgraph's name in the registry. */
  name: string;
  child: ChildProcess;
  url: string;
  port: number;
}

/** How the stack treats one subgraph of the registry. */
export interface StackPlanEntry {
  name: string;
  /** Its routing URL in the registry. */
  routingUrl: string;
  /** Its entry point when `npm start` runs it (its code is in this repository and its host is this machine). */
  entry?: string;
}

/** A running stack. */
export interface Stack {
  /** The gateway and every subgraph the stack started, by name. */
  services: Record<string, ServiceProcess>;
  /** Subgraphs of the registry routed to at their `routing_url` but not started here, by name. */
  remote: Record<string, string>;
  /** The gateway's GraphQL endpoint. */
  graphqlUrl: string;
  /** Stops every process gracefully (SIGTERM, then SIGKILL after a grace period). */
  stop(): Promise<void>;
  /** Starts one subgraph again with the same settings and port, e.g. after a test killed it. */
  restart(name: string): Promise<ServiceProcess>;
}

/**
 * Reads the registry: which subgraphs `npm start` runs, and which it only routes to. A subgraph is run
 * when its code lives in this repository (`src/main.ts` beside its schema file) and its `routing_url`
 * names this machine; any other is routed to where the registry says.
 */
export function planStack(registryFile = REGISTRY_FILE): StackPlanEntry[] {
  return readRegistry(registryFile).map((subgraph) => {
    const entry = join(dirname(subgraph.file), 'src', 'main.ts');
    const local = LOCAL_HOSTS.has(new URL(subgraph.url).hostname);
    return { name: subgraph.name, routingUrl: subgraph.url, entry: local && existsSync(entry) ? entry : undefined };
  });
}

/**
 * Starts the stack the way `npm start` does: every subgraph of the registry that `planStack` runs, each
 * on the port of its routing URL (or the one given), then the gateway routed to all of them. Each is a
 * separate Node.js process running its own entry point; each seeds its own database on first start and
 * reports that it listens over an IPC channel, whatever its log level. Every process gets the stack's
 * routing table as `TAILOR_SUBGRAPH_URLS`.
 */
export async function startStack(options: StackOptions): Promise<Stack> {
  const host = options.host ?? '127.0.0.1';
  const plan = planStack(options.registryFile);
  const local = plan.filter((p): p is StackPlanEntry & { entry: string } => p.entry !== undefined);
  const remote = Object.fromEntries(plan.filter((p) => !p.entry).map((p) => [p.name, p.routingUrl]));
  // Ports are settled before anything starts, so that every process can be told every URL at once.
  const ports = new Map<string, number>();
  for (const subgraph of local) {
    const given = options.subgraphPorts === 'free' ? 0 : options.subgraphPorts?.[subgraph.name];
    const port = given ?? Number(new URL(subgraph.routingUrl).port || 80);
    ports.set(subgraph.name, port === 0 ? await freePort(host) : port);
  }
  const urlOf = (name: string) => {
    const path = new URL(local.find((s) => s.name === name)!.routingUrl).pathname;
    return `http://${host}:${ports.get(name)}${path}`;
  };
  const env = { ...options.env, TAILOR_SUBGRAPH_URLS: local.map((s) => `${s.name}=${urlOf(s.name)}`).join(',') };

  const running = new Map<string, ServiceProcess>();
  // Every child is tracked from the moment it is spawned, so a failed start leaves none behind.
  const spawned = new Set<ChildProcess>();
  const stopAll = async () => {
    await Promise.all([...spawned].map((child) => stopProcess(child)));
  };
  const launchSubgraph = (subgraph: (typeof local)[number]): Promise<ServiceProcess> =>
    startService(subgraph.name, subgraph.entry, ['--port', String(ports.get(subgraph.name)), '--host', host, '--data-dir', options.dataDir], env, options, spawned);
  try {
    for (const service of await Promise.all(local.map(launchSubgraph))) running.set(service.name, service);
    running.set('gateway', await startService('gateway', GATEWAY_ENTRY, ['--port', String(options.gatewayPort), '--host', host], env, options, spawned));
  } catch (error) {
    await stopAll();
    throw error;
  }
  const services = Object.fromEntries(running);
  return {
    services,
    remote,
    graphqlUrl: `${services.gateway.url}/graphql`,
    stop: stopAll,
    async restart(name) {
      const subgraph = local.find((s) => s.name === name);
      if (!subgraph) throw new Error(`${name} is not a subgraph this stack started (it started ${local.map((s) => s.name).join(', ')})`);
      await stopProcess(running.get(name)!.child);
      // The same port as before: the gateway and the other subgraphs route to it.
      const fresh = await launchSubgraph(subgraph);
      running.set(name, fresh);
      services[name] = fresh;
      return fresh;
    },
  };
}

/** A port that was free on `host` a moment ago. */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** The message a service sends its launcher over IPC once it listens (see `runService`). */
interface ListeningMessage {
  type: 'listening';
  url: string;
  port: number;
}

/** Spawns one service and resolves once it reports over IPC that it is listening. */
function startService(
  name: string,
  entry: string,
  args: string[],
  env: Record<string, string>,
  options: StackOptions,
  spawned: Set<ChildProcess>,
): Promise<ServiceProcess> {
  const child = spawn(process.execPath, [...SERVICE_NODE_FLAGS, ...(options.nodeArgs ?? []), '--import', 'tsx', entry, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  spawned.add(child);
  child.once('exit', () => spawned.delete(child));
  const onLine = options.onLine ?? ((_service, line) => process.stdout.write(`${line}\n`));
  const timeoutMs = options.startTimeoutMs ?? 60_000;
  const stderr: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => onLine(name, line));
  createInterface({ input: child.stderr! }).on('line', (line) => {
    stderr.push(line);
    onLine(name, line);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} did not start listening within ${timeoutMs} ms`));
    }, timeoutMs);
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited during start-up (${signal ?? `code ${code}`}):\n${stderr.join('\n')}`));
    };
    child.once('exit', onExit);
    child.on('message', (message: ListeningMessage) => {
      if (message?.type !== 'listening') return;
      clearTimeout(timer);
      child.off('exit', onExit);
      resolve({ name, child, port: message.port, url: message.url });
    });
  });
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
