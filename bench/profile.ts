/**
 * Where does the time go? Starts the stack with `node --cpu-prof` in every process, runs one workload of
 * `npm run bench` (after a warm-up), stops the stack so each process writes its `.cpuprofile`, and prints
 * the top self-time functions and code areas of each process over the workload's window only.
 *
 *   node --import tsx bench/profile.ts [--variant tailor|baseline] [--workload campaign|single]
 *     [--recipients N] [--batch-size N] [--concurrency N] [--duration S] [--connections N] [--top N] [--short] [--dir DIR]
 *     [--memory]
 *
 * With `--memory`, every process also keeps its memory peaks (`bench/heapSampler.cjs`), and the run ends
 * with where each process's peak RSS sits: V8's heap by space (young generation, old objects, large
 * objects, code) and what lies outside it.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError, type ConfigSource, type Settings, loadConfig, settingTypes } from '../kit/config';
import { CAMPAIGN_DEADLINE_MS, REPO_ROOT, RESULTS_DIR, normalizeSwitches } from './config';
import { type ProfileSummary, readCpuProfile, summarizeProfile } from './cpuProfile';
import { type BenchStack, SERVICES, startBenchStack } from './stack';
import { demoIds, runCampaign, runSingle } from './workloads';

/** Settings of the profiling run. */
export const profileSettings = {
  variant: { env: 'TAILOR_PROFILE_VARIANT', flag: 'variant', schema: z.enum(['tailor', 'baseline'], { message: 'must be tailor or baseline' }).default('tailor'), doc: 'Which stack to profile.' },
  workload: { env: 'TAILOR_PROFILE_WORKLOAD', flag: 'workload', schema: z.enum(['campaign', 'single'], { message: 'must be campaign or single' }).default('campaign'), doc: 'Which workload to profile.' },
  recipients: { env: 'TAILOR_PROFILE_RECIPIENTS', flag: 'recipients', schema: settingTypes.positiveInt(20_000, 1_000_000), doc: 'Campaign recipients.' },
  batchSize: { env: 'TAILOR_PROFILE_BATCH_SIZE', flag: 'batch-size', schema: settingTypes.positiveInt(250, 500), doc: 'Campaign batch size.' },
  concurrency: { env: 'TAILOR_PROFILE_CONCURRENCY', flag: 'concurrency', schema: settingTypes.positiveInt(2, 64), doc: 'Campaign batches in flight.' },
  duration: { env: 'TAILOR_PROFILE_DURATION', flag: 'duration', schema: settingTypes.positiveInt(20, 600), doc: 'Seconds of the single-recipient workload.' },
  connections: { env: 'TAILOR_PROFILE_CONNECTIONS', flag: 'connections', schema: settingTypes.positiveInt(32, 1024), doc: 'Connections of the single-recipient workload.' },
  top: { env: 'TAILOR_PROFILE_TOP', flag: 'top', schema: settingTypes.positiveInt(12, 100), doc: 'Rows per process.' },
  short: { env: 'TAILOR_PROFILE_SHORT', flag: 'short', schema: settingTypes.boolean(false), doc: 'Small demo scale (300 users).' },
  dir: { env: 'TAILOR_PROFILE_DIR', flag: 'dir', schema: z.string().min(1).optional(), doc: 'Folder of the profiles (default bench/results/profile-<timestamp>).' },
  memory: { env: 'TAILOR_PROFILE_MEMORY', flag: 'memory', schema: settingTypes.boolean(false), doc: 'Also report where each process\'s peak RSS sits (V8 heap spaces, and outside the heap).' },
} satisfies Settings;

/** The preload that keeps a process's memory peaks (see `--memory`). */
export const HEAP_SAMPLER = join(REPO_ROOT, 'bench', 'heapSampler.cjs');

/** The peaks `bench/heapSampler.cjs` wrote for one process, in bytes. */
export interface HeapPeaks {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  /** Peak size of each V8 heap space (`new_space`, `old_space`, `large_object_space`, …). */
  spaces: Record<string, number>;
}

const MB = 1024 * 1024;
const mb = (bytes: number) => `${Math.round(bytes / MB)} MB`;

/**
 * One line on where a process's peak RSS sits. Each figure is its own peak over the process's life, so
 * the parts need not add up to the RSS peak exactly; "outside the heap" is the RSS peak less the heap's
 * (native code, buffers, SQLite's page cache, other threads).
 */
export function formatHeapPeaks(name: string, peaks: HeapPeaks): string {
  const space = (key: string) => peaks.spaces[key] ?? 0;
  const young = space('new_space') + space('new_large_object_space');
  const large = space('large_object_space');
  const code = space('code_space') + space('code_large_object_space');
  const old = space('old_space');
  return (
    `${name}: peak RSS ${mb(peaks.rss)}; V8 heap ${mb(peaks.heapTotal)} (${mb(peaks.heapUsed)} in use at most): young generation ${mb(young)}, ` +
    `old objects ${mb(old)}, large objects ${mb(large)}, code ${mb(code)}; outside the heap ${mb(Math.max(0, peaks.rss - peaks.heapTotal))} ` +
    `(external ${mb(peaks.external)}, of which array buffers ${mb(peaks.arrayBuffers)})`
  );
}

const pct = (n: number) => `${n.toFixed(1).padStart(5)}%`;

