/**
 * `npm run bench`: starts the real four-process stack twice, one after the other (Tailor as configured,
 * then the baseline with DataLoader batching and LRU caches off), and runs the same single-recipient and
 * campaign workloads on each. Between the two, the floor (`floor.ts`: the same answers from one process
 * over the same SQLite files) is checked against Tailor's running stack, then measured with the same
 * workloads once that stack has stopped. On Tailor's stack also run the fault scenario (`fault.ts`:
 * behavior slowed, then healed), the links scenario (`links.ts`: live links clicked, live images opened)
 * and the ingest scenario (`ingest.ts`: browsing events over behavior's batch route and the gateway's
 * `trackEvents`). It prints a table and writes a JSON result file. `--only compare|fault|links|ingest`
 * runs one of the four scenarios (the floor is part of `compare`).
 * `--backend postgres` makes the compare scenario a backend comparison: Tailor's configuration on SQLite,
 * then on PostgreSQL + Redis (a database and a Redis prefix of the run's own, removed at its end), the
 * baseline skipped (`backends.ts`). See README "Performance".
 */
import BetterSqlite3 from 'better-sqlite3';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { SERVICE_NODE_FLAGS, type Stack, ensureLinkKeys, stopProcess } from '../scripts/startStack';
import { ConfigError, type ConfigSource } from '../kit/config';
import { openLinkToken } from '../kit/linkToken';
import { type FloorSettings, loadFloorSettings } from './floor';
import { type PostgresBackend, createPostgresBackend, serverCpuBetween, snapshotServers } from './backends';
import { type Backend, BACKENDS, type BenchPlan, REPO_ROOT, SCENARIOS, loadBenchConfig, planFor } from './config';
import { runFaultScenario } from './fault';
import { type IngestCredential, TRACK_EVENTS, resolveIngestCredential, runIngestScenario } from './ingest';
import { runLinksScenario } from './links';
import { clockTicksPerSecond, readPeakRssMb, readTreeCpuSeconds, resetPeakRss } from './procStats';
import {
  type BackendsResult,
  type BenchResult,
  type CostRun,
  type ServerCpuRun,
  type ProcessCost,
  type VariantResult,
  type CampaignSeries,
  type SingleSeries,
  type FaultResult,
  type IngestScenarioResult,
  type LinksResult,
  type SingleBaseline,
  type FloorCostRun,
  type FloorIdentity,
  type FloorResult,
  codeVersion,
  evaluateFloorTargets,
  floorRatiosOf,
  evaluateFaultTargets,
  evaluateIngestTargets,
  evaluateLinkTargets,
  evaluateTargets,
  formatTable,
  machineInfo,
  median,
  backendFigures,
  backendRatiosOf,
  evaluateBackendTargets,
  ratiosOf,
  summarizeCost,
  summarizeServerCpu,
  summarizeSingle,
} from './report';
import { type BenchStack, LOOPBACK_GUARD, SERVICES, type Variant, assertLoopback, startBenchStack, variantEnv } from './stack';
import { type CampaignRun, GRID_TRIAL_ROUNDS, type SingleRun, demoIds, gridSearch, persistedBody, persistedHash, requestHeaders, runCampaign, runSingle } from './workloads';

/** Thrown when the run is interrupted (Ctrl-C); the stack is still stopped. */
export class InterruptedError extends Error {
  constructor() {
    super('Benchmark interrupted');
    this.name = 'InterruptedError';
  }
}

/** What `benchmarkVariant` needs besides the plan. */
export interface VariantContext {
  plan: BenchPlan;
  dataDir: string;
  ticksPerSecond: number;
  signal: AbortSignal;
  /** Progress output. */
  log: (line: string) => void;
  /** Told about the running stack (and `undefined` once it is stopped), for the SIGINT handler. */
  onStack?: (stack: Stack | undefined) => void;
  /** Told about a process started besides the stack (the fault scenario's gateway), for the SIGINT handler. */
  onProcess?: (child: ChildProcess | undefined) => void;
  /** With `--backend postgres`: where this stack's subgraphs keep their data (recorded in its result). */
  backend?: Backend;
  /** Environment of every process on top of the variant's (the PostgreSQL and Redis URLs of the PostgreSQL run). */
  env?: Record<string, string>;
  /**
   * Measure the PostgreSQL and Redis servers' CPU over every measured run (`VariantResult.servers`);
   * `database` also picks out the backends serving it.
   */
  servers?: { database?: string };
}

/** The environment of every process of the SQLite stack of the backend comparison: no PostgreSQL, no Redis, whatever the benchmark's environment says (empty means unset). */
const SQLITE_ENV: Record<string, string> = { TAILOR_DATABASE_URL: '', TAILOR_REDIS_URL: '' };

/** The environment of every process of a variant's stack in `context`. */
const stackEnv = (variant: Variant, context: VariantContext) => ({ ...variantEnv(variant, context.plan.demoScale), ...context.env });

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

function checkAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new InterruptedError();
}

/** Reads a service's CPU seconds, with a message naming the service if its process is gone. */
function cpuOf(stack: Stack, name: (typeof SERVICES)[number], ticks: number): number {
  const { child } = stack.services[name];
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) throw new Error(`The ${name} process stopped during the benchmark`);
  return readTreeCpuSeconds(child.pid, ticks);
}

/** Starts one variant's stack, gives it to `use` with the seconds it took to start, and always stops it. */
async function withVariantStack<T>(variant: Variant, context: VariantContext, use: (stack: BenchStack, startSeconds: number) => Promise<T>): Promise<T> {
  const { plan, log } = context;
  const env = stackEnv(variant, context);
  const label = context.backend ? `${variant} on ${context.backend === 'postgres' ? 'PostgreSQL + Redis' : 'SQLite'}` : variant;
  log(`\n== ${label}: starting the stack (${Object.entries(env).map(([k, v]) => `${k}=${v === '' ? "''" : v}`).join(' ')}) …`);
  const started = process.hrtime.bigint();
  const stack = await startBenchStack({ variant, demoScale: plan.demoScale, dataDir: context.dataDir, env: context.env });
  context.onStack?.(stack);
  try {
    const startSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    log(`   started in ${fmt(startSeconds, 1)} s; gateway ${stack.graphqlUrl}`);
    checkAborted(context.signal);
    return await use(stack, startSeconds);
  } finally {
    log(`   stopping the ${variant} stack …`);
    await stack.stop();
    context.onStack?.(undefined);
  }
}

/** Runs the fault scenario on `stack` (Tailor's), interruptible like the workloads. */
async function faultScenario(stack: BenchStack, context: VariantContext): Promise<FaultResult> {
  const result = await runFaultScenario(stack, { plan: context.plan, signal: context.signal, log: context.log, onProcess: context.onProcess });
  checkAborted(context.signal);
  return result;
}

