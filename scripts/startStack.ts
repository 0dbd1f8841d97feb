import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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

/**
 * How a supervised stack (`StackOptions.supervise`) restarts a service that stopped without being asked
 * to: the n-th restart in a row waits `initialDelayMs × 2^(n−1)`, at most `maxDelayMs`; a service that
 * stayed up `resetAfterMs` counts as healthy again, and its next restart is the first of a new row.
 */
export interface RestartPolicy {
  /** Wait before the first restart of a row, in ms. */
  initialDelayMs: number;
  /** Longest wait between two restarts, in ms: the doubling stops there. */
  maxDelayMs: number;
  /** How long a restarted service must stay up, in ms, for its next restart to wait `initialDelayMs` again. */
  resetAfterMs: number;
}

/** The restart policy of `npm start`: 250 ms, doubling to 10 s; reset after 30 s up. */
export const DEFAULT_RESTART_POLICY: Readonly<RestartPolicy> = Object.freeze({ initialDelayMs: 250, maxDelayMs: 10_000, resetAfterMs: 30_000 });

/** The name the launcher's own log lines carry as their `service` (and the one `onLine` is given for them). */
export const LAUNCHER = 'launcher';

/** A restart the supervision scheduled, as `onRestart` and the launcher's log line tell it. */
export interface RestartEvent {
  /** The service: `gateway` or a subgraph's name. */
  name: string;
  /** Its exit code, or `null` if a signal ended it. */
  exitCode: number | null;
  /** The signal that ended it (`SIGKILL` for `kill -9`), or `null` if it exited. */
  signal: NodeJS.Signals | null;
  /** 1 for the first restart of a row, 2 for the next one (it did not stay up `resetAfterMs`)… */
  attempt: number;
  /** How long the launcher waits before starting it again, in ms. */
  delayMs: number;
  /** The port it is started on again: the one it had. */
  port: number;
}

/** The file in the data folder that holds the stack's subgraph secret (`TAILOR_SUBGRAPH_SECRET`). */
export const SUBGRAPH_SECRET_FILE = 'subgraph-secret';

/** The file in the data folder that holds the stack's live link key (`TAILOR_LINK_KEYS`). */
export const LINK_KEYS_FILE = 'link-keys';

/**
 * The stack's subgraph secret, `<dataDir>/subgraph-secret`: read if it exists, else created (32 random
 * bytes as hex, mode 0600; the folder too, if missing). A data folder of `:memory:` gets a fresh secret
 * that is kept nowhere.
 */
export function ensureSubgraphSecret(dataDir: string): string {
  return ensureSecretFile(dataDir, SUBGRAPH_SECRET_FILE);
}

/** The stack's live link key, `<dataDir>/link-keys`, made and kept like the subgraph secret. */
export function ensureLinkKeys(dataDir: string): string {
  return ensureSecretFile(dataDir, LINK_KEYS_FILE);
}

function ensureSecretFile(dataDir: string, name: string): string {
  if (dataDir === ':memory:') return randomBytes(32).toString('hex');
  const file = join(dataDir, name);
  if (existsSync(file)) {
    const secret = readFileSync(file, 'utf8').trim();
    if (secret.length < 32) throw new Error(`${file} holds a secret of ${secret.length} characters; it must be at least 32 (delete the file to have a new one made)`);
    return secret;
  }
  mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(32).toString('hex');
  // `wx`: never overwrite one another launcher wrote meanwhile.
  try {
    writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return ensureSecretFile(dataDir, name);
    throw error;
  }
  chmodSync(file, 0o600); // whatever the umask
  return secret;
}

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
  /**
   * Receives every log line of every process, and the launcher's own (as service `launcher`, see
   * `LAUNCHER`); defaults to this process's stdout.
   */
  onLine?: (service: string, line: string) => void;
  /** How long a process may take to start listening, in ms. */
  startTimeoutMs?: number;
  /**
   * Restarts a service that exits without being asked to (a crash, `kill -9`, any exit code) on the
   * same port, after a delay that grows with every restart in a row (`RestartPolicy`); each restart is
   * one JSON log line of the launcher. `true` uses `DEFAULT_RESTART_POLICY`; an object overrides part of
   * it (tests use short delays). Supervision begins once the whole stack is up: a service that cannot
   * start in the first place still makes `startStack` reject. Off by default, for callers that kill a
   * process on purpose and start it again themselves (`restart`); `npm start` turns it on.
   */
  supervise?: boolean | Partial<RestartPolicy>;
  /** Told of every restart the supervision schedules, when it is scheduled (as it is logged). Must not throw. */
  onRestart?: (event: RestartEvent) => void;
  /**
   * Processes of each subgraph (default 1). Replica 1 is `crm` on its port; replica k is `crm-k`, on
   * that port + 100·(k−1) (a free one with `subgraphPorts: 'free'`), started once every replica 1 is up,
   * so that the first one of each subgraph seeds a shared database alone. Every gateway routes a
   * subgraph to all its replicas. Replicas share data only through `TAILOR_DATABASE_URL`.
   */
  replicas?: number;
  /** Gateway processes (default 1): `gateway`, then `gateway-k` on the gateway port + 100·(k−1), one after the other. */
  gateways?: number;
}