/** Prints one process's summary. */
function formatSummary(name: string, summary: ProfileSummary): string {
  const lines = [
    `${name}: main thread busy (not idle) ${(summary.busyMs / 1000).toFixed(2)} s of ${(summary.windowMs / 1000).toFixed(2)} s sampled` +
      `${summary.windowed ? ' in the workload window' : ' (whole process life: the window missed the profile)'}`,
    '  top self time by function (% of busy time):',
    ...summary.functions.map((row) => `    ${pct(row.percent)}  ${row.name}`),
    '  by code area:',
    ...summary.areas.map((row) => `    ${pct(row.percent)}  ${row.name}`),
  ];
  return lines.join('\n');
}

/** Runs the profile; resolves to the exit code. */
export async function main(source: ConfigSource): Promise<number> {
  let config;
  try {
    config = loadConfig(profileSettings, { env: source.env, argv: normalizeSwitches(source.argv, ['short', 'memory']) });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const dir = resolve(config.dir ?? join(RESULTS_DIR, `profile-${new Date().toISOString().replace(/:/g, '-')}`));
  mkdirSync(dir, { recursive: true });
  const log = (line: string) => process.stdout.write(`${line}\n`);
  const dataDir = mkdtempSync(join(tmpdir(), 'tailor-profile-'));
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let stack: BenchStack | undefined;
  try {
    const demoScale = config.short ? 'small' : 'full';
    const ids = demoIds(config.short ? 300 : 20_000);
    log(`Profiling ${config.variant}, ${config.workload} workload; profiles in ${dir}`);
    stack = await startBenchStack({
      variant: config.variant,
      demoScale,
      dataDir,
      nodeArgs: ['--cpu-prof', '--cpu-prof-dir', dir, ...(config.memory ? ['--require', HEAP_SAMPLER] : [])],
      env: config.memory ? { TAILOR_HEAP_SAMPLES_DIR: dir } : undefined,
    });
    const pids = Object.fromEntries(SERVICES.map((n) => [n, stack!.services[n].child.pid!]));
    const url = stack.graphqlUrl;
    const signal = controller.signal;
    let fromUs: number;
    if (config.workload === 'campaign') {
      const base = { url, credential: stack.devKey, ids, batchSize: config.batchSize, concurrency: config.concurrency, requestTimeoutMs: 60_000, deadlineMs: CAMPAIGN_DEADLINE_MS, signal };
      await runCampaign({ ...base, recipients: Math.min(2_000, config.recipients) });
      fromUs = Number(process.hrtime.bigint() / 1000n);
      const run = await runCampaign({ ...base, recipients: config.recipients });
      log(`campaign: ${run.personalized}/${run.recipients} recipients in ${run.elapsedSeconds.toFixed(2)} s = ${run.recipientsPerSecond.toFixed(0)} recipients/s (batch ${config.batchSize} × ${config.concurrency})`);
    } else {
      const base = { url, credential: stack.devKey, ids, connections: config.connections, timeoutSeconds: 10, signal };
      await runSingle({ ...base, durationSeconds: 5 });
      fromUs = Number(process.hrtime.bigint() / 1000n);
      const run = await runSingle({ ...base, durationSeconds: config.duration });
      log(`single: ${run.requestsPerSecond.toFixed(0)} req/s, p50 ${run.p50Ms} ms, p99 ${run.p99Ms} ms over ${config.connections} connections`);
    }
    const toUs = Number(process.hrtime.bigint() / 1000n);
    if (signal.aborted) throw new Error('Profiling interrupted');
    await stack.stop();
    stack = undefined;
    const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
    const summaries: Record<string, ProfileSummary> = {};
    for (const name of SERVICES) {
      // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the main thread (others are tsx's loader).
      const file = files.find((f) => f.includes(`.${pids[name]}.0.`)) ?? files.find((f) => f.includes(`.${pids[name]}.`));
      if (!file) {
        log(`\n${name}: no profile was written (pid ${pids[name]})`);
        continue;
      }
      summaries[name] = summarizeProfile(readCpuProfile(join(dir, file)), { fromUs, toUs }, config.top);
      log(`\n${formatSummary(`${name} (${file})`, summaries[name])}`);
    }
    const memory: Record<string, HeapPeaks> = {};
    if (config.memory) {
      log('\nMemory peaks over each process\'s life:');
      for (const name of SERVICES) {
        const file = join(dir, `heap-${pids[name]}.json`);
        if (!existsSync(file)) {
          log(`  ${name}: no memory samples were written (pid ${pids[name]})`);
          continue;
        }
        memory[name] = (JSON.parse(readFileSync(file, 'utf8')) as { peaks: HeapPeaks }).peaks;
        log(`  ${formatHeapPeaks(name, memory[name])}`);
      }
    }
    writeFileSync(join(dir, 'summary.json'), `${JSON.stringify({ config, window: { fromUs, toUs }, summaries, ...(config.memory ? { memory } : {}) }, null, 2)}\n`);
    log(`\nSummary: ${join(dir, 'summary.json')}`);
    return 0;
  } catch (error) {
    process.stderr.write(`Profiling failed: ${(error as Error).message}\n`);
    return controller.signal.aborted ? 130 : 1;
  } finally {
    await stack?.stop();
    rmSync(dataDir, { recursive: true, force: true });
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

if (require.main === module) {
  main({ env: process.env, argv: process.argv.slice(2) }).then(
    (code) => process.exit(code),
    (error) => {
      process.stderr.write(`Profiling failed: ${(error as Error).stack ?? error}\n`);
      process.exit(1);
    },
  );
}