/** Runs the links scenario on `stack` (Tailor's), against `single` if the compare scenario measured it there. */
async function linksScenario(stack: BenchStack, context: VariantContext, single?: SingleBaseline): Promise<LinksResult> {
  const result = await runLinksScenario(stack.graphqlUrl, stack.devKey, { plan: context.plan, signal: context.signal, log: context.log, single });
  checkAborted(context.signal);
  return result;
}

/** Runs the ingest scenario on `stack` (Tailor's), interruptible like the workloads. */
async function ingestScenario(stack: BenchStack, context: VariantContext, credential: IngestCredential): Promise<IngestScenarioResult> {
  const result = await runIngestScenario(stack, { plan: context.plan, signal: context.signal, log: context.log, ticksPerSecond: context.ticksPerSecond, credential });
  checkAborted(context.signal);
  return result;
}

/**
 * Starts one variant's stack, runs every workload on it (single-recipient warm-up and runs, campaign
 * warm-up, grid search, measured campaign runs with their cost), then `after` (if given) on the same
 * stack with those results, and always stops it.
 */
export async function benchmarkVariant(
  variant: Variant,
  context: VariantContext,
  after?: (stack: BenchStack, result: VariantResult) => Promise<void>,
): Promise<VariantResult> {
  return withVariantStack(variant, context, async (stack, startSeconds) => {
    const result = await runWorkloads(variant, stack, startSeconds, context);
    await after?.(stack, result);
    return result;
  });
}

/** Describes one campaign run for the log. */
const describeCampaign = (run: CampaignRun) =>
  `batch ${run.batchSize} × ${run.concurrency}: ${fmt(run.recipientsPerSecond)} recipients/s (${fmt(run.personalized)}/${fmt(run.recipients)} in ${fmt(run.elapsedSeconds, 2)} s)` +
  (run.problems.length > 0 ? `; problems: ${run.problems.join(' | ')}` : '');

/**
 * The single-recipient workload on `url`: the warm-up, then `plan.repetitions` measured runs; `measure`
 * (if given) wraps each run, to read what a server spent over it, and returns what to add to its log line.
 */
async function singleSeries(
  url: string,
  credential: string,
  context: VariantContext,
  measure: (run: () => Promise<SingleRun>) => Promise<{ run: SingleRun; note: string }> = async (run) => ({ run: await run(), note: '' }),
): Promise<{ warmup: SingleRun; runs: SingleRun[] }> {
  const { plan, signal, log } = context;
  const options = { url, credential, ids: demoIds(plan.userCount), connections: plan.single.connections, timeoutSeconds: plan.single.timeoutSeconds, signal };
  log(`   single recipient: warm-up ${plan.single.warmupSeconds} s …`);
  const warmup = await runSingle({ ...options, durationSeconds: plan.single.warmupSeconds });
  const runs: SingleRun[] = [];
  for (let rep = 1; rep <= plan.repetitions; rep++) {
    checkAborted(signal);
    const { run, note } = await measure(() => runSingle({ ...options, durationSeconds: plan.single.durationSeconds }));
    runs.push(run);
    log(
      `   single recipient run ${rep}/${plan.repetitions}: ${fmt(run.requestsPerSecond)} req/s, p50 ${fmt(run.p50Ms, 1)} ms, p99 ${fmt(run.p99Ms, 1)} ms, ` +
        `non-2xx ${run.non2xx}, errors ${run.errors}, bad bodies ${run.badBodies}${note}`,
    );
  }
  checkAborted(signal);
  return { warmup, runs };
}

/** The campaign workload's warm-up and grid search on `url`, and the options its measured runs share. */
async function campaignGrid(url: string, credential: string, context: VariantContext) {
  const { plan, signal, log } = context;
  const base = { url, credential, ids: demoIds(plan.userCount), requestTimeoutMs: plan.campaign.requestTimeoutMs, deadlineMs: plan.campaign.deadlineMs, signal };
  log(`   campaign: warm-up ${fmt(plan.campaign.warmupRecipients)} recipients …`);
  const warmup = await runCampaign({ ...base, recipients: plan.campaign.warmupRecipients, batchSize: 250, concurrency: 2 });
  checkAborted(signal);
  const { grid } = plan.campaign;
  log(`   campaign grid search: batch ${grid.batchSizes.join('/')} × concurrency ${grid.concurrencies.join('/')}, at least ${fmt(grid.trialRecipients)} recipients and ${GRID_TRIAL_ROUNDS} rounds of batches per trial`);
  const search = await gridSearch({ ...base, ...grid, onTrial: (trial) => log(`     ${describeCampaign(trial)}`) });
  return { base, warmup, search };
}

/** The single-recipient figures of one server: its runs and their medians. */
const singleSeriesOf = (plan: BenchPlan, warmup: SingleRun, runs: SingleRun[]): SingleSeries => ({
  connections: plan.single.connections,
  durationSeconds: plan.single.durationSeconds,
  ...summarizeSingle(runs),
  warmup,
  runs,
});

/** The campaign figures of one server: warm-up, grid, the measured runs at `pair` and their medians. */
const campaignSeriesOf = (plan: BenchPlan, pair: { batchSize: number; concurrency: number }, warmup: CampaignRun, grid: CampaignRun[], runs: CampaignRun[]): CampaignSeries => ({
  recipients: plan.campaign.recipients,
  ...pair,
  warmup,
  grid,
  median: { recipientsPerSecond: median(runs.map((r) => r.recipientsPerSecond)), elapsedSeconds: median(runs.map((r) => r.elapsedSeconds)) },
  failedRecipients: runs.reduce((t, r) => t + r.failedRecipients, 0),
  runs,
});

