import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { type ConfigOf, type ConfigSource, type Settings, loadConfig, settingTypes } from '../kit/config';

/** The repository root (where `npm run bench` runs). */
export const REPO_ROOT = join(__dirname, '..');

/** Where result files go by default (gitignored). */
export const RESULTS_DIR = join(__dirname, 'results');

/** An optional whole number in `min..max`; absent means "the mode's default". */
const optionalInt = (min: number, max: number) =>
  z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(min, `must be at least ${min}`).max(max, `must be at most ${max}`).optional();

/** Every setting of `npm run bench`; flags win over the environment. */
export const benchSettings = {
  short: {
    env: 'TAILOR_BENCH_SHORT',
    flag: 'short',
    schema: settingTypes.boolean(false),
    doc: 'Tiny durations and counts on the small demo scale: a smoke run well under a minute.',
  },
  out: {
    env: 'TAILOR_BENCH_OUT',
    flag: 'out',
    schema: z.string().min(1, 'must be a file path').optional(),
    doc: 'JSON result file (default `bench/results/bench-<ISO timestamp>.json`).',
  },
  duration: {
    env: 'TAILOR_BENCH_DURATION',
    flag: 'duration',
    schema: optionalInt(1, 600),
    doc: 'Seconds of each measured single-recipient run (default 20; 2 with --short).',
  },
  connections: {
    env: 'TAILOR_BENCH_CONNECTIONS',
    flag: 'connections',
    schema: optionalInt(1, 1024),
    doc: 'Concurrent connections of the single-recipient workload (default 32).',
  },
  repetitions: {
    env: 'TAILOR_BENCH_REPETITIONS',
    flag: 'repetitions',
    schema: optionalInt(1, 15),
    doc: 'Runs of each measured workload; the median is reported (default 3; 1 with --short).',
  },
} satisfies Settings;

/** The validated flags and environment of a benchmark run. */
export type BenchConfig = ConfigOf<typeof benchSettings>;

/** Everything a benchmark run does, with every number resolved. */
export interface BenchPlan {
  mode: 'full' | 'short';
  /** `TAILOR_DEMO_SCALE` of every subgraph. */
  demoScale: 'full' | 'small';
  /** Demo users `u-00001…u-<userCount>` the workloads cycle over. */
  userCount: number;
  single: { warmupSeconds: number; durationSeconds: number; connections: number; timeoutSeconds: number };
  campaign: {
    /** Recipients of each measured campaign run. */
    recipients: number;
    /** Recipients sent (batch 250, concurrency 2) before the grid search, to warm the JIT. */
    warmupRecipients: number;
    grid: { batchSizes: number[]; concurrencies: number[]; trialRecipients: number };
    /** Per-request time-out of the campaign client, in ms. */
    requestTimeoutMs: number;
  };
  repetitions: number;
  /** The JSON result file. */
  outFile: string;
}

/**
 * `--short` is a switch, but `loadConfig` reads every flag as `--name value`: a bare `--short`
 * (last, or followed by another flag) becomes `--short=true` before validation.
 */
export function normalizeSwitches(argv: string[], switches: string[] = ['short']): string[] {
  return argv.map((arg, i) => {
    const name = arg.startsWith('--') && !arg.includes('=') ? arg.slice(2) : undefined;
    const next = argv[i + 1];
    return name && switches.includes(name) && (next === undefined || next.startsWith('--')) ? `${arg}=true` : arg;
  });
}

/** Reads and validates the benchmark's flags and environment; throws a `ConfigError` naming every bad one. */
export function loadBenchConfig(source: ConfigSource): BenchConfig {
  return loadConfig(benchSettings, { env: source.env, argv: normalizeSwitches(source.argv) });
}

/** The default result file name for a run started at `startedAt`. */
export function defaultOutFile(startedAt: Date): string {
  return join(RESULTS_DIR, `bench-${startedAt.toISOString().replace(/:/g, '-')}.json`);
}

/** Turns a validated configuration into the plan of a run (full or `--short` defaults, then overrides). */
export function planFor(config: BenchConfig, startedAt: Date, cwd = process.cwd()): BenchPlan {
  const short = config.short;
  const out = config.out === undefined ? defaultOutFile(startedAt) : isAbsolute(config.out) ? config.out : resolve(cwd, config.out);
  return {
    mode: short ? 'short' : 'full',
    demoScale: short ? 'small' : 'full',
    userCount: short ? 300 : 20_000,
    single: {
      warmupSeconds: short ? 1 : 5,
      durationSeconds: config.duration ?? (short ? 2 : 20),
      connections: config.connections ?? 32,
      timeoutSeconds: 10,
    },
    campaign: {
      recipients: short ? 2_000 : 20_000,
      warmupRecipients: short ? 500 : 2_000,
      grid: short
        ? { batchSizes: [100, 250], concurrencies: [1, 2], trialRecipients: 500 }
        : { batchSizes: [100, 250, 500], concurrencies: [1, 2, 4], trialRecipients: 2_000 },
      requestTimeoutMs: 60_000,
    },
    repetitions: config.repetitions ?? (short ? 1 : 3),
    outFile: out,
  };
}
