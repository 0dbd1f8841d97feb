/**
 * The ingest scenario of `npm run bench`: browsing-event ingestion throughput, two ways, on Tailor's
 * stack. `POST /ingest/events` on the behavior subgraph directly (JSON arrays of `batchSize` events),
 * and the `trackEvents` mutation through the gateway's `/graphql` with the development key (batches of
 * the same size). Every event is a `VIEW` of a demo product by a demo user, with a fresh `eventId` and
 * an `occurredAt` within the last hour. Each way gets a warm-up and a grid search over the number of
 * concurrent senders; then the measured runs of the two ways alternate (so both see the events table
 * grow alike), each followed at once by one query through the gateway that must show the newest view
 * of a user of its last batch (the visible-to-the-next-query rule). Only events the answers count as
 * `accepted` count; duplicates, stale events and refused batches are problems. Every event stays, so
 * each batch writes into a larger table than the one before: the grid tries each concurrency twice, in
 * increasing then decreasing order, and takes the mean of the two, so that the growth does not favour
 * the concurrency tried first. The behavior batch
 * route is authenticated as the stack is configured: a Standard Webhooks signature with
 * `TAILOR_INGEST_WEBHOOK_SECRET`, an ingest key (`TAILOR_BENCH_INGEST_KEY`) with `TAILOR_INGEST_KEYS`,
 * nothing otherwise (behavior then accepts every batch, and warns at start-up).
 */