/** Every workload of the compare scenario on one running stack. */
async function runWorkloads(variant: Variant, stack: BenchStack, startSeconds: number, context: VariantContext): Promise<VariantResult> {
  const { plan, signal, log } = context;
  const env = stackEnv(variant, context);
  const url = stack.graphqlUrl;
  // The PostgreSQL and Redis servers' CPU over a measured run, when asked for.
  const probe = context.servers;
  const serversBefore = () => (probe ? snapshotServers(context.ticksPerSecond) : undefined);
  const serversSince = (before: ReturnType<typeof serversBefore>): ServerCpuRun | undefined =>
    before && serverCpuBetween(before, snapshotServers(context.ticksPerSecond), probe?.database);
  const singleServers: (ServerCpuRun & { count: number })[] = [];
  const campaignServers: (ServerCpuRun & { count: number })[] = [];
  const describeServers = (cpu: ServerCpuRun | undefined) =>
    cpu
      ? `; PostgreSQL server ${fmt(cpu.postgresCpuSeconds, 2)} CPU s` +
        (cpu.postgresBenchDatabaseCpuSeconds === undefined ? '' : ` (${fmt(cpu.postgresBenchDatabaseCpuSeconds, 2)} s in the bench database's ${cpu.postgresBenchDatabaseBackends} backend(s))`) +
        `, Redis ${fmt(cpu.redisCpuSeconds, 2)} CPU s`
      : '';
  const { warmup, runs: singleRuns } = await singleSeries(url, stack.devKey, context, async (single) => {
    const before = serversBefore();
    const run = await single();
    const servers = serversSince(before);
    if (servers) singleServers.push({ ...servers, count: run.requests });
    return { run, note: describeServers(servers) };
  });
  const { base: campaignBase, warmup: campaignWarmup, search } = await campaignGrid(url, stack.devKey, context);
  const { batchSize, concurrency } = search.best;
  log(`   best: batch ${batchSize} × concurrency ${concurrency}`);

  const campaignRuns: CampaignRun[] = [];
  const costRuns: CostRun[] = [];
  let peakRssReset = true;
  for (let rep = 1; rep <= plan.repetitions; rep++) {
    checkAborted(signal);
    for (const name of SERVICES) peakRssReset = resetPeakRss(stack.services[name].child.pid!) && peakRssReset;
    const before = serversBefore();
    const cpuBefore = Object.fromEntries(SERVICES.map((n) => [n, cpuOf(stack, n, context.ticksPerSecond)]));
    const selfBefore = process.cpuUsage();
    const run = await runCampaign({ ...campaignBase, recipients: plan.campaign.recipients, batchSize, concurrency });
    const self = process.cpuUsage(selfBefore);
    const servers = serversSince(before);
    checkAborted(signal);
    if (servers) campaignServers.push({ ...servers, count: run.personalized });
    const thousands = Math.max(run.personalized, 1) / 1000;
    const processes = Object.fromEntries(
      SERVICES.map((n) => {
        const cpuSeconds = cpuOf(stack, n, context.ticksPerSecond) - cpuBefore[n];
        const cost: ProcessCost = { cpuSeconds, cpuSecondsPer1000Recipients: cpuSeconds / thousands, peakRssMb: readPeakRssMb(stack.services[n].child.pid!) };
        return [n, cost];
      }),
    ) as CostRun['processes'];
    const selfSeconds = (self.user + self.system) / 1e6;
    campaignRuns.push(run);
    costRuns.push({ personalized: run.personalized, processes, loadGenerator: { cpuSeconds: selfSeconds, cpuSecondsPer1000Recipients: selfSeconds / thousands } });
    log(`   campaign run ${rep}/${plan.repetitions}: ${describeCampaign(run)}${describeServers(servers)}`);
  }

  return {
    variant,
    ...(context.backend ? { backend: context.backend } : {}),
    env,
    startSeconds,
    single: singleSeriesOf(plan, warmup, singleRuns),
    campaign: campaignSeriesOf(plan, { batchSize, concurrency }, campaignWarmup, search.trials, campaignRuns),
    cost: { ...summarizeCost(costRuns), peakRssReset, runs: costRuns },
    ...(probe ? { servers: { single: summarizeServerCpu('requests', singleServers), campaign: summarizeServerCpu('recipients', campaignServers) } } : {}),
  };
}

/** The floor's process entry (`bench/floorMain.ts`). */
const FLOOR_ENTRY = join(REPO_ROOT, 'bench', 'floorMain.ts');

/** A running floor process. */
interface FloorProcess {
  child: ChildProcess;
  url: string;
  startSeconds: number;
  stop(): Promise<void>;
}

/** What the floor's process and its comparisons need to know of Tailor's stack on `context.dataDir`. */
interface FloorStackSettings {
  /** The environment of Tailor's processes, which the floor's subgraph settings are read from. */
  env: Record<string, string>;
  /** The gateway the stack's live links point at. */
  linkBaseUrl: string;
  settings: FloorSettings;
}

/** The settings of Tailor's stack that the floor must share: its environment, live link key and base URL (as `startStack` gives them). */
function floorStackSettings(stack: BenchStack, context: VariantContext): FloorStackSettings {
  const env = stackEnv('tailor', context);
  const given = context.env?.TAILOR_LINK_KEYS ?? process.env.TAILOR_LINK_KEYS;
  const linkKeys = given && given.trim() !== '' ? given : ensureLinkKeys(context.dataDir);
  const linkBaseUrl = context.env?.TAILOR_LINK_BASE_URL ?? process.env.TAILOR_LINK_BASE_URL ?? `http://127.0.0.1:${stack.services.gateway.port}`;
  return { env, linkBaseUrl, settings: loadFloorSettings({ ...process.env, ...env, TAILOR_LINK_KEYS: linkKeys, TAILOR_LINK_BASE_URL: linkBaseUrl }) };
}

/**
 * Spawns the floor (`bench/floorMain.ts`) over `context.dataDir` with the stack's environment, the
 * services' Node.js flags and the loopback guard, and waits for its listening line.
 */
async function startFloorProcess(floor: FloorStackSettings, context: VariantContext): Promise<FloorProcess> {
  const started = process.hrtime.bigint();
  const child = spawn(
    process.execPath,
    [...SERVICE_NODE_FLAGS, '--require', LOOPBACK_GUARD, '--import', 'tsx', FLOOR_ENTRY, '--data-dir', context.dataDir, '--port', '0', '--host', '127.0.0.1', '--link-base-url', floor.linkBaseUrl],
    { cwd: REPO_ROOT, env: { ...process.env, ...floor.env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  context.onProcess?.(child);
  const stderr: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => {
    stderr.push(line);
    process.stderr.write(`  [floor] ${line}\n`);
  });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('The floor did not start listening within 60 s')), 60_000);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`The floor exited during start-up (${signal ?? `code ${code}`}):\n${stderr.join('\n')}`));
      });
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const match = line.match(/^Floor listening on (\S+)$/);
        if (!match) return;
        clearTimeout(timer);
        resolve(match[1]);
      });
    });
    assertLoopback(url);
    return {
      child,
      url,
      startSeconds: Number(process.hrtime.bigint() - started) / 1e9,
      stop: async () => {
        await stopProcess(child);
        context.onProcess?.(undefined);
      },
    };
  } catch (error) {
    child.kill('SIGKILL');
    context.onProcess?.(undefined);
    throw error;
  }
}

