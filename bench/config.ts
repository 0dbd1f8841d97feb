import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError, type ConfigOf, type ConfigSource, type Settings, loadConfig, settingTypes } from '../kit/config';

/** The repository root (where `npm run bench` runs). */
export const REPO_ROOT = join(__dirname, '..');

/** Where result files go by default (gitignored). */
export const RESULTS_DIR = join(__dirname, 'results');

/** `Tailor-Deadline-Ms` of the campaign workload's batches: what the README tells a campaign sender to send. */
export const CAMPAIGN_DEADLINE_MS = 10_000;

/**
 * The scenarios of a run: Tailor against the baseline and the floor (the same answers from one process
 * over the same SQLite files), the fault scenario (behavior slowed, then healed),
 * the links scenario (live links clicked and live images opened), and the ingest scenario (browsing
 * events sent to behavior's batch route and through the gateway's `trackEvents`).
 */
export const SCENARIOS = ['compare', 'fault', 'links', 'ingest'] as const;
export type Scenario = (typeof SCENARIOS)[number];

/**
 * Where the subgraphs keep their data: `sqlite` (the embedded files, as always), or `postgres`, which
 * measures the compare scenario's workloads of Tailor's configuration on SQLite and then on PostgreSQL
 * (with Redis as the caches' second tier and the quota store), one after the other.
 */
export const BACKENDS = ['sqlite', 'postgres'] as const;
export type Backend = (typeof BACKENDS)[number];

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
    doc: 'Seconds of each measured single-recipient run (default 20; 2 with --short), and of each run of the fault and links scenarios (default 10; 2 with --short).',
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
    doc: 'Runs of each measured workload, and heal cycles of the fault scenario; the median is reported (default 3; 1 with --short).',
  },
  only: {
    env: 'TAILOR_BENCH_ONLY',
    flag: 'only',
    schema: z.enum(SCENARIOS, { message: `must be one of ${SCENARIOS.join(', ')}` }).optional(),
    doc:
      'Run one scenario only: `compare` (Tailor against the baseline and the floor), `fault` (behavior slowed to 3 s, then healed), `links` (live links clicked, live images opened) ' +
      'or `ingest` (browsing events in, over behavior\'s `POST /ingest/events` and the gateway\'s `trackEvents`). Default: all four.',
  },
  ingestKey: {
    env: 'TAILOR_BENCH_INGEST_KEY',
    schema: z.string().min(1, 'must not be empty').optional(),
    doc: 'With `TAILOR_INGEST_KEYS` set (and no `TAILOR_INGEST_WEBHOOK_SECRET`): the ingest key the ingest scenario sends behavior\'s batch route, one whose sha256 is in the list. With a webhook secret set, batches are signed with its first secret instead.',
  },
  backend: {
    env: 'TAILOR_BENCH_BACKEND',
    flag: 'backend',
    schema: z.enum(BACKENDS, { message: `must be one of ${BACKENDS.join(', ')}` }).default('sqlite'),
    doc:
      '`sqlite` (default): every stack on the embedded SQLite files. `postgres`: the compare scenario measures Tailor\'s configuration on SQLite, then on PostgreSQL + Redis ' +
      '(a database `tailor_bench_<random>` on postgres://postgres@127.0.0.1:5432 and a Redis prefix of its own on 127.0.0.1:6379, both removed at the end), instead of Tailor against the baseline (which it skips). ' +
      'Not with `--only fault`, `--only links` or `--only ingest`.',
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
    /**
     * `Tailor-Deadline-Ms` of each batch: a campaign sender fetching hundreds of recipients at a time can
     * wait longer than an ESP's 2 s, and says so (README "When a subgraph fails").
     */
    deadlineMs: number;
  };
  repetitions: number;
  /** The scenarios this run measures, in order. */
  scenarios: Scenario[];
  /**
   * `postgres`: the compare scenario runs Tailor's configuration on SQLite, then on PostgreSQL + Redis
   * (the baseline is skipped); the fault and links scenarios stay on SQLite.
   */
  backend: Backend;
  /**
   * The fault scenario: the single-recipient workload through a gateway of its own whose behavior route
   * goes through a fault proxy, healthy first, then with behavior slowed; after each slowed run the
   * proxy heals and a poller times the first personal answer. One run and one heal cycle per repetition.
   */
  fault: {
    connections: number;
    warmupSeconds: number;
    durationSeconds: number;
    timeoutSeconds: number;
    /** Delay the proxy adds to every behavior request while slowed. */
    slowMs: number;
    /** Interval of the recovery poller (one request per tick, never waiting for the previous one). */
    pollIntervalMs: number;
    /** A heal cycle gives up after this long without a personal answer. */
    recoveryTimeoutMs: number;
  };
  /**
   * The links scenario: the click and image URLs of `recipients` demo recipients, fetched through
   * `CampaignBatch` with `campaign`; every `soldOutEvery`-th distinct product shown is marked sold out;
   * then GETs of the click URLs (each must answer 302) and of the image URLs, cycling over them.
   */
  links: {
    recipients: number;
    campaign: string;
    /** Recipients per `CampaignBatch` request while fetching the links. */
    batchSize: number;
    soldOutEvery: number;
    connections: number;
    /**
     * Clicks per second of the paced runs, whose p99 is the target: shoppers click a few at a time,
     * not from 32 connections that never pause (a send of 10^7 at a 3% click rate spread over an hour
     * is about 80 clicks/s).
     */
    pacedRate: number;
    /** Connections of the paced runs: autocannon paces each one, so many connections at a low rate arrive in bursts. */
    pacedConnections: number;
    warmupSeconds: number;
    durationSeconds: number;
    timeoutSeconds: number;
  };
  /**
   * The ingest scenario: `VIEW` events with fresh ids, of random demo users and products, `occurredAt`
   * within the last `occurredWithinSeconds`, in batches of `batchSize`, over behavior's
   * `POST /ingest/events` (`http`) and the gateway's `trackEvents` (`mutation`). Each way: a warm-up at
   * concurrency 2, two trials per concurrency of its grid (in increasing, then decreasing order), then
   * measured runs of `events` at the concurrency with the best mean.
   */
  ingest: {
    batchSize: number;
    occurredWithinSeconds: number;
    http: IngestWayPlan;
    mutation: IngestWayPlan;
    /** Time-out of one batch request, in ms. */
    requestTimeoutMs: number;
    /** `Tailor-Deadline-Ms` of each mutation request (a batch sender may ask for more than an ESP's 2 s). */
    mutationDeadlineMs: number;
  };
  /**
   * The floor (part of the compare scenario): its identity check on Tailor's running stack asks both
   * `batches` campaign batches of `batchSize` ids (one of them an id no user has) and `singles` single
   * recipients spread over the demo users; every other batch and single names `campaign` for its links.
   * Its workloads are the compare scenario's, on Tailor's batch size and concurrency, after its own grid.
   */
  floor: { identity: { batches: number; batchSize: number; singles: number; campaign: string } };
  /** The JSON result file. */
  outFile: string;
}