import { createHash, randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { ConfigError } from '../kit/config';
import { DEMO_SCALES, createRandom, demoCatalog, demoUsers } from '../demo/demoData';
import type { BenchPlan } from './config';
import { counterByLabel, counterDelta } from './links';
import { readTreeCpuSeconds } from './procStats';
import { type IngestAuthMode, type IngestMeasuredRun, type IngestRun, type IngestScenarioResult, type IngestWay, type IngestWayResult, type VisibilityCheck, median } from './report';
import { type BenchStack, SERVICES, type ServiceName, assertLoopback } from './stack';
import { requestHeaders } from './workloads';

/** What the ingest scenario needs besides the running stack. */
export interface IngestContext {
  plan: BenchPlan;
  signal: AbortSignal;
  log: (line: string) => void;
  ticksPerSecond: number;
  /** How the behavior process authenticates `POST /ingest/*` (see `resolveIngestCredential`). */
  credential: IngestCredential;
}

/** How the benchmark authenticates its `POST /ingest/events` batches, as the stack requires. */
export interface IngestCredential {
  mode: IngestAuthMode;
  /** The headers of one batch with body `body`. */
  headers(body: string): Record<string, string>;
}

/** The mutation sent through the gateway. */
export const TRACK_EVENTS = 'mutation BenchTrackEvents($events: [BrowsingEventInput!]!) { trackEvents(events: $events) { accepted duplicates stale } }';

/** Settings read as unset when empty (the SQLite stack of the backend comparison sets some to ''). */
const list = (raw: string | undefined) => (raw ?? '').split(',').map((s) => s.trim()).filter(Boolean);

/**
 * How the stack's behavior process authenticates `POST /ingest/*`, from the environment its processes
 * inherit (`TAILOR_INGEST_WEBHOOK_SECRET`, `TAILOR_INGEST_KEYS`): signed batches with the first secret,
 * `Authorization: Bearer <TAILOR_BENCH_INGEST_KEY>` when only keys are set (the key must be one of
 * them: the setting holds their hashes), or no credential at all. Throws a `ConfigError` when keys are
 * required and the benchmark holds none that matches.
 */
export function resolveIngestCredential(env: Record<string, string | undefined>, benchKey: string | undefined): IngestCredential {
  const secrets = list(env.TAILOR_INGEST_WEBHOOK_SECRET);
  const keyHashes = list(env.TAILOR_INGEST_KEYS).map((h) => h.toLowerCase());
  if (secrets.length > 0) {
    const webhook = new Webhook(secrets[0]);
    return {
      mode: 'webhook-signature',
      headers(body) {
        const id = `msg_bench_${randomBytes(12).toString('hex')}`;
        const at = new Date();
        return { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': webhook.sign(id, at, body) };
      },
    };
  }
  if (keyHashes.length > 0) {
    if (!benchKey) {
      throw new ConfigError([
        'TAILOR_INGEST_KEYS is set, so behavior takes POST /ingest/events batches only with an ingest key: set TAILOR_BENCH_INGEST_KEY to one of those keys (the ingest scenario sends it as Authorization: Bearer <key>), or run another scenario with --only',
      ]);
    }
    const hash = createHash('sha256').update(benchKey, 'utf8').digest('hex');
    if (!keyHashes.includes(hash)) throw new ConfigError(['TAILOR_BENCH_INGEST_KEY: its sha256 is not one of TAILOR_INGEST_KEYS, so behavior would refuse every batch']);
    return { mode: 'ingest-key', headers: () => ({ authorization: `Bearer ${benchKey}` }) };
  }
  return { mode: 'none', headers: () => ({}) };
}

/** One `BrowsingEventInput`. */
export interface BenchEvent {
  eventId: string;
  userId: string;
  sku: string;
  type: 'VIEW';
  occurredAt: string;
}

/** The newest event of a run's last batch, for one consenting user: the next query must show it. */
interface Probe {
  userId: string;
  sku: string;
  occurredAt: string;
}

/**
 * Makes the events of the scenario: `VIEW`s by random demo users of random demo products, each with an
 * `eventId` never used before (a tag of this run and a counter), `occurredAt` at least a minute and at
 * most an hour before the moment the batch is made. `probe` ends a batch with a view by the given
 * user at that moment (less 1 ms), newer than any other event of that user sent so far.
 */
export function createEventMaker(users: string[], skus: string[], seed: number, windowMs: number) {
  const random = createRandom(seed);
  const tag = randomBytes(4).toString('hex');
  let sequence = 0;
  const pick = <T>(items: T[]) => items[Math.floor(random() * items.length)];
  return {
    batch(size: number, way: IngestWay, probeUser?: string): { events: BenchEvent[]; probe?: Probe } {
      const now = Date.now();
      const events: BenchEvent[] = [];
      const plain = probeUser === undefined ? size : size - 1;
      for (let i = 0; i < plain; i++) {
        const occurredAt = now - 60_000 - Math.floor(random() * (windowMs - 60_000));
        events.push({ eventId: `bench-${tag}-${way === 'http' ? 'h' : 'm'}-${++sequence}`, userId: pick(users), sku: pick(skus), type: 'VIEW', occurredAt: new Date(occurredAt).toISOString() });
      }
      if (probeUser === undefined) return { events };
      const probe: Probe = { userId: probeUser, sku: pick(skus), occurredAt: new Date(now - 1).toISOString() };
      events.push({ eventId: `bench-${tag}-${way === 'http' ? 'h' : 'm'}-${++sequence}`, userId: probe.userId, sku: probe.sku, type: 'VIEW', occurredAt: probe.occurredAt });
      return { events, probe };
    },
  };
}

type EventMaker = ReturnType<typeof createEventMaker>;

interface IngestAnswer {
  accepted: number;
  duplicates: number;
  stale: number;
}

const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0;
const isAnswer = (a: unknown): a is IngestAnswer => {
  const o = a as Partial<IngestAnswer> | null | undefined;
  return !!o && isCount(o.accepted) && isCount(o.duplicates) && isCount(o.stale);
};

/** Where and how one way sends a batch; resolves to its `IngestResult`, or throws with what was wrong. */
type Sender = (events: BenchEvent[], signal: AbortSignal) => Promise<IngestAnswer>;

function httpSender(behaviorOrigin: string, credential: IngestCredential): Sender {
  const url = `${behaviorOrigin}/ingest/events`;
  return async (events, signal) => {
    const body = JSON.stringify(events);
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...credential.headers(body) }, body, signal });
    const text = await response.text();
    if (response.status !== 200) throw new Error(`HTTP ${response.status}: ${text.slice(0, 200)}`);
    const answer = JSON.parse(text) as unknown;
    if (!isAnswer(answer)) throw new Error(`HTTP 200 without accepted/duplicates/stale: ${text.slice(0, 200)}`);
    return answer;
  };
}