/** The trending ranking Tailor's stock saved (`trending_ranking` of `stock.db`): when it was fetched and for how long it counts as fresh. */
function savedTrending(dataDir: string): { fetchedAt: number; maxAgeMs: number } | undefined {
  const db = new BetterSqlite3(join(dataDir, 'stock.db'), { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare('SELECT fetched_at, max_age_ms FROM trending_ranking WHERE id = 1').get() as { fetched_at: number; max_age_ms: number } | undefined;
    return row && { fetchedAt: row.fetched_at, maxAgeMs: row.max_age_ms };
  } finally {
    db.close();
  }
}

/** How much of the trending ranking's max-age the identity check needs left when the floor starts. */
const TRENDING_FRESH_FOR_MS = 20_000;

/**
 * Makes Tailor's stock serve a trending ranking fresh for at least `TRENDING_FRESH_FOR_MS`: when less is
 * left, waits until it is stale, sends one request (stock then refreshes it in the background) and waits
 * for the new one to be saved. The floor, started afterwards, reads that same ranking at its start.
 */
async function freshTrending(stack: BenchStack, context: VariantContext): Promise<FloorIdentity['trending']> {
  const began = Date.now();
  const saved = savedTrending(context.dataDir);
  const left = saved ? saved.fetchedAt + saved.maxAgeMs - Date.now() : 0;
  if (saved && left >= TRENDING_FRESH_FOR_MS) return { maxAgeMs: saved.maxAgeMs, waitedMs: 0, refreshed: false };
  if (saved && saved.maxAgeMs < TRENDING_FRESH_FOR_MS) return { maxAgeMs: saved.maxAgeMs, waitedMs: 0, refreshed: false };
  if (left > 0) {
    context.log(`   floor: Tailor's trending ranking is fresh for ${fmt(left / 1000, 1)} s more; waiting for it to be refreshed first …`);
    await sleep(left + 50, undefined, { signal: context.signal }).catch(() => undefined);
  }
  const body = persistedBody(persistedHash('PersonalizeRecipient'), { id: 'u-00001' });
  let refreshed = false;
  for (let attempt = 0; attempt < 100 && !refreshed && !context.signal.aborted; attempt++) {
    if (attempt % 10 === 0) await fetch(stack.graphqlUrl, { method: 'POST', headers: requestHeaders(stack.devKey), body }).then((r) => r.text());
    await sleep(100);
    const now = savedTrending(context.dataDir);
    refreshed = now !== undefined && now.fetchedAt !== saved?.fetchedAt;
  }
  return { maxAgeMs: savedTrending(context.dataDir)?.maxAgeMs ?? null, waitedMs: Date.now() - began, refreshed };
}

/** One request of the identity check: a campaign batch or a single recipient, and its variables besides the ids. */
interface Probe {
  operation: 'CampaignBatch' | 'PersonalizeRecipient';
  ids: string[];
  variables: Record<string, unknown>;
}

/** The request body of `probe` for `ids` (the probe's own by default). */
function probeBody(probe: Probe, ids = probe.ids): string {
  const variables = probe.operation === 'CampaignBatch' ? { ...probe.variables, ids } : { ...probe.variables, id: ids[0] };
  return persistedBody(persistedHash(probe.operation), variables);
}

/** Each recipient's entry of an answer to `probe` for `ids`, parsed; `undefined` unless it is a 200 of exactly `{ data }` with one entry per id. */
async function probeEntries(url: string, probe: Probe, ids: string[], headers: Record<string, string>): Promise<{ entries?: unknown[]; problem?: string }> {
  const response = await fetch(url, { method: 'POST', headers, body: probeBody(probe, ids) });
  const text = await response.text();
  let parsed: { data?: { users?: unknown[]; user?: unknown } } | undefined;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { problem: `HTTP ${response.status}, not JSON: ${text.slice(0, 200)}` };
  }
  if (response.status !== 200 || !parsed || Object.keys(parsed).join() !== 'data') return { problem: `HTTP ${response.status}: ${text.slice(0, 200)}` };
  const entries = probe.operation === 'CampaignBatch' ? parsed.data?.users : [parsed.data?.user];
  if (!Array.isArray(entries) || entries.length !== ids.length) return { problem: `no entry per id: ${text.slice(0, 200)}` };
  return { entries };
}

/** The first place two parsed JSON values differ, for the report. */
function firstDifference(a: unknown, b: unknown, path = ''): string {
  if (JSON.stringify(a) === JSON.stringify(b)) return '';
  if (a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
    const keysA = Object.keys(a);
    const keysB = Object.keys(b);
    if (keysA.join() !== keysB.join()) return `${path || '.'}: keys ${keysA.join(',')} ≠ ${keysB.join(',')}`;
    for (const key of keysA) {
      const found = firstDifference((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], `${path}.${key}`);
      if (found) return found;
    }
  }
  return `${path || '.'}: Tailor ${JSON.stringify(a)?.slice(0, 120)} ≠ floor ${JSON.stringify(b)?.slice(0, 120)}`;
}

/** Up to `count` instants spread evenly over `[from, to]`, both included, each once. */
function instantsBetween(from: number, to: number, count: number): number[] {
  const span = Math.max(to - from, 0);
  return [...new Set(Array.from({ length: Math.min(count, span + 1) }, (_, i) => from + Math.round((i * span) / Math.max(Math.min(count, span + 1) - 1, 1))))];
}

/**
 * Compares Tailor's and the floor's answers to `probe`, recipient by recipient, byte for byte after a
 * JSON parse: first the floor live, right after Tailor answered; then each recipient that differed at
 * pinned instants of the interval in which Tailor answered, its live links sealed at the second that
 * Tailor's tokens for it name. Resolves to the recipients still different (with Tailor's entry and the
 * floor's last one).
 */
async function compareProbe(
  probe: Probe,
  urls: { tailor: string; floor: string },
  credential: string,
  floor: FloorSettings,
): Promise<{ live: number; pinned: number; different: { id: string; detail: string }[] }> {
  const headers = requestHeaders(credential);
  const t0 = Date.now();
  const tailor = await probeEntries(urls.tailor, probe, probe.ids, headers);
  const t1 = Date.now();
  if (!tailor.entries) return { live: 0, pinned: 0, different: probe.ids.map((id) => ({ id, detail: `Tailor answered ${tailor.problem}` })) };
  const expected = new Map(probe.ids.map((id, i) => [id, JSON.stringify(tailor.entries![i])]));
  const live = await probeEntries(urls.floor, probe, probe.ids, headers);
  const last = new Map<string, unknown>();
  let open = probe.ids.filter((id, i) => {
    const entry = live.entries?.[i];
    last.set(id, live.entries ? entry : live.problem);
    return JSON.stringify(entry) !== expected.get(id) || !live.entries;
  });
  const liveMatches = probe.ids.length - open.length;
  // The second Tailor sealed each recipient's links at: every token of the list names it.
  const linkInstant = (id: string): number | undefined => {
    const entry = tailor.entries![probe.ids.indexOf(id)] as { recommendations?: { clickUrl?: string }[] } | null;
    const token = entry?.recommendations?.[0]?.clickUrl?.match(/\/r\/([A-Za-z0-9_-]+)$/)?.[1];
    const opened = token && floor.links ? openLinkToken(floor.links.keyring, token) : undefined;
    return opened?.ok ? opened.claims.expiresAt - floor.links!.ttlMs : undefined;
  };
  const groups = new Map<number | undefined, string[]>();
  for (const id of open) {
    const at = linkInstant(id);
    groups.set(at, [...(groups.get(at) ?? []), id]);
  }
  let pinned = 0;
  for (const [linkAt, group] of groups) {
    let waiting = group;
    for (const now of instantsBetween(t0, t1, 32)) {
      if (waiting.length === 0) break;
      const answer = await probeEntries(urls.floor, probe, waiting, { ...headers, 'tailor-floor-now': String(now), 'tailor-floor-link-now': String(linkAt ?? now) });
      if (!answer.entries) continue;
      waiting = waiting.filter((id, i) => {
        last.set(id, answer.entries![i]);
        return JSON.stringify(answer.entries![i]) !== expected.get(id);
      });
    }
    pinned += group.length - waiting.length;
    open = open.filter((id) => !group.includes(id) || waiting.includes(id));
  }
  return {
    live: liveMatches,
    pinned,
    different: open.map((id) => ({ id, detail: firstDifference(JSON.parse(expected.get(id)!), last.get(id)) })),
  };
}