/** A service of the stack. */
export interface ServiceProcess {
  /** `gateway`, or the subgraph's name in the registry; `<name>-<k>` for the k-th replica (k ≥ 2). */
  name: string;
  /**
   * Its current process. The object stays the same across restarts (by `restart` or by supervision);
   * `child` is replaced by the new process as soon as it is spawned.
   */
  child: ChildProcess;
  url: string;
  /** Its port, the same across restarts. */
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
  /** The gateway and every subgraph the stack started, by name; each entry follows restarts. */
  services: Record<string, ServiceProcess>;
  /** Subgraphs of the registry routed to at their `routing_url` but not started here, by name. */
  remote: Record<string, string>;
  /** The gateway's GraphQL endpoint. */
  graphqlUrl: string;
  /** The `TAILOR_SUBGRAPH_SECRET` every process was given: a gateway started beside the stack needs it too. */
  subgraphSecret: string;
  /** The development key the gateway made in `<dataDir>/dev-key` (development profile), if any. */
  devKey?: string;
  /**
   * Stops every process gracefully (SIGTERM, then SIGKILL after a grace period): the gateway first, so
   * that the requests it drains can still reach the subgraphs, then every subgraph. No restart happens
   * once it is called: a pending one is cancelled, and a process that exits is not started again.
   */
  stop(): Promise<void>;
  /** Kills every process at once (SIGKILL), without a drain, and restarts none: a second Ctrl-C. */
  kill(): void;
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

/** The wait before the `attempt`-th restart in a row (1 for the first) under `policy`, in ms. */
export function restartDelay(attempt: number, policy: RestartPolicy): number {
  return Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.min(Math.max(attempt, 1) - 1, 52));
}

/** The policy `supervise` asks for, checked; `undefined` when supervision is off. */
function restartPolicyOf(supervise: StackOptions['supervise']): RestartPolicy | undefined {
  if (!supervise) return undefined;
  const policy = { ...DEFAULT_RESTART_POLICY, ...(supervise === true ? {} : supervise) };
  for (const [key, value] of Object.entries(policy)) {
    if (!Number.isFinite(value) || value < 0) throw new Error(`supervise.${key} must be a finite number of ms, at least 0 (got ${value})`);
  }
  if (policy.initialDelayMs > policy.maxDelayMs) throw new Error(`supervise.initialDelayMs (${policy.initialDelayMs}) is above supervise.maxDelayMs (${policy.maxDelayMs})`);
  return policy;
}

/** What the launcher knows of one service it started. */
interface Slot {
  service: ServiceProcess;
  entry: string;
  args: (port: number) => string[];
  /** Restarts in a row so far (0 once it is up after a `restart`, or at first). */
  attempt: number;
  /** When its current process reported that it listens; `undefined` while it is down or starting. */
  upSince?: number;
  /** The pending restart. */
  timer?: NodeJS.Timeout;
}