/** One way of the ingest scenario. */
export interface IngestWayPlan {
  /** Events of each measured run. */
  events: number;
  warmupEvents: number;
  /** Each concurrency is tried twice, with `trialEvents` events each time. */
  grid: { concurrencies: number[]; trialEvents: number };
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
  const argv = normalizeSwitches(source.argv);
  const config = loadConfig(benchSettings, { env: source.env, argv });
  if (config.backend === 'postgres' && config.only !== undefined && config.only !== 'compare') {
    const named = (flag: string, env: string) => (argv.some((a) => a === `--${flag}` || a.startsWith(`--${flag}=`)) ? `--${flag}` : env);
    throw new ConfigError([
      `${named('backend', 'TAILOR_BENCH_BACKEND')}=postgres with ${named('only', 'TAILOR_BENCH_ONLY')}=${config.only}: the backend comparison measures the compare scenario's workloads; ` +
        'use --only compare, or no --only (the fault, links and ingest scenarios then run on SQLite, as without --backend)',
    ]);
  }
  return config;
}

/** The default result file name for a run started at `startedAt`. */
export function defaultOutFile(startedAt: Date): string {
  return join(RESULTS_DIR, `bench-${startedAt.toISOString().replace(/:/g, '-')}.json`);
}

/** Turns a validated configuration into the plan of a run (full or `--short` defaults, then overrides). */
export function planFor(config: BenchConfig, startedAt: Date, cwd = process.cwd()): BenchPlan {
  const short = config.short;
  const userCount = short ? 300 : 20_000;
  const out = config.out === undefined ? defaultOutFile(startedAt) : isAbsolute(config.out) ? config.out : resolve(cwd, config.out);
  return {
    mode: short ? 'short' : 'full',
    demoScale: short ? 'small' : 'full',
    userCount,
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
      deadlineMs: CAMPAIGN_DEADLINE_MS,
    },
    repetitions: config.repetitions ?? (short ? 1 : 3),
    scenarios: config.only === undefined ? [...SCENARIOS] : [config.only],
    backend: config.backend,
    fault: {
      connections: 16,
      warmupSeconds: short ? 1 : 5,
      durationSeconds: config.duration ?? (short ? 2 : 10),
      timeoutSeconds: 10,
      slowMs: 3_000,
      pollIntervalMs: 20,
      recoveryTimeoutMs: 10_000,
    },
    links: {
      recipients: Math.min(2_000, userCount),
      campaign: 'bench-links',
      batchSize: 250,
      soldOutEvery: 4,
      connections: 32,
      pacedRate: 100,
      pacedConnections: 8,
      warmupSeconds: short ? 1 : 5,
      durationSeconds: config.duration ?? (short ? 2 : 10),
      timeoutSeconds: 10,
    },
    ingest: {
      batchSize: 500,
      occurredWithinSeconds: 3_600,
      http: short
        ? { events: 5_000, warmupEvents: 1_000, grid: { concurrencies: [1, 2], trialEvents: 1_000 } }
        : { events: 100_000, warmupEvents: 10_000, grid: { concurrencies: [1, 2, 4, 8], trialEvents: 10_000 } },
      mutation: short
        ? { events: 2_000, warmupEvents: 1_000, grid: { concurrencies: [1, 2], trialEvents: 1_000 } }
        : { events: 50_000, warmupEvents: 5_000, grid: { concurrencies: [1, 2, 4, 8], trialEvents: 5_000 } },
      requestTimeoutMs: 60_000,
      mutationDeadlineMs: 30_000,
    },
    floor: { identity: { batches: 2, batchSize: Math.min(500, userCount / 2), singles: 50, campaign: 'bench-floor' } },
    outFile: out,
  };
}