/**
 * The floor's identity check, on Tailor's running stack before it stops: starts the floor on the same
 * data folder, asks both a sample of campaign batches and single recipients (`plan.floor.identity`) and
 * compares every recipient's entry (`compareProbe`); a recipient still different is asked of both once
 * more. Stops the floor again.
 */
async function checkFloorIdentity(stack: BenchStack, settings: FloorStackSettings, context: VariantContext): Promise<FloorIdentity> {
  const { plan, log } = context;
  const sample = plan.floor.identity;
  const trending = await freshTrending(stack, context);
  checkAborted(context.signal);
  log(`   floor: identity check on Tailor's stack (${sample.batches} batches of ${sample.batchSize}, ${sample.singles} single recipients) …`);
  const floor = await startFloorProcess(settings, context);
  try {
    const ids = demoIds(plan.userCount);
    const probes: Probe[] = [];
    for (let b = 0; b < sample.batches; b++) {
      // One id per batch that no user has: its entry must be null in both.
      const batch = [...Array.from({ length: sample.batchSize - 1 }, (_, k) => ids[(b * (sample.batchSize - 1) + k) % ids.length]), `u-unknown-${b + 1}`];
      probes.push({ operation: 'CampaignBatch', ids: batch, variables: b % 2 === 1 ? { campaign: sample.campaign } : {} });
    }
    const step = Math.max(1, Math.floor(ids.length / sample.singles));
    for (let i = 0; i < sample.singles; i++) probes.push({ operation: 'PersonalizeRecipient', ids: [ids[(i * step) % ids.length]], variables: i % 2 === 1 ? { campaign: sample.campaign } : {} });
    const urls = { tailor: stack.graphqlUrl, floor: floor.url };
    let matchedLive = 0;
    let matchedPinned = 0;
    let matchedOnRetry = 0;
    const different: { id: string; detail: string }[] = [];
    for (const probe of probes) {
      checkAborted(context.signal);
      const first = await compareProbe(probe, urls, stack.devKey, settings.settings);
      matchedLive += first.live;
      matchedPinned += first.pinned;
      if (first.different.length === 0) continue;
      // Once more, from both: whatever time changed between the two answers has changed again.
      const again = await compareProbe({ ...probe, ids: first.different.map((d) => d.id) }, urls, stack.devKey, settings.settings);
      matchedOnRetry += again.live + again.pinned;
      different.push(...again.different);
    }
    const recipients = probes.reduce((t, p) => t + p.ids.length, 0);
    log(
      `   floor: ${fmt(recipients)} recipients compared: ${fmt(matchedLive)} equal at once, ${fmt(matchedPinned)} at a pinned instant, ${fmt(matchedOnRetry)} on a retry, ${fmt(different.length)} different` +
        (trending.waitedMs > 0 ? ` (waited ${fmt(trending.waitedMs / 1000, 1)} s for a fresh trending ranking)` : ''),
    );
    for (const d of different.slice(0, 5)) log(`     ${d.id}: ${d.detail}`);
    return {
      method:
        'Each recipient\'s entry (users[i] of CampaignBatch, user of PersonalizeRecipient) of Tailor\'s answer through the gateway and of the floor\'s answer to the same body, compared as JSON.stringify of the parsed value (keys in order). ' +
        'The floor is asked right after Tailor answers; an entry that differs is asked again with tailor-floor-now pinned at up to 32 instants spread over the interval from sending Tailor\'s request to its answer, and tailor-floor-link-now at the second Tailor\'s live link tokens for that recipient name (opened with the stack\'s link key); ' +
        'a recipient still different is asked of both once more, in the same way. When the ranking\'s max-age allows it, the floor is started once Tailor\'s trending ranking has at least 20 s of its max-age left (trending: how long the benchmark waited for a refresh), so that both serve the one ranking saved in stock.db throughout.',
      campaignBatches: sample.batches,
      batchSize: sample.batchSize,
      singles: sample.singles,
      recipients,
      unknownIds: sample.batches,
      matchedLive,
      matchedPinned,
      matchedOnRetry,
      mismatches: different.length,
      samples: different.slice(0, 5).map((d) => `${d.id}: ${d.detail}`),
      trending,
    };
  } finally {
    await floor.stop();
  }
}

/**
 * Measures the floor with the compare scenario's workloads, after Tailor's stack has stopped: the
 * single-recipient warm-up and runs, the campaign warm-up, the floor's own grid, then the measured
 * campaign runs at Tailor's batch size and concurrency, with the floor process's CPU and peak RSS.
 */