function mutationSender(graphqlUrl: string, devKey: string, deadlineMs: number): Sender {
  // A batch sender may ask for a longer deadline than an ESP's 2 s (up to TAILOR_MAX_REQUEST_DEADLINE_MS).
  const headers = requestHeaders(devKey, deadlineMs);
  return async (events, signal) => {
    const response = await fetch(graphqlUrl, { method: 'POST', headers, body: JSON.stringify({ query: TRACK_EVENTS, variables: { events } }), signal });
    const text = await response.text();
    let parsed: { data?: { trackEvents?: unknown } | null; errors?: { message?: string }[] };
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new Error(`HTTP ${response.status}, not JSON: ${text.slice(0, 200)}`);
    }
    if (response.status !== 200 || parsed.errors?.length) throw new Error(`HTTP ${response.status}: ${parsed.errors?.[0]?.message ?? text.slice(0, 200)}`);
    const answer = parsed.data?.trackEvents;
    if (!isAnswer(answer)) throw new Error(`no data.trackEvents with accepted/duplicates/stale: ${text.slice(0, 200)}`);
    return answer;
  };
}

/** Options of one run of one way. */
interface RunOptions {
  way: IngestWay;
  send: Sender;
  maker: EventMaker;
  events: number;
  batchSize: number;
  concurrency: number;
  requestTimeoutMs: number;
  signal: AbortSignal;
  /** The consenting user whose view ends the last batch (measured runs only). */
  probeUser?: string;
}

/**
 * Sends `events` events in batches of `batchSize`, `concurrency` batches in flight, each batch made
 * when a sender takes it (so its times are fresh); counts what the answers accepted.
 */
async function runIngest(options: RunOptions): Promise<IngestRun & { probe?: Probe }> {
  const batchCount = Math.ceil(options.events / options.batchSize);
  const run: IngestRun & { probe?: Probe } = {
    way: options.way,
    batchSize: options.batchSize,
    concurrency: options.concurrency,
    events: options.events,
    accepted: 0,
    duplicates: 0,
    stale: 0,
    refusedEvents: 0,
    requests: 0,
    failedRequests: 0,
    elapsedSeconds: 0,
    eventsPerSecond: 0,
    problems: [],
  };
  const note = (problem: string) => {
    if (run.problems.length < 5) run.problems.push(problem);
  };
  let next = 0;
  const worker = async () => {
    while (next < batchCount && !options.signal.aborted) {
      const b = next++;
      const size = Math.min(options.batchSize, options.events - b * options.batchSize);
      const last = b === batchCount - 1;
      const { events, probe } = options.maker.batch(size, options.way, last ? options.probeUser : undefined);
      if (probe) run.probe = probe;
      run.requests++;
      try {
        const answer = await options.send(events, AbortSignal.any([options.signal, AbortSignal.timeout(options.requestTimeoutMs)]));
        run.accepted += answer.accepted;
        run.duplicates += answer.duplicates;
        run.stale += answer.stale;
        const counted = answer.accepted + answer.duplicates + answer.stale;
        if (answer.duplicates > 0 || answer.stale > 0 || counted !== size) {
          run.failedRequests++;
          run.refusedEvents += Math.max(0, size - counted);
          note(`batch of ${size}: accepted ${answer.accepted}, duplicates ${answer.duplicates}, stale ${answer.stale}`);
        }
      } catch (error) {
        run.failedRequests++;
        run.refusedEvents += size;
        note(`batch of ${size} refused or failed: ${(error as Error).message}`);
      }
    }
  };
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: Math.min(options.concurrency, batchCount) }, worker));
  run.elapsedSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  run.eventsPerSecond = run.elapsedSeconds > 0 ? run.accepted / run.elapsedSeconds : 0;
  return run;
}

