import { execFileSync } from 'node:child_process';
import { arch, cpus, loadavg, platform, release, totalmem } from 'node:os';
import type { Backend, BenchPlan } from './config';
import { SERVICES, type ServiceName, type Variant } from './stack';
import type { CampaignRun, SingleRun } from './workloads';

/** The machine a run measured, from `os`. */
export interface MachineInfo {
  cpuModel: string;
  cpuCount: number;
  totalMemoryMb: number;
  node: string;
  platform: string;
  release: string;
  arch: string;
  /** 1, 5 and 15 minute load averages when the run started and ended: other work on the machine skews results. */
  loadAverage: { start: number[]; end: number[] };
}

/** The version of the code a run measured. */
export interface CodeVersion {
  commit: string;
  /** Uncommitted changes (`git status --porcelain`, at most 50 lines); the run measured them too. */
  uncommitted: string[];
}

/** Reads the commit and uncommitted changes of `root` ("unknown" outside a git checkout). */
export function codeVersion(root: string): CodeVersion {
  const git = (args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    const uncommitted = git(['status', '--porcelain']).split('\n').filter(Boolean);
    return { commit: git(['rev-parse', 'HEAD']).trim(), uncommitted: uncommitted.slice(0, 50) };
  } catch {
    return { commit: 'unknown', uncommitted: [] };
  }
}

/** Describes this machine; `loadAverageAtStart` is `os.loadavg()` read when the run started. */
export function machineInfo(loadAverageAtStart: number[]): MachineInfo {
  const list = cpus();
  return {
    cpuModel: list[0]?.model?.trim() ?? 'unknown',
    cpuCount: list.length,
    totalMemoryMb: Math.round(totalmem() / 1024 / 1024),
    node: process.version,
    platform: platform(),
    release: release(),
    arch: arch(),
    loadAverage: { start: loadAverageAtStart.map(round2), end: loadavg().map(round2) },
  };
}

const round2 = (n: number) => Math.round(n * 100) / 100;