/**
 * Starts the stack the way `npm start` does: every subgraph of the registry that `planStack` runs, each
 * on the port of its routing URL (or the one given), then the gateway routed to all of them. Each is a
 * separate Node.js process running its own entry point; each seeds its own database on first start and
 * reports that it listens over an IPC channel, whatever its log level. Every process gets the stack's
 * routing table as `TAILOR_SUBGRAPH_URLS`, and the stack's secret as `TAILOR_SUBGRAPH_SECRET` (unless the
 * environment sets one: see `ensureSubgraphSecret`). With `supervise`, a process that stops unexpectedly once the
 * stack is up is started again (see `StackOptions.supervise`).
 */
export async function startStack(options: StackOptions): Promise<Stack> {
  const host = options.host ?? '127.0.0.1';
  const policy = restartPolicyOf(options.supervise);
  const onLine = options.onLine ?? ((_service: string, line: string) => void process.stdout.write(`${line}\n`));
  const plan = planStack(options.registryFile);
  const local = plan.filter((p): p is StackPlanEntry & { entry: string } => p.entry !== undefined);
  const remote = Object.fromEntries(plan.filter((p) => !p.entry).map((p) => [p.name, p.routingUrl]));
  const replicaCount = options.replicas ?? 1;
  const gatewayCount = options.gateways ?? 1;
  for (const [what, count] of [['replicas', replicaCount], ['gateways', gatewayCount]] as const) {
    if (!Number.isInteger(count) || count < 1) throw new Error(`${what} must be a whole number, at least 1 (got ${count})`);
  }
  /** The service name of replica `k` (from 1) of `name`. */
  const replicaName = (name: string, k: number) => (k === 1 ? name : `${name}-${k}`);
  // Ports are settled before anything starts, so that every process can be told every URL at once.
  const ports = new Map<string, number>();
  for (const subgraph of local) {
    const given = options.subgraphPorts === 'free' ? 0 : options.subgraphPorts?.[subgraph.name];
    const port = given ?? Number(new URL(subgraph.routingUrl).port || 80);
    for (let k = 1; k <= replicaCount; k++) ports.set(replicaName(subgraph.name, k), port === 0 ? await freePort(host) : port + 100 * (k - 1));
  }
  const urlOf = (name: string, k = 1) => {
    const path = new URL(local.find((s) => s.name === name)!.routingUrl).pathname;
    return `http://${host}:${ports.get(replicaName(name, k))}${path}`;
  };
  const replicaUrls = (name: string) => Array.from({ length: replicaCount }, (_, i) => urlOf(name, i + 1)).join('|');
  // Every process gets one shared secret, so that subgraphs answer the gateway (and stock) only: the
  // environment's, else the data folder's (made on first start).
  const givenSecret = options.env?.TAILOR_SUBGRAPH_SECRET ?? process.env.TAILOR_SUBGRAPH_SECRET;
  const secret = givenSecret && givenSecret.trim() !== '' ? givenSecret : ensureSubgraphSecret(options.dataDir);
  // Live links are sealed by stock and opened by the gateway: both get the same key, and stock the
  // gateway's URL to point them at.
  const givenLinkKeys = options.env?.TAILOR_LINK_KEYS ?? process.env.TAILOR_LINK_KEYS;
  const linkKeys = givenLinkKeys && givenLinkKeys.trim() !== '' ? givenLinkKeys : ensureLinkKeys(options.dataDir);
  const gatewayPort = options.gatewayPort === 0 ? await freePort(host) : options.gatewayPort;
  const gatewayPorts = [gatewayPort];
  for (let k = 2; k <= gatewayCount; k++) gatewayPorts.push(options.gatewayPort === 0 ? await freePort(host) : gatewayPort + 100 * (k - 1));
  const env = {
    TAILOR_LINK_BASE_URL: process.env.TAILOR_LINK_BASE_URL ?? `http://${host}:${gatewayPort}`,
    ...options.env,
    TAILOR_SUBGRAPH_SECRET: secret,
    TAILOR_LINK_KEYS: linkKeys,
    TAILOR_SUBGRAPH_URLS: local.map((s) => `${s.name}=${replicaUrls(s.name)}`).join(','),
  };
  const subgraphArgs = (port: number) => ['--port', String(port), '--host', host, '--data-dir', options.dataDir];
  const gatewayArgs = (port: number) => ['--port', String(port), '--host', host, '--data-dir', options.dataDir];

  // Every child is tracked, with its service's name, from the moment it is spawned, so that a failed
  // start leaves none behind and `stop` finds even one that is still starting.
  const spawned = new Map<ChildProcess, string>();
  // Children whose exit the launcher asked for (`stop`, `restart`): never restarted.
  const requested = new WeakSet<ChildProcess>();
  const slots = new Map<string, Slot>();
  let stopping = false;
  const spawnTracked = (name: string, entry: string, args: string[]): StartingService => {
    const starting = spawnService(name, entry, args, env, options, onLine);
    spawned.set(starting.child, name);
    starting.child.once('exit', () => spawned.delete(starting.child));
    return starting;
  };
  const stopChildren = async (children: ChildProcess[]) => {
    for (const child of children) requested.add(child);
    await Promise.all(children.map((child) => stopProcess(child)));
  };
  const stopAll = async () => {
    stopping = true;
    for (const slot of slots.values()) clearTimeout(slot.timer);
    // The gateway first: the requests it drains may still need the subgraphs.
    await stopChildren([...spawned].filter(([, name]) => name === 'gateway' || name.startsWith('gateway-')).map(([child]) => child));
    await stopChildren([...spawned.keys()]);
  };

  try {
    const launch = async (name: string, entry: string, args: (port: number) => string[], port: number): Promise<Slot> => {
      const { child, ready } = spawnTracked(name, entry, args(port));
      const listening = await ready;
      return { service: { name, child, ...listening }, entry, args, attempt: 0, upSince: Date.now() };
    };
    // In the registry's order, whichever is up first; replica k of every subgraph once replica k−1 of each is up.
    for (let k = 1; k <= replicaCount; k++) {
      const started = await Promise.all(local.map((subgraph) => launch(replicaName(subgraph.name, k), subgraph.entry, subgraphArgs, ports.get(replicaName(subgraph.name, k))!)));
      for (const slot of started) slots.set(slot.service.name, slot);
    }
    // One after the other: the first makes the development key, the others find it.
    for (let k = 1; k <= gatewayCount; k++) slots.set(replicaName('gateway', k), await launch(replicaName('gateway', k), GATEWAY_ENTRY, gatewayArgs, gatewayPorts[k - 1]));
  } catch (error) {
    await stopAll();
    throw error;
  }

  /** Starts `slot`'s service again on its port; resolves once it listens, rejects if it cannot start. */
  const relaunch = async (slot: Slot): Promise<void> => {
    const { child, ready } = spawnTracked(slot.service.name, slot.entry, slot.args(slot.service.port));
    slot.service.child = child;
    if (policy) supervise(slot, child, policy);
    const listening = await ready;
    slot.service.url = listening.url;
    slot.upSince = Date.now();
  };
  /** Restarts `slot`'s service, after its backoff, if `child` exits while it is the current one and nobody asked it to. */
  const supervise = (slot: Slot, child: ChildProcess, policy: RestartPolicy) => {
    const onExit = (exitCode: number | null, signal: NodeJS.Signals | null) => {
      if (stopping || requested.has(child) || slot.service.child !== child) return;
      const upFor = slot.upSince === undefined ? 0 : Date.now() - slot.upSince;
      slot.attempt = upFor >= policy.resetAfterMs ? 1 : slot.attempt + 1;
      slot.upSince = undefined;
      const event: RestartEvent = { name: slot.service.name, exitCode, signal, attempt: slot.attempt, delayMs: restartDelay(slot.attempt, policy), port: slot.service.port };
      onLine(LAUNCHER, launcherLine('warn', `${event.name} stopped unexpectedly; restarting it in ${event.delayMs} ms`, { ...event }));
      options.onRestart?.(event);
      slot.timer = setTimeout(() => {
        slot.timer = undefined;
        // A process that cannot start exits, and that exit schedules the next attempt.
        if (!stopping) relaunch(slot).catch(() => undefined);
      }, event.delayMs);
    };
    // A process that died between its start and the rest of the stack's is restarted too.
    if (child.exitCode !== null || child.signalCode !== null) onExit(child.exitCode, child.signalCode);
    else child.once('exit', onExit);
  };
  if (policy) for (const slot of slots.values()) supervise(slot, slot.service.child, policy);

  const services: Record<string, ServiceProcess> = Object.fromEntries([...slots].map(([name, slot]) => [name, slot.service]));
  return {
    services,
    remote,
    graphqlUrl: `${services.gateway.url}/graphql`,
    subgraphSecret: secret,
    devKey: readDevKey(options.dataDir),
    stop: stopAll,
    kill() {
      stopping = true;
      for (const slot of slots.values()) clearTimeout(slot.timer);
      for (const child of spawned.keys()) {
        requested.add(child);
        child.kill('SIGKILL');
      }
    },
    async restart(name) {
      const subgraphSlots = [...slots.keys()].filter((slotName) => slotName !== 'gateway' && !slotName.startsWith('gateway-'));
      const slot = subgraphSlots.includes(name) ? slots.get(name) : undefined;
      if (!slot) throw new Error(`${name} is not a subgraph this stack started (it started ${subgraphSlots.join(', ')})`);
      if (stopping) throw new Error(`Cannot restart ${name}: the stack is stopping`);
      clearTimeout(slot.timer);
      slot.timer = undefined;
      await stopChildren([slot.service.child]);
      if (stopping) throw new Error(`Cannot restart ${name}: the stack is stopping`);
      // The same port as before: the gateway and the other subgraphs route to it.
      await relaunch(slot);
      slot.attempt = 0;
      return slot.service;
    },
  };
}