async function benchmarkFloor(tailor: VariantResult, identity: FloorIdentity, settings: FloorStackSettings, context: VariantContext): Promise<FloorResult> {
  const { plan, signal, log } = context;
  log(`\n== floor: starting bench/floorMain.ts on the same data folder …`);
  const floor = await startFloorProcess(settings, context);
  try {
    const url = floor.url;
    const pid = floor.child.pid!;
    log(`   started in ${fmt(floor.startSeconds, 1)} s; ${url}`);
    // The floor takes no client key; the header is sent as to the gateway, and ignored.
    const { warmup, runs: singleRuns } = await singleSeries(url, 'floor', context);
    const { base: campaignBase, warmup: campaignWarmup, search } = await campaignGrid(url, 'floor', context);
    const { batchSize, concurrency } = tailor.campaign;
    log(`   floor's best: batch ${search.best.batchSize} × concurrency ${search.best.concurrency}; measured runs at Tailor's, batch ${batchSize} × concurrency ${concurrency}`);
    const campaignRuns: CampaignRun[] = [];
    const costRuns: FloorCostRun[] = [];
    let peakRssReset = true;
    for (let rep = 1; rep <= plan.repetitions; rep++) {
      checkAborted(signal);
      peakRssReset = resetPeakRss(pid) && peakRssReset;
      const cpuBefore = readTreeCpuSeconds(pid, context.ticksPerSecond);
      const selfBefore = process.cpuUsage();
      const run = await runCampaign({ ...campaignBase, recipients: plan.campaign.recipients, batchSize, concurrency });
      const self = process.cpuUsage(selfBefore);
      checkAborted(signal);
      const cpuSeconds = readTreeCpuSeconds(pid, context.ticksPerSecond) - cpuBefore;
      const thousands = Math.max(run.personalized, 1) / 1000;
      const selfSeconds = (self.user + self.system) / 1e6;
      campaignRuns.push(run);
      costRuns.push({
        personalized: run.personalized,
        cpuSeconds,
        cpuSecondsPer1000Recipients: cpuSeconds / thousands,
        peakRssMb: readPeakRssMb(pid),
        loadGenerator: { cpuSeconds: selfSeconds, cpuSecondsPer1000Recipients: selfSeconds / thousands },
      });
      log(`   campaign run ${rep}/${plan.repetitions}: ${describeCampaign(run)}; floor CPU ${fmt(cpuSeconds / thousands, 3)} s per 1,000 recipients`);
    }
    const measured = {
      single: singleSeriesOf(plan, warmup, singleRuns),
      campaign: {
        ...campaignSeriesOf(plan, { batchSize, concurrency }, campaignWarmup, search.trials, campaignRuns),
        gridBest: { batchSize: search.best.batchSize, concurrency: search.best.concurrency, recipientsPerSecond: search.best.recipientsPerSecond },
      },
      cost: {
        cpuSecondsPer1000Recipients: median(costRuns.map((r) => r.cpuSecondsPer1000Recipients)),
        peakRssMb: median(costRuns.map((r) => r.peakRssMb)),
        loadGeneratorCpuSecondsPer1000Recipients: median(costRuns.map((r) => r.loadGenerator.cpuSecondsPer1000Recipients)),
        peakRssReset,
        runs: costRuns,
      },
    };
    return { valid: identity.mismatches === 0, identity, startSeconds: floor.startSeconds, ...measured, ratios: floorRatiosOf(tailor, measured) };
  } finally {
    log('   stopping the floor …');
    await floor.stop();
  }
}

/** Secrets of the environment (a webhook secret the ingest scenario signs with, say): named in the result, never written there. */
const SECRET_SETTING = /SECRET|^TAILOR_LINK_KEYS$/;

/** TAILOR_* variables of this process's environment (inherited by every started process), except the benchmark's own; secrets as `(set)`. */
function inheritedTailorEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env)
      .filter((e): e is [string, string] => e[0].startsWith('TAILOR_') && !e[0].startsWith('TAILOR_BENCH_') && e[1] !== undefined)
      .map(([name, value]) => [name, SECRET_SETTING.test(name) && value !== '' ? '(set)' : value]),
  );
}