/** The middle value (mean of the two middle ones for an even count); NaN for none. */
export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Per-field medians of single-recipient runs. */
export interface SingleMedian {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

/** Problems of single-recipient runs, summed over the measured runs. */
export interface SingleProblems {
  non2xx: number;
  errors: number;
  badBodies: number;
}

/** Summarizes measured single-recipient runs: medians of speed, sums of problems. */
export function summarizeSingle(runs: SingleRun[]): { median: SingleMedian; problems: SingleProblems } {
  const sum = (pick: (r: SingleRun) => number) => runs.reduce((total, r) => total + pick(r), 0);
  return {
    median: {
      requestsPerSecond: median(runs.map((r) => r.requestsPerSecond)),
      p50Ms: median(runs.map((r) => r.p50Ms)),
      p99Ms: median(runs.map((r) => r.p99Ms)),
    },
    problems: { non2xx: sum((r) => r.non2xx), errors: sum((r) => r.errors), badBodies: sum((r) => r.badBodies) },
  };
}

/** CPU and peak memory of one process over one measured campaign run. */
export interface ProcessCost {
  cpuSeconds: number;
  cpuSecondsPer1000Recipients: number;
  peakRssMb: number;
}

/** Cost of every process over one measured campaign run. */
export interface CostRun {
  personalized: number;
  processes: Record<ServiceName, ProcessCost>;
  /** The benchmark's own process (load generator and response checks), for context. */
  loadGenerator: { cpuSeconds: number; cpuSecondsPer1000Recipients: number };
}

/** Medians of the cost runs, per process. */
export interface CostSummary {
  perProcess: Record<ServiceName, { cpuSecondsPer1000Recipients: number; peakRssMb: number }>;
  /** Median over runs of the four processes' CPU seconds per 1,000 recipients. */
  totalCpuSecondsPer1000Recipients: number;
  /** Median over runs of the peak RSS summed over the four processes. */
  totalPeakRssMb: number;
  loadGeneratorCpuSecondsPer1000Recipients: number;
}

/** Per-process medians of cost runs. */
export function summarizeCost(runs: CostRun[]): CostSummary {
  const perProcess = Object.fromEntries(
    SERVICES.map((name) => [
      name,
      {
        cpuSecondsPer1000Recipients: median(runs.map((r) => r.processes[name].cpuSecondsPer1000Recipients)),
        peakRssMb: median(runs.map((r) => r.processes[name].peakRssMb)),
      },
    ]),
  ) as CostSummary['perProcess'];
  return {
    perProcess,
    totalCpuSecondsPer1000Recipients: median(runs.map((r) => SERVICES.reduce((t, n) => t + r.processes[n].cpuSecondsPer1000Recipients, 0))),
    totalPeakRssMb: median(runs.map((r) => SERVICES.reduce((t, n) => t + r.processes[n].peakRssMb, 0))),
    loadGeneratorCpuSecondsPer1000Recipients: median(runs.map((r) => r.loadGenerator.cpuSecondsPer1000Recipients)),
  };
}

/**
 * CPU the PostgreSQL and Redis servers used over one measured run: utime+stime from /proc/<pid>/stat of
 * every process named `postgres` (whatever database it serves; with what the postmaster reaped from
 * backends that exited meanwhile) and of `redis-server`, before and after the run.
 */
export interface ServerCpuRun {
  postgresCpuSeconds: number;
  /** `postgres` processes seen at the start or the end of the run. */
  postgresProcesses: number;
  /** Of those, the backends serving the run's own database (alive at the end): PostgreSQL's work for Tailor alone. PostgreSQL run only. */
  postgresBenchDatabaseCpuSeconds?: number;
  postgresBenchDatabaseBackends?: number;
  redisCpuSeconds: number;
  redisProcesses: number;
}

/** Server CPU over the measured runs of one workload. */
export interface ServerCpuSummary {
  /** What the per-1,000 figures count: recipients personalized (campaign) or requests completed (single). */
  per: 'recipients' | 'requests';
  /** Medians over the runs, each figure on its own. */
  median: {
    postgresCpuSeconds: number;
    postgresCpuSecondsPer1000: number;
    postgresBenchDatabaseCpuSeconds?: number;
    redisCpuSeconds: number;
    redisCpuSecondsPer1000: number;
  };
  runs: (ServerCpuRun & { count: number })[];
}

/** Medians of server CPU runs; `count` of each run is what its per-1,000 figures divide by. */
export function summarizeServerCpu(per: ServerCpuSummary['per'], runs: (ServerCpuRun & { count: number })[]): ServerCpuSummary {
  const own = runs.every((r) => r.postgresBenchDatabaseCpuSeconds !== undefined);
  const per1000 = (seconds: number, count: number) => seconds / (Math.max(count, 1) / 1000);
  return {
    per,
    median: {
      postgresCpuSeconds: median(runs.map((r) => r.postgresCpuSeconds)),
      postgresCpuSecondsPer1000: median(runs.map((r) => per1000(r.postgresCpuSeconds, r.count))),
      ...(own && runs.length > 0 ? { postgresBenchDatabaseCpuSeconds: median(runs.map((r) => r.postgresBenchDatabaseCpuSeconds!)) } : {}),
      redisCpuSeconds: median(runs.map((r) => r.redisCpuSeconds)),
      redisCpuSecondsPer1000: median(runs.map((r) => per1000(r.redisCpuSeconds, r.count))),
    },
    runs,
  };
}

/** The single-recipient workload's figures on one server: the warm-up, the measured runs and their medians. */
export interface SingleSeries {
  connections: number;
  durationSeconds: number;
  median: SingleMedian;
  problems: SingleProblems;
  warmup: SingleRun;
  runs: SingleRun[];
}

/** The campaign workload's figures on one server: warm-up, grid search, and the measured runs at `batchSize` × `concurrency`. */
export interface CampaignSeries {
  recipients: number;
  batchSize: number;
  concurrency: number;
  warmup: CampaignRun;
  grid: CampaignRun[];
  median: { recipientsPerSecond: number; elapsedSeconds: number };
  /** Recipients not personalized, summed over the measured runs. */
  failedRecipients: number;
  runs: CampaignRun[];
}

/** Everything measured on one variant (Tailor or the baseline). */
export interface VariantResult {
  variant: Variant;
  /** Where its subgraphs kept their data; absent (SQLite) in results written before `--backend` existed, and in runs without `--backend postgres`. */
  backend?: Backend;
  /** Environment given to every process of the stack. */
  env: Record<string, string>;
  /** Seconds to start (and, the first time, seed) the stack. */
  startSeconds: number;
  single: SingleSeries;
  /** `batchSize` and `concurrency`: the best pair of the grid search, used for the measured runs. */
  campaign: CampaignSeries;
  cost: CostSummary & { peakRssReset: boolean; runs: CostRun[] };
  /** With `--backend postgres`: the PostgreSQL and Redis servers' CPU over the measured runs (on the SQLite run, what other work on the machine made them use). */
  servers?: { single: ServerCpuSummary; campaign: ServerCpuSummary };
}

/** The figures the backend comparison sets side by side, from one variant's medians. */
export interface BackendFigures {
  campaignRecipientsPerSecond: number;
  singleRequestsPerSecond: number;
  singleP50Ms: number;
  singleP99Ms: number;
  /** The four services' CPU seconds per 1,000 recipients over the campaign. */
  campaignCpuPer1000Recipients: number;
}

/** A variant's figures for the backend comparison. */
export function backendFigures(v: VariantResult): BackendFigures {
  return {
    campaignRecipientsPerSecond: v.campaign.median.recipientsPerSecond,
    singleRequestsPerSecond: v.single.median.requestsPerSecond,
    singleP50Ms: v.single.median.p50Ms,
    singleP99Ms: v.single.median.p99Ms,
    campaignCpuPer1000Recipients: v.cost.totalCpuSecondsPer1000Recipients,
  };
}

/** PostgreSQL divided by SQLite, from the medians. */
export interface BackendRatios {
  /** Below 1 means PostgreSQL personalizes fewer recipients per second; the target is at least 0.7. */
  campaignRecipientsPerSecond: number;
  singleRequestsPerSecond: number;
  /** Above 1 means PostgreSQL's p99 is higher (worse). */
  singleP99: number;
  /** The four services' CPU per 1,000 recipients (the servers' own CPU is not in it). */
  campaignCpuPer1000Recipients: number;
}

/** PostgreSQL / SQLite ratios of the medians. */
export function backendRatiosOf(postgres: BackendFigures, sqlite: BackendFigures): BackendRatios {
  const div = (a: number, b: number) => (b > 0 ? a / b : Number.NaN);
  return {
    campaignRecipientsPerSecond: div(postgres.campaignRecipientsPerSecond, sqlite.campaignRecipientsPerSecond),
    singleRequestsPerSecond: div(postgres.singleRequestsPerSecond, sqlite.singleRequestsPerSecond),
    singleP99: div(postgres.singleP99Ms, sqlite.singleP99Ms),
    campaignCpuPer1000Recipients: div(postgres.campaignCpuPer1000Recipients, sqlite.campaignCpuPer1000Recipients),
  };
}

/**
 * The backend comparison of `--backend postgres`: Tailor's configuration on SQLite (`result.tailor`),
 * then on PostgreSQL + Redis, one after the other; the baseline is skipped.
 */
export interface BackendsResult {
  /** The order the two stacks ran in (never at once). */
  order: ['sqlite', 'postgres'];
  /** The baseline (batching and caches off) is not run with `--backend postgres`. */
  baseline: 'skipped';
  sqlite: {
    /** Its whole result is the result file's `tailor`. */
    result: 'tailor';
    figures: BackendFigures;
  };
  postgres: {
    /** The database made for the run (dropped at its end) on the machine's PostgreSQL, and its server version. */
    database: string;
    databaseUrl: string;
    postgresVersion: string;
    /** Redis (caches' second tier in every subgraph, the gateway's quotas) and the run's key prefix (its keys deleted at the end). */
    redisUrl: string;
    redisPrefix: string;
    redisVersion: string;
    figures: BackendFigures;
    /** Everything measured on the PostgreSQL stack, with the servers' CPU in `servers`. */
    result: VariantResult;
    /** The database dropped and the keys deleted after the run. */
    cleanup: { databaseDropped: boolean; redisKeysDeleted: number; errors: string[] };
  };
  /** PostgreSQL / SQLite. */
  ratios: BackendRatios;
}

/** The backend target's threshold: campaign throughput on PostgreSQL as a share of SQLite's. */
export const POSTGRES_CAMPAIGN_SHARE = 0.7;

/** Checks the backend target: campaign throughput on PostgreSQL + Redis at least 70% of SQLite's. */
export function evaluateBackendTargets(backends: BackendsResult): TargetResult[] {
  const share = backends.ratios.campaignRecipientsPerSecond;
  const pg = backends.postgres.figures.campaignRecipientsPerSecond;
  const lite = backends.sqlite.figures.campaignRecipientsPerSecond;
  const pct = (n: number) => `${fmt(n * 100)}%`;
  const figures = `${fmt(pg)} recipients/s on PostgreSQL against ${fmt(lite)} on SQLite`;
  const pass = Number.isFinite(share) && share >= POSTGRES_CAMPAIGN_SHARE;
  return [
    {
      id: 'postgresCampaignVsSqlite',
      description: `campaign on PostgreSQL + Redis ≥ ${pct(POSTGRES_CAMPAIGN_SHARE)} of SQLite's`,
      threshold: POSTGRES_CAMPAIGN_SHARE,
      actual: share,
      pass,
      detail: pass
        ? `met: ${pct(share)} (${figures}; ${fmt((share - POSTGRES_CAMPAIGN_SHARE) * 100)} points to spare)`
        : Number.isFinite(share)
          ? `missed by ${fmt((POSTGRES_CAMPAIGN_SHARE - share) * 100)} points: ${pct(share)} (${figures})`
          : `missed: no campaign figure (${figures})`,
    },
  ];
}

/** Tailor divided by the baseline. */
export interface Ratios {
  singleRequestsPerSecond: number;
  /** Below 1 means Tailor's p99 is lower (better). */
  singleP99: number;
  campaignRecipientsPerSecond: number;
  /** Below 1 means Tailor spends less CPU per recipient. */
  campaignCpuPer1000Recipients: number;
}

/** Tailor / baseline ratios of the medians. */
export function ratiosOf(tailor: VariantResult, baseline: VariantResult): Ratios {
  const div = (a: number, b: number) => (b > 0 ? a / b : Number.NaN);
  return {
    singleRequestsPerSecond: div(tailor.single.median.requestsPerSecond, baseline.single.median.requestsPerSecond),
    singleP99: div(tailor.single.median.p99Ms, baseline.single.median.p99Ms),
    campaignRecipientsPerSecond: div(tailor.campaign.median.recipientsPerSecond, baseline.campaign.median.recipientsPerSecond),
    campaignCpuPer1000Recipients: div(tailor.cost.totalCpuSecondsPer1000Recipients, baseline.cost.totalCpuSecondsPer1000Recipients),
  };
}

/**
 * How the floor's answers were checked against Tailor's (see `bench/run.ts`): a sample of campaign
 * batches and single recipients asked of both, each recipient's entry compared byte for byte after a
 * JSON parse. Scores decay with time and live link tokens hold an expiry in seconds, so an entry that
 * differs is asked of the floor again at pinned instants within the interval in which Tailor answered
 * (the tokens sealed at the second Tailor's tokens name), then once more from both if it still differs.
 */
export interface FloorIdentity {
  method: string;
  campaignBatches: number;
  /** Ids per batch, one of them an id no user has. */
  batchSize: number;
  singles: number;
  /** Recipients compared, unknown ids included (`unknownIds` of them). */
  recipients: number;
  unknownIds: number;
  /** Equal at once, when the floor was asked right after Tailor answered. */
  matchedLive: number;
  /** Equal at a pinned instant of the interval in which Tailor answered. */
  matchedPinned: number;
  /** Equal on the one retry, asked of both again (live, then pinned). */
  matchedOnRetry: number;
  /** Still different after the retry: any one makes the floor's figures invalid. */
  mismatches: number;
  /** The first few differences: recipient, path and both values. */
  samples: string[];
  /**
   * The trending ranking both served: Tailor's stock keeps the last one it fetched for its max-age and
   * saves it where the floor reads it at start; when too little of that max-age was left for the check,
   * the benchmark waited for it to run out and for Tailor to refresh it before starting the floor.
   */
  trending: { maxAgeMs: number | null; waitedMs: number; refreshed: boolean };
}

/** CPU and peak memory of the floor's one process over one measured campaign run. */
export interface FloorCostRun {
  personalized: number;
  cpuSeconds: number;
  cpuSecondsPer1000Recipients: number;
  peakRssMb: number;
  loadGenerator: { cpuSeconds: number; cpuSecondsPer1000Recipients: number };
}

/** Tailor divided by the floor, from the medians: how much the federated architecture costs above the bare computation. */
export interface FloorRatios {
  /** The four processes' CPU per 1,000 campaign recipients over the floor's; the T2 target is at most 3. */
  campaignCpuPer1000Recipients: number;
  /** Below 1: Tailor personalizes fewer recipients per second than the floor. */
  campaignRecipientsPerSecond: number;
  singleRequestsPerSecond: number;
  /** Above 1: Tailor's p99 is higher. */
  singleP99: number;
}

/**
 * The floor (`bench/floor.ts`): the same answers as Tailor computed in one process straight from the
 * same SQLite files, measured with the same workloads after Tailor's stack has stopped.
 */
export interface FloorResult {
  /** False when an answer of the identity check still differed from Tailor's: then no figure counts. */
  valid: boolean;
  identity: FloorIdentity;
  /** Seconds from spawning the process to its first listening line. */
  startSeconds: number;
  single: SingleSeries;
  /** `batchSize` and `concurrency`: Tailor's grid best, used for the measured runs, so that both serve the same batches; `grid`: the floor's own (the same pairs as Tailor's). */
  campaign: CampaignSeries & { gridBest: { batchSize: number; concurrency: number; recipientsPerSecond: number } };
  cost: {
    cpuSecondsPer1000Recipients: number;
    peakRssMb: number;
    loadGeneratorCpuSecondsPer1000Recipients: number;
    peakRssReset: boolean;
    runs: FloorCostRun[];
  };
  ratios: FloorRatios;
}

/** Tailor / floor ratios of the medians. */
export function floorRatiosOf(tailor: VariantResult, floor: Pick<FloorResult, 'single' | 'campaign' | 'cost'>): FloorRatios {
  const div = (a: number, b: number) => (b > 0 ? a / b : Number.NaN);
  return {
    campaignCpuPer1000Recipients: div(tailor.cost.totalCpuSecondsPer1000Recipients, floor.cost.cpuSecondsPer1000Recipients),
    campaignRecipientsPerSecond: div(tailor.campaign.median.recipientsPerSecond, floor.campaign.median.recipientsPerSecond),
    singleRequestsPerSecond: div(tailor.single.median.requestsPerSecond, floor.single.median.requestsPerSecond),
    singleP99: div(tailor.single.median.p99Ms, floor.single.median.p99Ms),
  };
}

/** One run of the fault scenario's workload, with every answer judged (see `bench/fault.ts`). */
export interface FaultRun extends SingleRun {
  /** Answers received (any status). */
  answers: number;
  /** 200 with the recipient's profile and exactly 4 recommendations, all in stock. */
  usable: number;
  /** Answers with `extensions.degraded`. */
  degraded: number;
  /** Answers with personal recommendations (a reason other than TRENDING, or not degraded with recent views). */
  personal: number;
  /** `usable / (answers + errors)`: a request that got no answer is not usable. */
  usableShare: number;
  /** The most frequent reasons an answer was not usable, with their counts. */
  problems: string[];
}

/** One heal of the fault scenario: the proxy passes through again, a poller waits for a personal answer. */
export interface RecoveryCycle {
  /** ms from the heal to the first personal answer received; `null` if none came within the time-out. */
  recoveredMs: number | null;
  /** When that answer's request was sent, ms after the heal. */
  sentMs: number | null;
  polls: number;
  answers: number;
}

/** The fault scenario: behavior slowed, through a gateway of its own, against the same path healthy. */
export interface FaultResult {
  connections: number;
  durationSeconds: number;
  /** Delay added to every behavior request while slowed. */
  slowMs: number;
  /** The gateway's `TAILOR_REQUEST_DEADLINE_MS`. */
  deadlineMs: number;
  pollIntervalMs: number;
  /** The recipient the recovery poller asks for. */
  recipient: string;
  /** Environment of the scenario's gateway, besides the inherited one. */
  gatewayEnv: Record<string, string>;
  healthy: { median: SingleMedian; usableShare: number; warmup: FaultRun; runs: FaultRun[] };
  slowed: { median: SingleMedian; usableShare: number; p50MinusDeadlineMs: number; p99MinusDeadlineMs: number; runs: FaultRun[] };
  /** Slowed divided by healthy. */
  ratios: { p50: number; p99: number; requestsPerSecond: number };
  /** Median over the heal cycles (a cycle that never recovered counts as infinite; `null` in JSON then). */
  recovery: { medianMs: number; cycles: RecoveryCycle[] };
  /** Requests the proxy saw, over the whole scenario. */
  proxyRequests: number;
}

/** The single-recipient medians the links scenario compares its clicks with: same stack, same sitting. */
export interface SingleBaseline {
  /** `compare`: Tailor's measured runs of the compare scenario; `links`: measured by the links scenario itself (`--only links`). */
  source: 'compare' | 'links';
  connections: number;
  durationSeconds: number;
  median: SingleMedian;
  problems: SingleProblems;
  /** Only when the links scenario measured them itself. */
  warmup?: SingleRun;
  runs?: SingleRun[];
}

/** One autocannon run of GETs of live links or live images (see `bench/links.ts`): the figures of a single-recipient run, and what the answers were. */
export interface LinkRun extends Pick<SingleRun, 'durationSeconds' | 'requests' | 'requestsPerSecond' | 'p50Ms' | 'p90Ms' | 'p99Ms' | 'maxMs'> {
  /** Answers by HTTP status. */
  statusCounts: Record<string, number>;
  /** Answers other than expected: not a 302 with a `Location` for a click, not a 200 `image/png` for an image. */
  unexpected: number;
  /** Connection errors and time-outs (autocannon's `errors`, which include `timeouts`). */
  errors: number;
  timeouts: number;
  /** The first few unexpected answers. */
  samples: string[];
  /**
   * What the gateway's outcome counter (`tailor_live_link_clicks_total` or `tailor_live_images_total`)
   * gained over the run; it also counts the requests still in flight when autocannon stopped, which are
   * not in `requests`.
   */
  outcomes: Record<string, number>;
  /** Images only: what `tailor_live_image_renders_total` gained over the run, by `result` (hit, miss), counted like `outcomes`. */
  renders?: Record<string, number>;
}

/** Medians, problem sums and outcome sums over the measured runs of one kind of GET. */
export interface LinkSummary {
  median: SingleMedian;
  /** Unexpected answers, summed over the measured runs. */
  unexpected: number;
  /** Connection errors and time-outs, summed over the measured runs. */
  errors: number;
  /** Requests completed, summed over the measured runs. */
  requests: number;
  /** Outcome counts, summed over the measured runs. */
  outcomes: Record<string, number>;
  runs: LinkRun[];
}

/** The links scenario: live links clicked and live images opened, after some of their products sold out. */
export interface LinksResult {
  connections: number;
  durationSeconds: number;
  /** The `campaign` argument the links were fetched with. */
  campaign: string;
  /** Recipients asked for, and those the graph answered. */
  recipients: number;
  recipientsAnswered: number;
  /** Recommendation slots fetched: one click URL and one image URL each. */
  slots: number;
  /** Seconds to fetch them through `CampaignBatch`. */
  fetchSeconds: number;
  distinctProducts: number;
  soldOutEvery: number;
  /** Distinct products marked sold out (`recordStockLevels`, available 0), and the slots that show one. */
  soldOutProducts: number;
  soldOutSlots: number;
  /** Clicks as fast as 32 connections get answers: the redirect's throughput. */
  click: LinkSummary & { warmup: LinkRun };
  /** Clicks at a steady `rate` per second (autocannon's overallRate): the redirect's latency, the target. */
  pacedClick: LinkSummary & { rate: number; connections: number };
  image: LinkSummary & {
    /** Render cache look-ups over the measured runs, by result. */
    renders: Record<string, number>;
    /** `hit / (hit + miss)` over the measured runs; NaN (`null` in JSON) without look-ups. */
    renderHitShare: number;
    /** The pass over every image URL once that fills the render cache before the measured runs. */
    firstPass: LinkRun;
  };
  single: SingleBaseline;
  /** Click p99 divided by the single-recipient p99. */
  ratios: { clickP99VsSingleP99: number };
  /** The stock levels marked sold out were put back afterwards. */
  stockRestored: boolean;
}

/** The two ways the ingest scenario sends browsing events. */
export type IngestWay = 'http' | 'mutation';

/** How the ingest scenario's `POST /ingest/events` batches were authenticated, as the stack required. */
export type IngestAuthMode = 'none' | 'webhook-signature' | 'ingest-key';

/** One run of one way of the ingest scenario (see `bench/ingest.ts`). */
export interface IngestRun {
  way: IngestWay;
  batchSize: number;
  /** Batches in flight at once (concurrent senders). */
  concurrency: number;
  /** Events sent. */
  events: number;
  /** Events the answers counted as `accepted`: the only ones that count. */
  accepted: number;
  /** Counted as duplicates or stale by the answers (problems: every eventId is fresh, every time within the hour). */
  duplicates: number;
  stale: number;
  /** Events of batches refused or failed (non-200, GraphQL errors, no answer), or missing from an answer's counts. */
  refusedEvents: number;
  requests: number;
  /** Batches not wholly accepted. */
  failedRequests: number;
  elapsedSeconds: number;
  /** `accepted / elapsedSeconds`. */
  eventsPerSecond: number;
  /** The first few problems. */
  problems: string[];
}

/** The query that follows a measured run at once: the newest view of a user of its last batch must show. */
export interface VisibilityCheck {
  status: 'checked' | 'failed';
  /** A consenting demo user whose event ends the run's last batch, newest of that user by `occurredAt`. */
  userId: string;
  expectedSku: string;
  occurredAt: string;
  /** `recentlyViewed(limit: 1)`'s product, as the gateway answered. */
  seenSku: string | null;
  latencyMs: number;
  detail?: string;
}

/** A measured run of the ingest scenario, with what each process spent on it. */
export interface IngestMeasuredRun extends IngestRun {
  /** CPU seconds of each process (with its live descendants) over the run. */
  cpuSeconds: Record<ServiceName, number>;
  cpuSecondsPer1000Events: Record<ServiceName, number>;
  /** The benchmark's own process (making, sending and reading the batches). */
  loadGeneratorCpuSecondsPer1000Events: number;
  /**
   * Behavior's wall-clock seconds per 1,000 accepted events in each SQL statement over the run (what its
   * `tailor_db_statement_seconds_total` gained; `COMMIT` is the commits), statements with none left out.
   */
  behaviorSqlSecondsPer1000Events: Record<string, number>;
  visibility: VisibilityCheck;
}

/** One way of the ingest scenario: the grid, the chosen concurrency and the measured runs' medians. */
export interface IngestWayResult {
  endpoint: string;
  batchSize: number;
  /** The grid's best concurrency, used for the measured runs. */
  concurrency: number;
  /** Events of each measured run. */
  events: number;
  median: {
    eventsPerSecond: number;
    elapsedSeconds: number;
    cpuSecondsPer1000Events: Record<ServiceName, number>;
    loadGeneratorCpuSecondsPer1000Events: number;
    /** Per statement, the median over the runs (0 for a run where it took none). */
    behaviorSqlSecondsPer1000Events: Record<string, number>;
  };
  /** Summed over the measured runs. */
  problems: { duplicates: number; stale: number; refusedEvents: number; failedRequests: number; samples: string[] };
  /** Measured runs whose next query showed (checked) or did not show (failed) the newest event. */
  visibility: { checked: number; failed: number };
  warmup: IngestRun;
  /** The grid's trials in the order they ran: each concurrency in increasing order, then again in decreasing order. */
  grid: IngestRun[];
  /** Per concurrency, the mean events/s of its two trials; the best is `concurrency`. */
  gridMeans: { concurrency: number; eventsPerSecond: number }[];
  runs: IngestMeasuredRun[];
}

/** The ingest scenario: browsing events in, over behavior's batch route and through the gateway. */
export interface IngestScenarioResult {
  auth: IngestAuthMode;
  batchSize: number;
  /** Demo users the events are spread over, and those of them with personalization consent (the probes). */
  users: number;
  consentingUsers: number;
  skus: number;
  /** Every `occurredAt` is within this many seconds before its batch was made. */
  occurredWithinSeconds: number;
  http: IngestWayResult;
  mutation: IngestWayResult;
}

/** One performance target and whether the run met it (reported, never enforced). */
export interface TargetResult {
  id: 'campaignThroughput' | 'singleP99' | 'peakRss' | 'campaignVsBaseline' | 'floorCpuRatio' | 'faultP99VsDeadline' | 'faultUsable' | 'faultRecovery' | 'linkRedirectP99' | 'postgresCampaignVsSqlite' | 'ingestThroughput';
  description: string;
  threshold: number;
  actual: number;
  pass: boolean;
  /** How far from the threshold, in words. */
  detail: string;
}

const fmt = (n: number, digits = 0) =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a';

/** T1: campaign recipients per second of the whole stack on this 2-core machine. */
export const CAMPAIGN_RECIPIENTS_PER_SECOND = 8000;
/** T3: the single-recipient p99, in ms, at 32 connections. */
export const SINGLE_P99_MS = 50;
/**
 * T3's yardstick: single-recipient requests/s of the code before the target was set (commit `f5bdaf2`,
 * the README's last quiet-machine table); T3 asks for `SINGLE_SPEEDUP` times as many. It is a figure of
 * another sitting, so compare it with a run on a quiet machine only.
 */
export const PREVIOUS_SINGLE_REQUESTS_PER_SECOND = 592;
export const SINGLE_SPEEDUP = 1.5;
/** T5: every process's peak RSS during the campaign, in MB. */
export const PEAK_RSS_MB = 300;

/** Checks T1, T3 and T5 (and, with a baseline, the campaign ratio against it): reported, never enforced. */
export function evaluateTargets(tailor: VariantResult, ratios?: Ratios): TargetResult[] {
  const campaign = tailor.campaign.median.recipientsPerSecond;
  const { p99Ms: p99, requestsPerSecond: single } = tailor.single.median;
  const atLeast = (actual: number, threshold: number, unit: string, digits = 0) =>
    actual >= threshold
      ? `met: ${fmt(actual, digits)}${unit} (${fmt((actual / threshold - 1) * 100)}% above ${fmt(threshold, digits)}${unit})`
      : `missed by ${fmt(threshold - actual, digits)}${unit}: ${fmt(actual, digits)}${unit} is ${fmt((1 - actual / threshold) * 100)}% below ${fmt(threshold, digits)}${unit}`;
  const singleFloor = SINGLE_SPEEDUP * PREVIOUS_SINGLE_REQUESTS_PER_SECOND;
  const p99Met = p99 < SINGLE_P99_MS;
  const rateMet = single >= singleFloor;
  const peaks = Object.entries(tailor.cost.perProcess).map(([name, cost]) => [name, cost.peakRssMb] as const);
  const largest = peaks.reduce<readonly [string, number] | undefined>((top, peak) => (!top || peak[1] > top[1] ? peak : top), undefined);
  const rssMet = largest !== undefined && largest[1] < PEAK_RSS_MB;
  const peakList = peaks.map(([name, mb]) => `${name} ${fmt(mb)}`).join(', ');
  return [
    {
      id: 'campaignThroughput',
      description: `T1 campaign ≥ ${fmt(CAMPAIGN_RECIPIENTS_PER_SECOND)} recipients/s`,
      threshold: CAMPAIGN_RECIPIENTS_PER_SECOND,
      actual: campaign,
      pass: campaign >= CAMPAIGN_RECIPIENTS_PER_SECOND,
      detail: atLeast(campaign, CAMPAIGN_RECIPIENTS_PER_SECOND, ' recipients/s'),
    },
    {
      id: 'singleP99',
      description: `T3 single recipient at ${tailor.single.connections} connections: p99 < ${SINGLE_P99_MS} ms and ≥ ${SINGLE_SPEEDUP}× ${fmt(PREVIOUS_SINGLE_REQUESTS_PER_SECOND)} req/s`,
      threshold: SINGLE_P99_MS,
      actual: p99,
      pass: p99Met && rateMet,
      detail:
        `${p99Met && rateMet ? 'met' : 'missed'}: p99 ${fmt(p99, 1)} ms (${p99Met ? `${fmt(SINGLE_P99_MS - p99, 1)} ms to spare` : `${fmt(p99 - SINGLE_P99_MS, 1)} ms over`}), ` +
        `${fmt(single)} req/s (${fmt(single / PREVIOUS_SINGLE_REQUESTS_PER_SECOND, 2)}× ${fmt(PREVIOUS_SINGLE_REQUESTS_PER_SECOND)}; ${rateMet ? 'at least' : 'below'} ${fmt(singleFloor)})`,
    },
    {
      id: 'peakRss',
      description: `T5 peak RSS of every process < ${PEAK_RSS_MB} MB during the campaign`,
      threshold: PEAK_RSS_MB,
      actual: largest?.[1] ?? Number.NaN,
      pass: rssMet,
      detail: largest === undefined ? 'missed: no peak RSS measured' : `${rssMet ? 'met' : `missed by ${fmt(largest[1] - PEAK_RSS_MB)} MB`}: ${peakList} MB (medians)`,
    },
    ...(ratios
      ? [
          {
            id: 'campaignVsBaseline' as const,
            description: 'campaign ≥ 3× the baseline',
            threshold: 3,
            actual: ratios.campaignRecipientsPerSecond,
            pass: ratios.campaignRecipientsPerSecond >= 3,
            detail: atLeast(ratios.campaignRecipientsPerSecond, 3, '×', 2),
          },
        ]
      : []),
  ];
}

/** The T2 target's threshold: the whole stack's CPU per campaign recipient as a multiple of the floor's. */
export const FLOOR_CPU_RATIO = 3;

/**
 * Checks T2: the four processes' CPU per campaign recipient at most 3× the floor's. Missed, whatever the
 * ratio, when the floor's figures are invalid (an answer still differed from Tailor's).
 */
export function evaluateFloorTargets(tailor: VariantResult, floor: FloorResult): TargetResult[] {
  const ratio = floor.ratios.campaignCpuPer1000Recipients;
  const figures = `${fmt(tailor.cost.totalCpuSecondsPer1000Recipients, 3)} CPU s per 1,000 recipients for the four processes against ${fmt(floor.cost.cpuSecondsPer1000Recipients, 3)} for the floor`;
  const within = Number.isFinite(ratio) && ratio <= FLOOR_CPU_RATIO;
  let detail: string;
  if (!floor.valid) detail = `missed: the floor's figures are invalid (${fmt(floor.identity.mismatches)} of ${fmt(floor.identity.recipients)} answers compared differed from Tailor's)`;
  else if (!Number.isFinite(ratio)) detail = 'missed: no floor CPU figure';
  else if (within) detail = `met: ${fmt(ratio, 2)}× the floor (${figures}; ${fmt(FLOOR_CPU_RATIO - ratio, 2)}× to spare)`;
  else detail = `missed by ${fmt(ratio - FLOOR_CPU_RATIO, 2)}×: ${fmt(ratio, 2)}× the floor (${figures})`;
  return [
    {
      id: 'floorCpuRatio',
      description: `T2 whole-stack CPU per campaign recipient ≤ ${FLOOR_CPU_RATIO}× the floor's`,
      threshold: FLOOR_CPU_RATIO,
      actual: ratio,
      pass: floor.valid && within,
      detail,
    },
  ];
}

/** Checks the fault scenario's three targets: p99 within 50 ms of the deadline, every answer usable, recovery within 1 s. */
export function evaluateFaultTargets(fault: FaultResult): TargetResult[] {
  const over = fault.slowed.p99MinusDeadlineMs;
  const usable = fault.slowed.usableShare * 100;
  const recovery = fault.recovery.medianMs;
  const signed = (n: number) => `${n >= 0 ? '+' : '−'}${fmt(Math.abs(n), 1)}`;
  return [
    {
      id: 'faultP99VsDeadline',
      description: `p99 with behavior slowed to ${fmt(fault.slowMs)} ms ≤ deadline (${fmt(fault.deadlineMs)} ms) + 50 ms`,
      threshold: 50,
      actual: over,
      pass: over <= 50,
      detail:
        over <= 50
          ? `met: p99 ${fmt(fault.slowed.median.p99Ms, 1)} ms is ${signed(over)} ms against the deadline`
          : `missed by ${fmt(over - 50, 1)} ms: p99 ${fmt(fault.slowed.median.p99Ms, 1)} ms is ${signed(over)} ms against the deadline`,
    },
    {
      id: 'faultUsable',
      description: 'usable answers with behavior slowed = 100%',
      threshold: 100,
      actual: usable,
      pass: usable === 100,
      detail:
        usable === 100
          ? `met: ${fmt(fault.slowed.runs.reduce((t, r) => t + r.usable, 0))} of ${fmt(fault.slowed.runs.reduce((t, r) => t + r.answers + r.errors, 0))}`
          : `missed: ${fmt(usable, 2)}% (${fmt(fault.slowed.runs.reduce((t, r) => t + r.answers + r.errors - r.usable, 0))} not usable)`,
    },
    {
      id: 'faultRecovery',
      description: 'personal answers again ≤ 1,000 ms after behavior heals',
      threshold: 1000,
      actual: recovery,
      pass: recovery <= 1000,
      detail:
        recovery <= 1000
          ? `met: ${fmt(recovery)} ms (median of ${fault.recovery.cycles.length} heal(s))`
          : `missed by ${fmt(recovery - 1000)} ms: ${fmt(recovery)} ms (median of ${fault.recovery.cycles.length} heal(s))`,
    },
  ];
}

/** The redirect target's threshold: click p99 in ms. */
export const LINK_REDIRECT_P99_MS = 50;

/**
 * Checks the links scenario's target: at a steady click rate, redirect p99 under 50 ms, and every click
 * answered with a 302 (any other answer or error misses it).
 */
export function evaluateLinkTargets(links: LinksResult): TargetResult[] {
  const paced = links.pacedClick;
  const p99 = paced.median.p99Ms;
  const failures = paced.unexpected + paced.errors;
  const fast = p99 < LINK_REDIRECT_P99_MS;
  const failuresText = `${fmt(paced.unexpected)} answer(s) not a 302 and ${fmt(paced.errors)} error(s) of ${fmt(paced.requests + paced.errors)} requests`;
  let detail: string;
  if (fast && failures === 0) detail = `met: ${fmt(p99, 1)} ms (${fmt(LINK_REDIRECT_P99_MS - p99, 1)} ms to spare), all ${fmt(paced.requests)} answers 302`;
  else if (fast) detail = `missed: ${failuresText} (p99 ${fmt(p99, 1)} ms)`;
  else {
    detail = Number.isFinite(p99)
      ? `missed by ${fmt(p99 - LINK_REDIRECT_P99_MS, 1)} ms: ${fmt(p99, 1)} ms is ${fmt((p99 / LINK_REDIRECT_P99_MS - 1) * 100)}% over ${LINK_REDIRECT_P99_MS} ms`
      : 'missed: no measured click run';
    if (failures > 0) detail += `; ${failuresText}`;
  }
  return [
    {
      id: 'linkRedirectP99',
      description: `click redirect p99 < ${LINK_REDIRECT_P99_MS} ms at ${fmt(paced.rate)} clicks/s (${paced.connections} connections), every answer a 302`,
      threshold: LINK_REDIRECT_P99_MS,
      actual: p99,
      pass: fast && failures === 0,
      detail,
    },
  ];
}

/** The ingest target (T4): accepted events per second over behavior's `POST /ingest/events`. */
export const INGEST_EVENTS_PER_SECOND = 50_000;

/**
 * Checks the ingest target: the median of the measured `POST /ingest/events` runs at least 50,000
 * accepted events/s, with no duplicate, stale or refused event and every run's next query showing its
 * newest event.
 */
export function evaluateIngestTargets(ingest: IngestScenarioResult): TargetResult[] {
  const way = ingest.http;
  const rate = way.median.eventsPerSecond;
  const fast = Number.isFinite(rate) && rate >= INGEST_EVENTS_PER_SECOND;
  const p = way.problems;
  const bad = p.duplicates + p.stale + p.refusedEvents;
  const issues = [
    ...(bad > 0 ? [`${fmt(p.duplicates)} duplicate(s), ${fmt(p.stale)} stale and ${fmt(p.refusedEvents)} refused event(s)`] : []),
    ...(way.visibility.failed > 0 ? [`the next query missed the newest event after ${way.visibility.failed} of ${way.runs.length} run(s)`] : []),
  ];
  const how = `POST /ingest/events, batches of ${way.batchSize} × concurrency ${way.concurrency}`;
  let detail: string;
  if (!Number.isFinite(rate)) detail = 'missed: no measured run';
  else if (fast) detail = `${issues.length === 0 ? 'met' : 'missed'}: ${fmt(rate)} events/s (${how}; ${fmt((rate / INGEST_EVENTS_PER_SECOND - 1) * 100)}% above ${fmt(INGEST_EVENTS_PER_SECOND)})`;
  else detail = `missed by ${fmt(INGEST_EVENTS_PER_SECOND - rate)} events/s: ${fmt(rate)} events/s is ${fmt((1 - rate / INGEST_EVENTS_PER_SECOND) * 100)}% below ${fmt(INGEST_EVENTS_PER_SECOND)} (${how})`;
  if (issues.length > 0) detail += `; ${issues.join('; ')}`;
  return [
    {
      id: 'ingestThroughput',
      description: `T4 ingest ≥ ${fmt(INGEST_EVENTS_PER_SECOND)} events/s`,
      threshold: INGEST_EVENTS_PER_SECOND,
      actual: rate,
      pass: fast && issues.length === 0,
      detail,
    },
  ];
}

/** The whole JSON result file. */
export interface BenchResult {
  tool: 'tailor-bench';
  formatVersion: 1;
  startedAt: string;
  finishedAt: string;
  command: string;
  /** The code measured: `git rev-parse HEAD` and `git status --porcelain` lines when the run started. */
  code: CodeVersion;
  machine: MachineInfo;
  settings: {
    mode: BenchPlan['mode'];
    demoScale: BenchPlan['demoScale'];
    userCount: number;
    /** The scenarios the run measured: `compare` (Tailor, baseline, ratios), `fault` and `links`. */
    scenarios: BenchPlan['scenarios'];
    /** `--backend`; absent in results written before it existed (SQLite). With `postgres`, `compare` is the backend comparison (`backends`). */
    backend?: BenchPlan['backend'];
    single: BenchPlan['single'] & { operation: 'PersonalizeRecipient'; transport: string };
    campaign: BenchPlan['campaign'] & { operation: 'CampaignBatch' };
    fault: BenchPlan['fault'] & { operation: 'PersonalizeRecipient'; faultedSubgraph: 'behavior' };
    /** Absent in results written before the links scenario existed. */
    links?: BenchPlan['links'] & { operation: 'CampaignBatch'; transport: string };
    /** Absent in results written before the ingest scenario existed. */
    ingest?: BenchPlan['ingest'] & { operations: { http: string; mutation: string }; auth?: IngestAuthMode };
    repetitions: number;
    statistic: string;
    clockTicksPerSecond: number;
    /** TAILOR_* variables of the benchmark's environment that every process also inherited. */
    inheritedEnv: Record<string, string>;
    notes: string[];
  };
  /** The `compare` scenario (absent with `--only fault`). */
  tailor?: VariantResult;
  baseline?: VariantResult;
  ratios?: Ratios;
  /** The floor, part of the `compare` scenario (absent in results written before it existed, and without `compare`). */
  floor?: FloorResult;
  /** The `fault` scenario (absent with `--only compare`). */
  fault?: FaultResult;
  /** The `links` scenario (absent unless it ran). */
  links?: LinksResult;
  /** The `ingest` scenario (absent unless it ran). */
  ingest?: IngestScenarioResult;
  /** With `--backend postgres`: Tailor's configuration on SQLite (`tailor`) and on PostgreSQL + Redis, and the ratios. */
  backends?: BackendsResult;
  targets: TargetResult[];
}

/** The terminal table of a result: Tailor, baseline and ratio side by side, then the targets. */
export function formatTable(result: BenchResult): string {
  const { settings: s, machine: m } = result;
  const sections = [
    ...(result.tailor && result.baseline && result.ratios ? [compareRows(result.tailor, result.baseline, result.ratios, s)] : []),
    ...(result.tailor && result.backends ? [backendsRows(result.tailor, result.backends, s)] : []),
    ...(result.tailor && result.floor ? [floorRows(result.tailor, result.floor, s)] : []),
    ...(result.fault ? [faultRows(result.fault)] : []),
    ...(result.links ? [linksRows(result.links)] : []),
    ...(result.ingest ? [ingestRows(result.ingest)] : []),
  ];
  const lines = [
    `Tailor benchmark (${s.mode} mode, demo scale ${s.demoScale}: ${fmt(s.userCount)} users) — ${s.statistic}`,
    `Code: ${result.code.commit.slice(0, 12)}${result.code.uncommitted.length > 0 ? ` + ${result.code.uncommitted.length} uncommitted change(s)` : ''}`,
    `Machine: ${m.cpuCount} × ${m.cpuModel}, ${fmt(m.totalMemoryMb / 1024, 1)} GB, Node.js ${m.node} (${m.platform} ${m.release}); ` +
      `load average ${m.loadAverage.start[0]} before the run (${m.loadAverage.end[0]} at its end, its own processes included)`,
    ...sections.flatMap((rows) => ['', ...alignRows(rows)]),
    '',
    'Targets (reported only; they never fail the run):',
    ...result.targets.map((target) => `  ${target.pass ? 'PASS' : 'MISS'}  ${target.description}: ${target.detail}`),
  ];
  return `${lines.join('\n')}\n`;
}

const x = (n: number) => (Number.isFinite(n) ? `${fmt(n, 2)}×` : 'n/a');

/** Rows of strings (headings) and cells, the first cell padded right and the others left, each column as wide as its widest cell. */
function alignRows(rows: (string[] | string)[]): string[] {
  const cells = rows.filter((row): row is string[] => Array.isArray(row));
  const widths = [0, 1, 2, 3].map((c) => Math.max(0, ...cells.map((row) => (row[c] ?? '').length)));
  return rows.map((row) => (typeof row === 'string' ? row : row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('   ')));
}

/** The fault scenario's rows: healthy, slowed and their ratio side by side, then the recovery. */
function faultRows(f: FaultResult): (string[] | string)[] {
  const pct = (share: number) => (Number.isFinite(share) ? `${fmt(share * 100, 2)}%` : 'n/a');
  const signed = (n: number) => (Number.isFinite(n) ? `${n >= 0 ? '+' : '−'}${fmt(Math.abs(n), 1)}` : 'n/a');
  const sum = (runs: FaultRun[], pick: (r: FaultRun) => number) => runs.reduce((t, r) => t + pick(r), 0);
  const recoveries = f.recovery.cycles.map((c) => (c.recoveredMs === null ? 'none' : fmt(c.recoveredMs))).join(' / ');
  return [
    ['', 'healthy', 'behavior slowed', 'slowed/healthy'],
    `Fault: PersonalizeRecipient by hash through a gateway of its own, behavior behind a proxy slowed to ${fmt(f.slowMs)} ms per request, ` +
      `${f.connections} connections, ${f.durationSeconds} s per run; deadline ${fmt(f.deadlineMs)} ms`,
    ['  requests/s', fmt(f.healthy.median.requestsPerSecond), fmt(f.slowed.median.requestsPerSecond), x(f.ratios.requestsPerSecond)],
    ['  p50 latency (ms)', fmt(f.healthy.median.p50Ms, 1), fmt(f.slowed.median.p50Ms, 1), x(f.ratios.p50)],
    ['  p99 latency (ms)', fmt(f.healthy.median.p99Ms, 1), fmt(f.slowed.median.p99Ms, 1), x(f.ratios.p99)],
    ['  p50 / p99 − deadline (ms)', '', `${signed(f.slowed.p50MinusDeadlineMs)} / ${signed(f.slowed.p99MinusDeadlineMs)}`, ''],
    ['  usable answers (200, profile, 4 in-stock recommendations)', pct(f.healthy.usableShare), pct(f.slowed.usableShare), ''],
    ['  degraded answers / errors (all runs)', `${fmt(sum(f.healthy.runs, (r) => r.degraded))} / ${fmt(sum(f.healthy.runs, (r) => r.errors))}`, `${fmt(sum(f.slowed.runs, (r) => r.degraded))} / ${fmt(sum(f.slowed.runs, (r) => r.errors))}`, ''],
    [`  recovery after the heal, ms (median; each heal)`, '', `${Number.isFinite(f.recovery.medianMs) ? fmt(f.recovery.medianMs) : 'none'} (${recoveries})`, ''],
    `  recovery: one request for ${f.recipient} every ${f.pollIntervalMs} ms from the heal until an answer carries personal recommendations`,
  ];
}

/** The links scenario's rows: clicks and images side by side, then the single-recipient yardstick. */
function linksRows(l: LinksResult): (string[] | string)[] {
  const counts = (c: Record<string, number>) => {
    const entries = Object.entries(c).filter(([, n]) => n > 0);
    return entries.length > 0 ? entries.map(([k, n]) => `${k} ${fmt(n)}`).join(' · ') : 'none';
  };
  const hits = l.image.renders.hit ?? 0;
  const lookups = hits + (l.image.renders.miss ?? 0);
  const share = Number.isFinite(l.image.renderHitShare) ? `${fmt(l.image.renderHitShare * 100, 1)}%` : 'n/a';
  return [
    ['', 'clicks GET /r/…', 'images GET /i/….png', ''],
    `Live links: ${fmt(l.slots)} slots of ${fmt(l.recipientsAnswered)} recipients (CampaignBatch, campaign ${l.campaign}), ` +
      `${fmt(l.soldOutProducts)} of ${fmt(l.distinctProducts)} products shown marked sold out (1 in ${l.soldOutEvery}; ${fmt(l.soldOutSlots)} slots); ` +
      `no client key, redirects not followed, ${l.connections} connections, ${l.durationSeconds} s per run`,
    `  at ${fmt(l.pacedClick.rate)} clicks/s over ${l.pacedClick.connections} connections (steady, the target's load)`,
    ['  p50 latency (ms)', fmt(l.pacedClick.median.p50Ms, 1), '', ''],
    ['  p99 latency (ms)', fmt(l.pacedClick.median.p99Ms, 1), '', ''],
    ['  not 302 · errors (all runs)', `${fmt(l.pacedClick.unexpected)} · ${fmt(l.pacedClick.errors)}`, '', ''],
    `  as fast as ${l.connections} connections get answers (throughput)`,
    ['  requests/s', fmt(l.click.median.requestsPerSecond), fmt(l.image.median.requestsPerSecond), ''],
    ['  p50 latency (ms)', fmt(l.click.median.p50Ms, 1), fmt(l.image.median.p50Ms, 1), ''],
    ['  p99 latency (ms)', fmt(l.click.median.p99Ms, 1), fmt(l.image.median.p99Ms, 1), ''],
    ['  not 302 / not 200 PNG · errors (all runs)', `${fmt(l.click.unexpected)} · ${fmt(l.click.errors)}`, `${fmt(l.image.unexpected)} · ${fmt(l.image.errors)}`, ''],
    ['  outcomes (all runs)', counts(l.click.outcomes), counts(l.image.outcomes), ''],
    ['  render cache hits (after a first pass)', '', `${share} (${fmt(hits)} of ${fmt(lookups)})`, ''],
    [
      `  single-recipient p99 (ms), same stack (${l.single.source === 'compare' ? 'compare scenario' : 'measured here'}, ${l.single.connections} connections)`,
      fmt(l.single.median.p99Ms, 1),
      '',
      '',
    ],
    [`  click p99 / single-recipient p99 (both at ${l.connections} connections)`, x(l.ratios.clickP99VsSingleP99), '', ''],
    ...(l.stockRestored ? [] : ['  the stock levels marked sold out could not be put back']),
  ];
}

/** The ingest scenario's rows: the behavior batch route and the gateway mutation side by side. */
function ingestRows(i: IngestScenarioResult): (string[] | string)[] {
  const auth = { none: 'no credential (behavior accepts every batch)', 'webhook-signature': 'Standard Webhooks signature', 'ingest-key': 'ingest key' }[i.auth];
  const problems = (w: IngestWayResult) => `${fmt(w.problems.duplicates)} / ${fmt(w.problems.stale)} / ${fmt(w.problems.refusedEvents)}`;
  const visible = (w: IngestWayResult) =>
    w.runs.length === 0 ? 'n/a' : `${w.visibility.failed === 0 ? 'checked' : 'FAILED'} (${w.runs.map((r) => r.visibility.status).join(' / ')})`;
  const grid = (w: IngestWayResult) => w.gridMeans.map((m) => m.concurrency).join('/');
  const cpu = (w: IngestWayResult, n: ServiceName) => fmt(w.median.cpuSecondsPer1000Events[n], 3);
  const sql = (w: IngestWayResult, name: string) => fmt(w.median.behaviorSqlSecondsPer1000Events?.[name] ?? 0, 3);
  return [
    ['', 'POST /ingest/events', 'trackEvents via /graphql', ''],
    `Ingest: VIEW events of ${fmt(i.users)} demo users on ${fmt(i.skus)} products, fresh eventIds, occurredAt within the last ${fmt(i.occurredWithinSeconds / 60)} min, ` +
      `batches of ${i.batchSize}; behavior's batch route with ${auth}, the mutation with the development key`,
    ['  events per measured run', fmt(i.http.events), fmt(i.mutation.events), ''],
    ['  events/s (accepted)', fmt(i.http.median.eventsPerSecond), fmt(i.mutation.median.eventsPerSecond), ''],
    [`  concurrency (grid best of ${grid(i.http)} · ${grid(i.mutation)})`, fmt(i.http.concurrency), fmt(i.mutation.concurrency), ''],
    ['  seconds per run', fmt(i.http.median.elapsedSeconds, 1), fmt(i.mutation.median.elapsedSeconds, 1), ''],
    ['  behavior CPU s/1k events', cpu(i.http, 'behavior'), cpu(i.mutation, 'behavior'), ''],
    ['  gateway CPU s/1k events', cpu(i.http, 'gateway'), cpu(i.mutation, 'gateway'), ''],
    ['  load generator CPU s/1k events', fmt(i.http.median.loadGeneratorCpuSecondsPer1000Events, 3), fmt(i.mutation.median.loadGeneratorCpuSecondsPer1000Events, 3), ''],
    ...sqlStatements(i).map((name) => [`  … behavior in SQL ${name}, s/1k events`, sql(i.http, name), sql(i.mutation, name), '']),
    ['  duplicates / stale / refused events (all runs)', problems(i.http), problems(i.mutation), ''],
    ['  newest event visible to the next query (each run)', visible(i.http), visible(i.mutation), ''],
    ...[i.http, i.mutation].flatMap((w) => (w.problems.samples.length > 0 ? [`  problems (${w.endpoint}): ${w.problems.samples.join(' | ')}`] : [])),
    ...[i.http, i.mutation].flatMap((w) => w.runs.filter((r) => r.visibility.status === 'failed').map((r) => `  visibility failed (${w.endpoint}): ${r.visibility.detail ?? ''}`)),
  ];
}

/** The SQL statements behavior spent the most time in over the ingest runs (at most 5), most first. */
function sqlStatements(i: IngestScenarioResult): string[] {
  const total = new Map<string, number>();
  for (const w of [i.http, i.mutation]) for (const [name, s] of Object.entries(w.median.behaviorSqlSecondsPer1000Events ?? {})) total.set(name, (total.get(name) ?? 0) + s);
  return [...total].filter(([, s]) => s >= 0.001).sort((a, b) => b[1] - a[1]).slice(0, 5).map(([name]) => name);
}

/** The floor's rows: Tailor, the floor and their ratio side by side, then the identity check. */
function floorRows(t: VariantResult, f: FloorResult, s: BenchResult['settings']): (string[] | string)[] {
  const id = f.identity;
  const sumRss = t.cost.totalPeakRssMb;
  return [
    ['', 'Tailor', 'floor', 'Tailor/floor'],
    'Floor: the same two operations answered by one process straight from the same SQLite files (bench/floor.ts): no federation, no GraphQL execution' +
      (f.valid ? '' : ' — INVALID: its answers differed from Tailor\'s'),
    `Single recipient: PersonalizeRecipient by hash, ${f.single.connections} connections, ${s.single.durationSeconds} s per run`,
    ['  requests/s', fmt(t.single.median.requestsPerSecond), fmt(f.single.median.requestsPerSecond), x(f.ratios.singleRequestsPerSecond)],
    ['  p50 latency (ms)', fmt(t.single.median.p50Ms, 1), fmt(f.single.median.p50Ms, 1), x(t.single.median.p50Ms / f.single.median.p50Ms)],
    ['  p99 latency (ms)', fmt(t.single.median.p99Ms, 1), fmt(f.single.median.p99Ms, 1), x(f.ratios.singleP99)],
    [
      '  non-2xx / errors / bad bodies (all runs)',
      `${t.single.problems.non2xx} / ${t.single.problems.errors} / ${t.single.problems.badBodies}`,
      `${f.single.problems.non2xx} / ${f.single.problems.errors} / ${f.single.problems.badBodies}`,
      '',
    ],
    `Campaign: CampaignBatch, ${fmt(f.campaign.recipients)} recipients per run, at Tailor's batch size × concurrency`,
    ['  recipients/s', fmt(t.campaign.median.recipientsPerSecond), fmt(f.campaign.median.recipientsPerSecond), x(f.ratios.campaignRecipientsPerSecond)],
    ['  batch size × concurrency', `${t.campaign.batchSize} × ${t.campaign.concurrency}`, `${f.campaign.batchSize} × ${f.campaign.concurrency}`, ''],
    ["  floor's own grid best (one trial)", '', `${f.campaign.gridBest.batchSize} × ${f.campaign.gridBest.concurrency}: ${fmt(f.campaign.gridBest.recipientsPerSecond)}/s`, ''],
    ['  failed recipients (all runs)', fmt(t.campaign.failedRecipients), fmt(f.campaign.failedRecipients), ''],
    ['  CPU s/1k recipients (all four processes · the floor)', fmt(t.cost.totalCpuSecondsPer1000Recipients, 3), fmt(f.cost.cpuSecondsPer1000Recipients, 3), x(f.ratios.campaignCpuPer1000Recipients)],
    ['  peak RSS MB (sum of the four · the floor)', fmt(sumRss), fmt(f.cost.peakRssMb), x(sumRss / f.cost.peakRssMb)],
    `  identity: ${fmt(id.recipients)} recipients asked of both (${id.campaignBatches} batches of ${id.batchSize}, ${id.singles} single recipients, ${id.unknownIds} unknown ids): ` +
      `${fmt(id.matchedLive)} equal at once, ${fmt(id.matchedPinned)} at a pinned instant, ${fmt(id.matchedOnRetry)} on a retry, ${fmt(id.mismatches)} different`,
    ...id.samples.map((sample) => `    differs: ${sample}`),
  ];
}

/** The compare scenario's rows: Tailor, baseline and ratio side by side. */
function compareRows(t: VariantResult, b: VariantResult, r: Ratios, s: BenchResult['settings']): (string[] | string)[] {
  return [
    ['', 'Tailor', 'baseline', 'Tailor/baseline'],
    `Single recipient: PersonalizeRecipient by hash, ${t.single.connections} connections, ${s.single.durationSeconds} s per run`,
    ['  requests/s', fmt(t.single.median.requestsPerSecond), fmt(b.single.median.requestsPerSecond), x(r.singleRequestsPerSecond)],
    ['  p50 latency (ms)', fmt(t.single.median.p50Ms, 1), fmt(b.single.median.p50Ms, 1), x(t.single.median.p50Ms / b.single.median.p50Ms)],
    ['  p99 latency (ms)', fmt(t.single.median.p99Ms, 1), fmt(b.single.median.p99Ms, 1), x(r.singleP99)],
    [
      '  non-2xx / errors / bad bodies (all runs)',
      `${t.single.problems.non2xx} / ${t.single.problems.errors} / ${t.single.problems.badBodies}`,
      `${b.single.problems.non2xx} / ${b.single.problems.errors} / ${b.single.problems.badBodies}`,
      '',
    ],
    `Campaign: CampaignBatch (users(ids:)), ${fmt(t.campaign.recipients)} recipients per run`,
    ['  recipients/s', fmt(t.campaign.median.recipientsPerSecond), fmt(b.campaign.median.recipientsPerSecond), x(r.campaignRecipientsPerSecond)],
    ['  batch size × concurrency (grid best)', `${t.campaign.batchSize} × ${t.campaign.concurrency}`, `${b.campaign.batchSize} × ${b.campaign.concurrency}`, ''],
    ['  seconds per run', fmt(t.campaign.median.elapsedSeconds, 1), fmt(b.campaign.median.elapsedSeconds, 1), ''],
    ['  failed recipients (all runs)', fmt(t.campaign.failedRecipients), fmt(b.campaign.failedRecipients), ''],
    'Cost over the campaign: CPU seconds per 1,000 recipients, peak RSS',
    ...SERVICES.map((n) => [
      `  ${n} CPU s/1k · peak MB`,
      `${fmt(t.cost.perProcess[n].cpuSecondsPer1000Recipients, 3)} · ${fmt(t.cost.perProcess[n].peakRssMb)}`,
      `${fmt(b.cost.perProcess[n].cpuSecondsPer1000Recipients, 3)} · ${fmt(b.cost.perProcess[n].peakRssMb)}`,
      x(t.cost.perProcess[n].cpuSecondsPer1000Recipients / b.cost.perProcess[n].cpuSecondsPer1000Recipients),
    ]),
    [
      '  all four CPU s/1k · peak MB',
      `${fmt(t.cost.totalCpuSecondsPer1000Recipients, 3)} · ${fmt(t.cost.totalPeakRssMb)}`,
      `${fmt(b.cost.totalCpuSecondsPer1000Recipients, 3)} · ${fmt(b.cost.totalPeakRssMb)}`,
      x(r.campaignCpuPer1000Recipients),
    ],
    ['  load generator CPU s/1k', fmt(t.cost.loadGeneratorCpuSecondsPer1000Recipients, 3), fmt(b.cost.loadGeneratorCpuSecondsPer1000Recipients, 3), ''],
  ];
}

/** The backend comparison's rows: PostgreSQL + Redis, SQLite and their ratio side by side, then the servers' CPU. */
function backendsRows(sqlite: VariantResult, b: BackendsResult, s: BenchResult['settings']): (string[] | string)[] {
  const pg = b.postgres.result;
  const r = b.ratios;
  const problems = (v: VariantResult) => `${v.single.problems.non2xx} / ${v.single.problems.errors} / ${v.single.problems.badBodies}`;
  const cpu = (seconds: number | undefined, per1000: number | undefined) =>
    seconds === undefined ? 'n/a' : per1000 === undefined ? fmt(seconds, 2) : `${fmt(seconds, 2)} · ${fmt(per1000, 3)}`;
  const servers = (v: VariantResult, workload: 'single' | 'campaign', pick: 'postgres' | 'redis' | 'own') => {
    const m = v.servers?.[workload].median;
    if (!m) return 'n/a';
    if (pick === 'own') return m.postgresBenchDatabaseCpuSeconds === undefined ? '' : fmt(m.postgresBenchDatabaseCpuSeconds, 2);
    return pick === 'postgres' ? cpu(m.postgresCpuSeconds, m.postgresCpuSecondsPer1000) : cpu(m.redisCpuSeconds, m.redisCpuSecondsPer1000);
  };
  return [
    ['', 'PostgreSQL+Redis', 'SQLite', 'PostgreSQL/SQLite'],
    `Backends: Tailor's configuration (batching and caches on) on SQLite, then on PostgreSQL ${b.postgres.postgresVersion} (database ${b.postgres.database}) ` +
      `with Redis ${b.postgres.redisVersion} (prefix ${b.postgres.redisPrefix}), one after the other; baseline skipped`,
    `Single recipient: PersonalizeRecipient by hash, ${sqlite.single.connections} connections, ${s.single.durationSeconds} s per run`,
    ['  requests/s', fmt(pg.single.median.requestsPerSecond), fmt(sqlite.single.median.requestsPerSecond), x(r.singleRequestsPerSecond)],
    ['  p50 latency (ms)', fmt(pg.single.median.p50Ms, 1), fmt(sqlite.single.median.p50Ms, 1), x(pg.single.median.p50Ms / sqlite.single.median.p50Ms)],
    ['  p99 latency (ms)', fmt(pg.single.median.p99Ms, 1), fmt(sqlite.single.median.p99Ms, 1), x(r.singleP99)],
    ['  non-2xx / errors / bad bodies (all runs)', problems(pg), problems(sqlite), ''],
    ['  PostgreSQL server CPU s per run · s/1k requests', servers(pg, 'single', 'postgres'), servers(sqlite, 'single', 'postgres'), ''],
    ['  Redis server CPU s per run · s/1k requests', servers(pg, 'single', 'redis'), servers(sqlite, 'single', 'redis'), ''],
    `Campaign: CampaignBatch (users(ids:)), ${fmt(sqlite.campaign.recipients)} recipients per run`,
    ['  recipients/s', fmt(pg.campaign.median.recipientsPerSecond), fmt(sqlite.campaign.median.recipientsPerSecond), x(r.campaignRecipientsPerSecond)],
    ['  batch size × concurrency (grid best)', `${pg.campaign.batchSize} × ${pg.campaign.concurrency}`, `${sqlite.campaign.batchSize} × ${sqlite.campaign.concurrency}`, ''],
    ['  seconds per run', fmt(pg.campaign.median.elapsedSeconds, 1), fmt(sqlite.campaign.median.elapsedSeconds, 1), ''],
    ['  failed recipients (all runs)', fmt(pg.campaign.failedRecipients), fmt(sqlite.campaign.failedRecipients), ''],
    [
      '  four services CPU s/1k · peak MB',
      `${fmt(pg.cost.totalCpuSecondsPer1000Recipients, 3)} · ${fmt(pg.cost.totalPeakRssMb)}`,
      `${fmt(sqlite.cost.totalCpuSecondsPer1000Recipients, 3)} · ${fmt(sqlite.cost.totalPeakRssMb)}`,
      x(r.campaignCpuPer1000Recipients),
    ],
    ['  PostgreSQL server CPU s per run · s/1k recipients', servers(pg, 'campaign', 'postgres'), servers(sqlite, 'campaign', 'postgres'), ''],
    ['    of which the bench database\'s backends, s per run', servers(pg, 'campaign', 'own'), '', ''],
    ['  Redis server CPU s per run · s/1k recipients', servers(pg, 'campaign', 'redis'), servers(sqlite, 'campaign', 'redis'), ''],
    '  server CPU: utime+stime of every `postgres` process (any database) and of redis-server, from /proc, over each measured run (median); on SQLite, other work on the machine',
    ...(b.postgres.cleanup.databaseDropped && b.postgres.cleanup.errors.length === 0
      ? [`  afterwards: database ${b.postgres.database} dropped, ${fmt(b.postgres.cleanup.redisKeysDeleted)} Redis key(s) of the prefix deleted`]
      : [`  clean-up problems: ${b.postgres.cleanup.errors.join(' | ') || 'the database was not dropped'}`]),
  ];
}