/** One JSON log line of the launcher, in the shape of the services' (pino) lines. */
function launcherLine(level: 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown>): string {
  return JSON.stringify({ level, time: new Date().toISOString(), service: LAUNCHER, msg, ...fields });
}

/** Ports this process has handed out already: never handed out twice. */
const handedOut = new Set<number>();

/**
 * The first port of the kernel's ephemeral range (Linux's `ip_local_port_range`; 32768, its default,
 * elsewhere). Outgoing connections take their source port from that range.
 */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 1024 ? low : 32768;
  } catch {
    return 32768;
  }
}

/** Whether `port` can be bound on `host` right now. */
function bindable(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/**
 * A port that was free on `host` a moment ago, for a service that binds it later. It is drawn at random
 * from below the ephemeral range: a port the kernel picked for `listen(0)` lies inside that range, where
 * any outgoing connection opened before the service binds (to a database, to another service) may take
 * it as its source port. Below it, only another listener can, and this process never hands one out twice.
 */
export async function freePort(host: string): Promise<number> {
  const high = ephemeralLow() - 1;
  const low = Math.max(1025, Math.min(10000, high - 5000));
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (handedOut.has(port) || !(await bindable(port, host))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port on ${host} between ${low} and ${high} after 50 tries`);
}

/** The message a service sends its launcher over IPC once it listens (see `runService`). */
interface ListeningMessage {
  type: 'listening';
  url: string;
  port: number;
}

/** A spawned service process, and whether it came up. */
interface StartingService {
  child: ChildProcess;
  /** Resolves once the process reports over IPC that it listens; rejects if it exits or times out first. */
  ready: Promise<{ url: string; port: number }>;
}

/** Spawns one service; its `ready` resolves once it reports over IPC that it is listening. */
function spawnService(
  name: string,
  entry: string,
  args: string[],
  env: Record<string, string>,
  options: StackOptions,
  onLine: (service: string, line: string) => void,
): StartingService {
  const child = spawn(process.execPath, [...SERVICE_NODE_FLAGS, ...(options.nodeArgs ?? []), '--import', 'tsx', entry, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const timeoutMs = options.startTimeoutMs ?? 60_000;
  // Its stderr until it listens, for the message of a failed start.
  let starting = true;
  const stderr: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => onLine(name, line));
  createInterface({ input: child.stderr! }).on('line', (line) => {
    if (starting) stderr.push(line);
    onLine(name, line);
  });
  const ready = new Promise<{ url: string; port: number }>((resolve, reject) => {
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
      starting = false;
      stderr.length = 0;
      resolve({ port: message.port, url: message.url });
    });
  });
  return { child, ready };
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

/** The development key the gateway wrote to `<dataDir>/dev-key`, or `undefined` when there is none. */
export function readDevKey(dataDir: string): string | undefined {
  const file = join(dataDir, 'dev-key');
  return existsSync(file) ? readFileSync(file, 'utf8').trim() || undefined : undefined;
}