/** Behavior's `tailor_db_statement_seconds_total` so far, by statement. */
async function readSqlSeconds(behaviorOrigin: string): Promise<Record<string, number>> {
  const response = await fetch(`${behaviorOrigin}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`GET ${behaviorOrigin}/metrics answered ${response.status}: ${text.slice(0, 200)}`);
  return counterByLabel(text, 'tailor_db_statement_seconds_total', 'statement');
}

/** The statements of `perThousand` with the most seconds (at most 4), as `name 0.123`. */
function topSql(perThousand: Record<string, number>): string {
  const top = Object.entries(perThousand).sort((a, b) => b[1] - a[1]).slice(0, 4);
  return top.length === 0 ? 'none' : top.map(([name, s]) => `${name} ${fmt(s, 3)}`).join(', ');
}

/** The CPU seconds each service has used so far (with its live descendants). */
function readCpu(stack: BenchStack, ticksPerSecond: number): Record<ServiceName, number> {
  return Object.fromEntries(
    SERVICES.map((name) => {
      const { child } = stack.services[name];
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) throw new Error(`The ${name} process stopped during the benchmark`);
      return [name, readTreeCpuSeconds(child.pid, ticksPerSecond)];
    }),
  ) as Record<ServiceName, number>;
}

/**
 * The visible-to-the-next-query rule: right after a run, the gateway's answer to the user's
 * `recentlyViewed(limit: 1)` must be the product of the probe (that user's newest view, in the run's
 * last batch).
 */
async function checkVisible(graphqlUrl: string, devKey: string, probe: Probe | undefined, signal: AbortSignal): Promise<VisibilityCheck> {
  if (!probe) return { status: 'failed', userId: '', expectedSku: '', occurredAt: '', seenSku: null, latencyMs: 0, detail: 'the run sent no last batch' };
  const query = `{ user(id: ${JSON.stringify(probe.userId)}) { recentlyViewed(limit: 1) { product { sku } } } }`;
  const started = performance.now();
  const base = { userId: probe.userId, expectedSku: probe.sku, occurredAt: probe.occurredAt };
  try {
    const response = await fetch(graphqlUrl, { method: 'POST', headers: requestHeaders(devKey), body: JSON.stringify({ query }), signal: AbortSignal.any([signal, AbortSignal.timeout(30_000)]) });
    const text = await response.text();
    const latencyMs = performance.now() - started;
    const body = JSON.parse(text) as { data?: { user?: { recentlyViewed?: { product?: { sku?: string } | null }[] } | null } | null; errors?: { message?: string }[] };
    const seenSku = body.data?.user?.recentlyViewed?.[0]?.product?.sku ?? null;
    if (response.status !== 200 || body.errors?.length) return { status: 'failed', ...base, seenSku, latencyMs, detail: `HTTP ${response.status}: ${body.errors?.[0]?.message ?? text.slice(0, 200)}` };
    if (seenSku !== probe.sku) return { status: 'failed', ...base, seenSku, latencyMs, detail: `recentlyViewed(limit: 1) gave ${seenSku ?? 'nothing'}, not ${probe.sku}` };
    return { status: 'checked', ...base, seenSku, latencyMs };
  } catch (error) {
    return { status: 'failed', ...base, seenSku: null, latencyMs: performance.now() - started, detail: `the query failed: ${(error as Error).message}` };
  }
}

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a');

const describe = (run: IngestRun) =>
  `${run.batchSize} × ${run.concurrency}: ${fmt(run.eventsPerSecond)} events/s (${fmt(run.accepted)}/${fmt(run.events)} accepted in ${fmt(run.elapsedSeconds, 2)} s)` +
  (run.problems.length > 0 ? `; problems: ${run.problems.join(' | ')}` : '');

/** Per concurrency of grid trials, in order of first trial: the mean of its trials' accepted events per second. */
export function gridMeans(trials: IngestRun[]): { concurrency: number; eventsPerSecond: number }[] {
  const by = new Map<number, number[]>();
  for (const t of trials) by.set(t.concurrency, [...(by.get(t.concurrency) ?? []), t.eventsPerSecond]);
  return [...by].map(([concurrency, rates]) => ({ concurrency, eventsPerSecond: rates.reduce((a, b) => a + b, 0) / rates.length }));
}

/** Runs the ingest scenario on `stack` (Tailor's). */
export async function runIngestScenario(stack: BenchStack, context: IngestContext): Promise<IngestScenarioResult> {
  const { plan, signal, log, ticksPerSecond, credential } = context;
  const settings = plan.ingest;
  const behaviorOrigin = new URL(stack.services.behavior.url).origin;
  assertLoopback(behaviorOrigin);
  assertLoopback(stack.graphqlUrl);
  const scale = DEMO_SCALES[plan.demoScale];
  const allUsers = demoUsers(scale).slice(0, plan.userCount);
  const users = allUsers.map((u) => u.id);
  // recentlyViewed is [] without personalization consent: the probes are consenting users only.
  const consenting = allUsers.filter((u) => u.consentPersonalization).map((u) => u.id);
  const skus = demoCatalog(scale).map((p) => p.sku);
  const maker = createEventMaker(users, skus, 4, settings.occurredWithinSeconds * 1000);
  const senders: Record<IngestWay, Sender> = {
    http: httpSender(behaviorOrigin, credential),
    mutation: mutationSender(stack.graphqlUrl, stack.devKey, settings.mutationDeadlineMs),
  };
  const common = { maker, batchSize: settings.batchSize, requestTimeoutMs: settings.requestTimeoutMs, signal };
  const label: Record<IngestWay, string> = { http: 'POST /ingest/events', mutation: 'trackEvents through /graphql' };

  log(
    `\n== ingest: VIEW events of ${fmt(users.length)} demo users on ${fmt(skus.length)} products, batches of ${settings.batchSize}; ` +
      `POST ${behaviorOrigin}/ingest/events (${credential.mode === 'none' ? 'no credential: behavior accepts every batch' : credential.mode}) and trackEvents through ${stack.graphqlUrl}`,
  );
  const warmups = {} as Record<IngestWay, IngestRun>;
  const grids = {} as Record<IngestWay, IngestRun[]>;
  const chosen = {} as Record<IngestWay, number>;
  const means = {} as Record<IngestWay, { concurrency: number; eventsPerSecond: number }[]>;
  for (const way of ['http', 'mutation'] as const) {
    const w = settings[way];
    if (signal.aborted) break;
    log(`   ${label[way]}: warm-up ${fmt(w.warmupEvents)} events at concurrency 2 …`);
    warmups[way] = await runIngest({ ...common, way, send: senders[way], events: w.warmupEvents, concurrency: 2 });
    log(`     warm-up ${describe(warmups[way])}`);
    log(`   ${label[way]}: concurrency ${w.grid.concurrencies.join('/')} and back, ${fmt(w.grid.trialEvents)} events per trial`);
    grids[way] = [];
    for (const concurrency of [...w.grid.concurrencies, ...[...w.grid.concurrencies].reverse()]) {
      if (signal.aborted) break;
      const trial = await runIngest({ ...common, way, send: senders[way], events: w.grid.trialEvents, concurrency });
      grids[way].push(trial);
      log(`     ${describe(trial)}`);
    }
    means[way] = gridMeans(grids[way]);
    if (means[way].length === 0) break;
    chosen[way] = means[way].reduce((a, b) => (b.eventsPerSecond > a.eventsPerSecond ? b : a)).concurrency;
    log(`   best: concurrency ${chosen[way]} (means ${means[way].map((m) => `${m.concurrency}: ${fmt(m.eventsPerSecond)}`).join(', ')} events/s)`);
  }

  const runs: Record<IngestWay, IngestMeasuredRun[]> = { http: [], mutation: [] };
  let probes = 0;
  for (let rep = 1; rep <= plan.repetitions && !signal.aborted; rep++) {
    // The two ways alternate: the events table grows with every run, and both should see it alike.
    for (const way of ['http', 'mutation'] as const) {
      if (signal.aborted || chosen[way] === undefined) break;
      const probeUser = consenting[(probes++ * 7919) % consenting.length];
      const sqlBefore = await readSqlSeconds(behaviorOrigin);
      const cpuBefore = readCpu(stack, ticksPerSecond);
      const selfBefore = process.cpuUsage();
      const run = await runIngest({ ...common, way, send: senders[way], events: settings[way].events, concurrency: chosen[way], probeUser });
      const self = process.cpuUsage(selfBefore);
      const cpuAfter = readCpu(stack, ticksPerSecond);
      // The very next query through the gateway, before anything else is sent.
      const visibility = await checkVisible(stack.graphqlUrl, stack.devKey, run.probe, signal);
      const thousands = Math.max(run.accepted, 1) / 1000;
      const sql = counterDelta(sqlBefore, await readSqlSeconds(behaviorOrigin));
      const behaviorSqlSecondsPer1000Events = Object.fromEntries(Object.entries(sql).map(([name, seconds]) => [name, seconds / thousands]));
      const cpuSeconds = Object.fromEntries(SERVICES.map((n) => [n, cpuAfter[n] - cpuBefore[n]])) as Record<ServiceName, number>;
      const { probe: _probe, ...measured } = run;
      const selfSeconds = (self.user + self.system) / 1e6;
      runs[way].push({
        ...measured,
        cpuSeconds,
        cpuSecondsPer1000Events: Object.fromEntries(SERVICES.map((n) => [n, cpuSeconds[n] / thousands])) as Record<ServiceName, number>,
        loadGeneratorCpuSecondsPer1000Events: selfSeconds / thousands,
        behaviorSqlSecondsPer1000Events,
        visibility,
      });
      log(
        `   ${label[way]} run ${rep}/${plan.repetitions}: ${describe(run)}; behavior ${fmt(cpuSeconds.behavior / thousands, 3)} CPU s/1k` +
          (way === 'mutation' ? `, gateway ${fmt(cpuSeconds.gateway / thousands, 3)} CPU s/1k` : '') +
          `; behavior's SQL s/1k: ${topSql(behaviorSqlSecondsPer1000Events)}` +
          `; next query ${visibility.status === 'checked' ? `shows ${visibility.userId}'s newest view ${visibility.expectedSku}` : `FAILED: ${visibility.detail}`} (${fmt(visibility.latencyMs, 1)} ms)`,
      );
    }
  }

  const summarize = (way: IngestWay): IngestWayResult => {
    const measured = runs[way];
    const sum = (pick: (r: IngestRun) => number) => measured.reduce((t, r) => t + pick(r), 0);
    return {
      endpoint: way === 'http' ? `POST ${behaviorOrigin}/ingest/events` : `POST ${stack.graphqlUrl} (trackEvents)`,
      batchSize: settings.batchSize,
      concurrency: chosen[way] ?? Number.NaN,
      events: settings[way].events,
      median: {
        eventsPerSecond: median(measured.map((r) => r.eventsPerSecond)),
        elapsedSeconds: median(measured.map((r) => r.elapsedSeconds)),
        cpuSecondsPer1000Events: Object.fromEntries(SERVICES.map((n) => [n, median(measured.map((r) => r.cpuSecondsPer1000Events[n]))])) as Record<ServiceName, number>,
        loadGeneratorCpuSecondsPer1000Events: median(measured.map((r) => r.loadGeneratorCpuSecondsPer1000Events)),
        behaviorSqlSecondsPer1000Events: Object.fromEntries(
          [...new Set(measured.flatMap((r) => Object.keys(r.behaviorSqlSecondsPer1000Events)))].map((name) => [name, median(measured.map((r) => r.behaviorSqlSecondsPer1000Events[name] ?? 0))]),
        ),
      },
      problems: {
        duplicates: sum((r) => r.duplicates),
        stale: sum((r) => r.stale),
        refusedEvents: sum((r) => r.refusedEvents),
        failedRequests: sum((r) => r.failedRequests),
        samples: measured.flatMap((r) => r.problems).slice(0, 5),
      },
      visibility: {
        checked: measured.filter((r) => r.visibility.status === 'checked').length,
        failed: measured.filter((r) => r.visibility.status === 'failed').length,
      },
      warmup: warmups[way],
      grid: grids[way] ?? [],
      gridMeans: means[way] ?? [],
      runs: measured,
    };
  };
  return {
    auth: credential.mode,
    batchSize: settings.batchSize,
    users: users.length,
    consentingUsers: consenting.length,
    skus: skus.length,
    occurredWithinSeconds: settings.occurredWithinSeconds,
    http: summarize('http'),
    mutation: summarize('mutation'),
  };
}