/** Runs the whole benchmark; resolves to the process exit code (0 done, 1 failed, 2 bad flags, 130 interrupted). */
export async function main(source: ConfigSource): Promise<number> {
  let config;
  let ingestCredential: IngestCredential | undefined;
  try {
    config = loadBenchConfig(source);
    // Checked before any stack starts: the credential behavior's batch route will require, from the
    // environment every process inherits (the SQLite stack's own environment sets no ingest setting).
    if (config.only === undefined || config.only === 'ingest') ingestCredential = resolveIngestCredential(source.env, config.ingestKey);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\nUsage: npm run bench -- [--short] [--out FILE] [--duration SECONDS] [--connections N] [--repetitions N] [--only ${SCENARIOS.join('|')}] [--backend ${BACKENDS.join('|')}]\n`);
      return 2;
    }
    throw error;
  }
  if (process.platform !== 'linux') {
    process.stderr.write('npm run bench reads CPU time and peak memory from /proc: it runs on Linux only.\n');
    return 1;
  }
  const startedAt = new Date();
  const loadAtStart = loadavg();
  const code = codeVersion(REPO_ROOT);
  const plan = planFor(config, startedAt);
  const log = (line: string) => process.stdout.write(`${line}\n`);
  const controller = new AbortController();
  let running: Stack | undefined;
  let extra: ChildProcess | undefined;
  let postgres: PostgresBackend | undefined;
  let cleanupReported = false;
  /** Drops the PostgreSQL run's database and deletes its Redis keys (once; later calls give the same outcome), telling any problem once. */
  const cleanUpPostgres = async () => {
    if (!postgres) return undefined;
    const cleanup = await postgres.cleanup();
    if (!cleanupReported) for (const problem of cleanup.errors) process.stderr.write(`Clean-up: ${problem}\n`);
    cleanupReported = true;
    return cleanup;
  };
  const dataDir = mkdtempSync(join(tmpdir(), 'tailor-bench-'));
  let interrupts = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupts++;
    if (interrupts === 1) {
      process.stderr.write(`\n${signal}: stopping the benchmark and its processes (again to force) …\n`);
      controller.abort();
      return;
    }
    for (const service of Object.values(running?.services ?? {})) service.child.kill('SIGKILL');
    extra?.kill('SIGKILL');
    // The PostgreSQL run's database and Redis keys, synchronously: nothing can be awaited here.
    postgres?.cleanupSync();
    rmSync(dataDir, { recursive: true, force: true });
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const ticksPerSecond = clockTicksPerSecond();
  const compare = plan.scenarios.includes('compare');
  const withFault = plan.scenarios.includes('fault');
  const withLinks = plan.scenarios.includes('links');
  const withIngest = plan.scenarios.includes('ingest');
  const backendComparison = compare && plan.backend === 'postgres';
  log(
    `Tailor benchmark, ${plan.mode} mode: demo scale ${plan.demoScale} (${fmt(plan.userCount)} users), ${plan.repetitions} run(s) per workload` +
      (compare ? `, single ${plan.single.durationSeconds} s at ${plan.single.connections} connections, campaign ${fmt(plan.campaign.recipients)} recipients, then the floor` : '') +
      (backendComparison ? ', Tailor on SQLite then on PostgreSQL + Redis (baseline skipped)' : '') +
      (withFault ? `, fault scenario ${plan.fault.durationSeconds} s per run at ${plan.fault.connections} connections (behavior slowed to ${fmt(plan.fault.slowMs)} ms)` : '') +
      (withLinks ? `, links scenario ${plan.links.durationSeconds} s per run at ${plan.links.connections} connections (${fmt(plan.links.recipients)} recipients' links)` : '') +
      (withIngest
        ? `, ingest scenario ${fmt(plan.ingest.http.events)} events per run over POST /ingest/events and ${fmt(plan.ingest.mutation.events)} through trackEvents (batches of ${plan.ingest.batchSize})`
        : '') +
      '.',
  );
  try {
    const context: VariantContext = {
      plan,
      dataDir,
      ticksPerSecond,
      signal: controller.signal,
      log,
      onStack: (stack) => void (running = stack),
      onProcess: (child) => void (extra = child),
    };
    if (backendComparison) {
      log('Checking PostgreSQL and Redis on 127.0.0.1 and creating the run\'s database …');
      postgres = await createPostgresBackend();
      log(`   database ${postgres.database} (PostgreSQL ${postgres.versions.postgres}), Redis ${postgres.versions.redis} prefix ${postgres.redisPrefix}`);
    }
    // With --backend postgres, every SQLite stack is told to use neither PostgreSQL nor Redis, and the compare scenario's measures the servers' CPU too.
    const sqlite: VariantContext = backendComparison ? { ...context, backend: 'sqlite', env: SQLITE_ENV } : context;
    // One after the other, never both at once: they would share the same cores. The fault scenario
    // runs on Tailor's stack, after its workloads (or on a stack of its own with --only fault). The
    // links scenario records clicks in the data folder the baseline reuses, so it runs after the
    // baseline, on Tailor's stack started again (or on a stack of its own with --only links).
    let fault: FaultResult | undefined;
    let links: LinksResult | undefined;
    let ingest: IngestScenarioResult | undefined;
    const runIngest = async (stack: BenchStack) => void (ingest = await ingestScenario(stack, sqlite, ingestCredential!));
    const runFault = async (stack: BenchStack) => void (fault = await faultScenario(stack, context));
    // The floor's identity check runs on Tailor's stack after its workloads (before the fault scenario,
    // which changes no data); the floor is measured once that stack has stopped, before the baseline.
    let floorCheck: { identity: FloorIdentity; settings: FloorStackSettings } | undefined;
    const afterTailor = async (stack: BenchStack) => {
      const settings = floorStackSettings(stack, sqlite);
      floorCheck = { settings, identity: await checkFloorIdentity(stack, settings, sqlite) };
      if (withFault) await runFault(stack);
    };
    const tailor = compare ? await benchmarkVariant('tailor', backendComparison ? { ...sqlite, servers: {} } : sqlite, afterTailor) : undefined;
    const floor = tailor && floorCheck ? await benchmarkFloor(tailor, floorCheck.identity, floorCheck.settings, sqlite) : undefined;
    if (!compare && withFault) await withVariantStack('tailor', sqlite, runFault);
    const baseline = compare && !backendComparison ? await benchmarkVariant('baseline', context) : undefined;
    let backends: BackendsResult | undefined;
    if (backendComparison && tailor && postgres) {
      // After the SQLite stack has stopped, never beside it; its own data folder (the gateway's database and keys).
      const pgContext: VariantContext = { ...context, dataDir: join(dataDir, 'postgres'), backend: 'postgres', env: postgres.env, servers: { database: postgres.database } };
      let pgResult: VariantResult;
      try {
        pgResult = await benchmarkVariant('tailor', pgContext);
      } finally {
        log(`   dropping database ${postgres.database} and deleting the Redis keys ${postgres.redisPrefix}* …`);
        await cleanUpPostgres();
      }
      const cleanup = (await cleanUpPostgres())!;
      const sqliteFigures = backendFigures(tailor);
      const pgFigures = backendFigures(pgResult);
      backends = {
        order: ['sqlite', 'postgres'],
        baseline: 'skipped',
        sqlite: { result: 'tailor', figures: sqliteFigures },
        postgres: {
          database: postgres.database,
          databaseUrl: postgres.databaseUrl,
          postgresVersion: postgres.versions.postgres,
          redisUrl: postgres.redisUrl,
          redisPrefix: postgres.redisPrefix,
          redisVersion: postgres.versions.redis,
          figures: pgFigures,
          result: pgResult,
          cleanup,
        },
        ratios: backendRatiosOf(pgFigures, sqliteFigures),
      };
    }
    if (withLinks) {
      const single: SingleBaseline | undefined = tailor && {
        source: 'compare',
        connections: tailor.single.connections,
        durationSeconds: tailor.single.durationSeconds,
        median: tailor.single.median,
        problems: tailor.single.problems,
      };
      // The ingest scenario, when it runs too, follows on the same stack: it adds events that no
      // scenario after it reads.
      await withVariantStack('tailor', sqlite, async (stack) => {
        links = await linksScenario(stack, sqlite, single);
        if (withIngest) await runIngest(stack);
      });
    } else if (withIngest) {
      await withVariantStack('tailor', sqlite, runIngest);
    }
    const ratios = tailor && baseline ? ratiosOf(tailor, baseline) : undefined;
    const result: BenchResult = {
      tool: 'tailor-bench',
      formatVersion: 1,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      command: ['node --import tsx bench/run.ts', ...source.argv].join(' '),
      code,
      machine: machineInfo(loadAtStart),
      settings: {
        mode: plan.mode,
        demoScale: plan.demoScale,
        userCount: plan.userCount,
        single: { ...plan.single, operation: 'PersonalizeRecipient', transport: 'autocannon 9, POST with extensions.persistedQuery.sha256Hash only, ids cycling' },
        campaign: { ...plan.campaign, operation: 'CampaignBatch' },
        fault: { ...plan.fault, operation: 'PersonalizeRecipient', faultedSubgraph: 'behavior' },
        links: { ...plan.links, operation: 'CampaignBatch', transport: 'autocannon 9, GET of the click URLs, then of the image URLs, cycling, no Authorization header, redirects not followed' },
        ingest: {
          ...plan.ingest,
          operations: { http: 'POST <behavior>/ingest/events, a JSON array of events (fetch, keep-alive)', mutation: TRACK_EVENTS },
          ...(ingestCredential ? { auth: ingestCredential.mode } : {}),
        },
        repetitions: plan.repetitions,
        scenarios: plan.scenarios,
        backend: plan.backend,
        statistic: `median of ${plan.repetitions} run(s), each figure's median taken on its own`,
        clockTicksPerSecond: ticksPerSecond,
        inheritedEnv: inheritedTailorEnv(process.env),
        notes: [
          'Tailor runs first and seeds a fresh temporary data folder; the baseline reuses the same data, then the folder is deleted.',
          'Each variant gets a single-recipient warm-up and a campaign warm-up before its measured runs; caches stay warm across runs of one variant.',
          'Grid trials use successive slices of the demo ids; measured campaign runs send u-00001 onwards, every id once per run (cycling only when the run is larger than the demo).',
          'CPU seconds are utime+stime from /proc/<pid>/stat over each measured campaign run; peak RSS is VmHWM, reset before each run via /proc/<pid>/clear_refs.',
          'The benchmark process (autocannon and the campaign client) shares the same cores as the four services.',
          'The floor (bench/floor.ts, run by bench/floorMain.ts) is part of the compare scenario: one process that answers CampaignBatch and PersonalizeRecipient straight from the same SQLite files with the subgraphs\' own rules and caches, no federation and no GraphQL execution. ' +
            'Its identity check runs on Tailor\'s stack after Tailor\'s workloads (floor.identity.method says how answers are compared); its workloads run once Tailor\'s stack has stopped, before the baseline starts: the same single-recipient runs, the same campaign warm-up, a grid of its own, then the measured campaign runs at Tailor\'s batch size and concurrency. ' +
            'Its CPU is its process\'s (with live children) over each measured campaign run, its peak RSS VmHWM reset before each; floor.ratios are Tailor divided by the floor. Its figures are marked invalid (floor.valid false) if any compared answer still differed.',
          'The fault scenario runs on Tailor\'s stack after its workloads, through a fifth process: a gateway of its own routed to crm and stock directly and to behavior through a fault proxy in the benchmark process (stock\'s trending fetch still goes to behavior directly). ' +
            'Its healthy runs go through the same gateway and proxy (passing through); each slowed run is followed by a heal, timed with the load stopped by one request every poll interval. ' +
            'A request that got no answer counts as not usable; requests still in flight when autocannon stops a run are in neither the latencies nor the usable share.',
          'The links scenario runs last, after the baseline, on Tailor\'s stack started again on the same data (its single-recipient yardstick is the compare scenario\'s), or on a stack of its own with --only links, where it first measures the single-recipient workload itself (warm-up, then runs of the links duration) before it changes any stock. ' +
            'It marks 1 in soldOutEvery distinct products shown sold out with recordStockLevels (observedAt now) and records their former levels again at its end; the clicks of consenting recipients are recorded as CLICK events (one per link per 10 minutes) and stay in the data folder, which is deleted at the end. ' +
            'Its clicks run twice: as fast as its connections get answers (throughput), then at a steady pacedRate over pacedConnections (the latency of the target). ' +
            'Click outcomes and render cache look-ups are what the gateway\'s /metrics counters gained over each run, so they include the requests still in flight when autocannon stopped it.',
          'The ingest scenario runs after the links scenario on the same stack (or on a stack of its own with --only ingest). Its events are VIEWs of random demo users and products, each with a fresh eventId and an occurredAt 1 to 60 minutes before its batch was made; ' +
            'behavior\'s batch route is sent them as the stack requires (signed with the first TAILOR_INGEST_WEBHOOK_SECRET, with TAILOR_BENCH_INGEST_KEY when only TAILOR_INGEST_KEYS is set, else with no credential), trackEvents goes through the gateway with the development key and Tailor-Deadline-Ms: ' +
            `${plan.ingest.mutationDeadlineMs}. Each way gets a warm-up at concurrency 2 and two trials per concurrency of its grid, in increasing then decreasing order (the best mean is chosen, so that the growing table favours no concurrency), then the measured runs of the two ways alternate; ` +
            'every event sent stays, so each run (and each later trial) writes into a larger events table with more co-views per event than the one before. Only accepted events count. ' +
            'After each measured run, the next request is a query through the gateway for recentlyViewed(limit: 1) of the consenting user whose view, the newest of that user, ends the run\'s last batch. ' +
            'CPU seconds are each process\'s over the run, per 1,000 accepted events.',
          ...(backendComparison
            ? [
                '--backend postgres: the compare scenario is the backend comparison. Tailor\'s configuration runs on SQLite first (tailor; TAILOR_DATABASE_URL and TAILOR_REDIS_URL unset), then, once that stack has stopped, on PostgreSQL + Redis (backends.postgres.result): ' +
                  'every subgraph in its own schema of a database made for the run on the machine\'s PostgreSQL, seeded at start-up (its startSeconds include the seed), the subgraphs\' caches with Redis as their second tier and the gateway\'s quotas in Redis under a prefix of the run\'s own; the database is dropped and the keys deleted at the end. ' +
                  'The gateway keeps its own SQLite database (keys, audit) in a data folder of its own in both. The baseline (batching and caches off) is skipped, so there is no Tailor/baseline ratio and no campaign ≥ 3× the baseline target. ' +
                  'Each stack gets its own warm-ups and grid search. The floor is checked against the SQLite stack and measured on its files, between the two stacks. The fault and links scenarios, when they run, run on SQLite.',
                'Server CPU (servers of each variant): utime+stime from /proc/<pid>/stat of every process named postgres and redis-server, read before and after each measured run, plus what the postmaster reaped from backends that exited meanwhile; ' +
                  'it counts whatever else the machine asks of those servers (on the SQLite run it is only that). postgresBenchDatabaseCpuSeconds counts the backends serving the run\'s database that were alive at the end of the run.',
              ]
            : []),
        ],
      },
      tailor,
      floor,
      baseline,
      ratios,
      fault,
      links,
      ingest,
      ...(backends ? { backends } : {}),
      targets: [
        ...(tailor && (ratios || backends) ? evaluateTargets(tailor, ratios) : []),
        ...(tailor && floor ? evaluateFloorTargets(tailor, floor) : []),
        ...(backends ? evaluateBackendTargets(backends) : []),
        ...(fault ? evaluateFaultTargets(fault) : []),
        ...(links ? evaluateLinkTargets(links) : []),
        ...(ingest ? evaluateIngestTargets(ingest) : []),
      ],
    };
    mkdirSync(dirname(plan.outFile), { recursive: true });
    writeFileSync(plan.outFile, `${JSON.stringify(result, null, 2)}\n`);
    log(`\n${formatTable(result)}`);
    const shown = relative(REPO_ROOT, plan.outFile);
    log(`JSON: ${shown.startsWith('..') ? plan.outFile : shown}`);
    return 0;
  } catch (error) {
    if (error instanceof InterruptedError || controller.signal.aborted) {
      process.stderr.write('Benchmark interrupted; every process was stopped.\n');
      return 130;
    }
    process.stderr.write(`Benchmark failed: ${(error as Error).stack ?? error}\n`);
    return 1;
  } finally {
    // Failed or interrupted: the PostgreSQL run's database and keys go too (a second call does nothing).
    await cleanUpPostgres();
    rmSync(dataDir, { recursive: true, force: true });
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

if (require.main === module) {
  main({ env: process.env, argv: process.argv.slice(2) }).then(
    (code) => process.exit(code),
    (error) => {
      process.stderr.write(`Benchmark failed: ${(error as Error).stack ?? error}\n`);
      process.exit(1);
    },
  );
}
