import autocannon from 'autocannon';
import { readManifest } from '../kit/operationManifest';

/** The demo user ids `u-00001…u-<count>` (the seeded demo users). */
export function demoIds(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `u-${String(i + 1).padStart(5, '0')}`);
}

/** The sha256 of a persisted operation of the shipped manifest, by operation name. */
export function persistedHash(name: string): string {
  const op = readManifest().operations.find((o) => o.name === name);
  if (!op) throw new Error(`No persisted operation named ${name} in schema/operations/manifest.json (run npm run operations)`);
  return op.id;
}

/** The JSON body of a request that sends a persisted operation by hash only (no query text). */
export function persistedBody(hash: string, variables: Record<string, unknown>): string {
  return JSON.stringify({ variables, extensions: { persistedQuery: { version: 1, sha256Hash: hash } } });
}

/** The headers of every benchmark request: JSON, with the client key, and `Tailor-Deadline-Ms` when `deadlineMs` is given. */
export function requestHeaders(credential: string, deadlineMs?: number): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': 'application/json', authorization: `Bearer ${credential}` };
  if (deadlineMs !== undefined) headers['tailor-deadline-ms'] = String(deadlineMs);
  return headers;
}

/** Options of `runSingle`. */
export interface SingleOptions {
  url: string;
  /** The client key sent as `Authorization: Bearer …` (the gateway's development key). */
  credential: string;
  /** Recipients cycled over, one per request. */
  ids: string[];
  connections: number;
  durationSeconds: number;
  timeoutSeconds: number;
  /** Aborting stops the run early (its partial result is still returned). */
  signal?: AbortSignal;
  /** Told the status and body of every answer (any status), e.g. to judge whether it is usable. */
  inspect?: (status: number, body: string) => void;
}

/** One single-recipient run, as measured by autocannon plus a check of every response body. */
export interface SingleRun {
  durationSeconds: number;
  /** Completed requests (any status). */
  requests: number;
  /** Completed requests per second over the run. */
  requestsPerSecond: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Responses whose status was not 2xx. */
  non2xx: number;
  /** Connection errors and time-outs (autocannon's `errors`, which include `timeouts`). */
  errors: number;
  timeouts: number;
  /** 2xx responses whose body held GraphQL `errors`, was not JSON, or had no `data.user`. */
  badBodies: number;
}

/**
 * Sends the persisted `PersonalizeRecipient` operation by hash, `{ id }` cycling over `ids`, from
 * `connections` keep-alive connections for `durationSeconds` (autocannon), and checks every body.
 */
export function runSingle(options: SingleOptions): Promise<SingleRun> {
  const hash = persistedHash('PersonalizeRecipient');
  const bodies = options.ids.map((id) => persistedBody(hash, { id }));
  let next = 0;
  let badBodies = 0;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.url,
        connections: options.connections,
        duration: options.durationSeconds,
        timeout: options.timeoutSeconds,
        method: 'POST',
        headers: requestHeaders(options.credential),
        requests: [
          {
            setupRequest: (request) => ({ ...request, body: bodies[next++ % bodies.length] }),
            onResponse: (status, body) => {
              options.inspect?.(status, body);
              if (status < 200 || status >= 300) return; // counted in non2xx
              try {
                const parsed = JSON.parse(body) as { data?: { user?: unknown } | null; errors?: unknown[] };
                if (parsed.errors?.length || !parsed.data?.user) badBodies++;
              } catch {
                badBodies++;
              }
            },
          },
        ],
      },
      (error, result) => {
        options.signal?.removeEventListener('abort', stop);
        if (error) return reject(error instanceof Error ? error : new Error(String(error)));
        const durationSeconds = result.duration > 0 ? result.duration : options.durationSeconds;
        resolve({
          durationSeconds,
          requests: result.requests.total,
          requestsPerSecond: result.requests.total / durationSeconds,
          p50Ms: result.latency.p50,
          p90Ms: result.latency.p90,
          p99Ms: result.latency.p99,
          maxMs: result.latency.max,
          non2xx: result.non2xx,
          errors: result.errors,
          timeouts: result.timeouts,
          badBodies,
        });
      },
    );
    const stop = () => instance.stop();
    if (options.signal?.aborted) stop();
    else options.signal?.addEventListener('abort', stop, { once: true });
  });
}

/** Options of `runCampaign`. */
export interface CampaignOptions {
  url: string;
  /** The client key sent as `Authorization: Bearer …` (the gateway's development key). */
  credential: string;
  /** Recipients, cycled over from `offset`. */
  ids: string[];
  recipients: number;
  /** Index in `ids` of the first recipient. */
  offset?: number;
  batchSize: number;
  /** Batches in flight at once. */
  concurrency: number;
  /** Time-out of one batch request, in ms. */
  requestTimeoutMs: number;
  /** Sent as `Tailor-Deadline-Ms` with each batch when given (the floor ignores it). */
  deadlineMs?: number;
  signal?: AbortSignal;
}

/** One campaign run: every recipient sent once through `CampaignBatch`. */
export interface CampaignRun {
  batchSize: number;
  concurrency: number;
  recipients: number;
  /** Recipients answered with a non-null user of the requested id and no error on it. */
  personalized: number;
  failedRecipients: number;
  requests: number;
  failedRequests: number;
  elapsedSeconds: number;
  /** `personalized / elapsedSeconds`. */
  recipientsPerSecond: number;
  /** The first few problems, for the report. */
  problems: string[];
}

interface BatchAnswer {
  data?: { users?: ({ id?: string } | null)[] | null } | null;
  errors?: { message?: string; path?: (string | number)[] }[];
}

/** How many users of one batch answer are personalized; every other recipient of the batch failed. */
export function countPersonalized(ids: string[], answer: BatchAnswer): { personalized: number; problem?: string } {
  const users = answer.data?.users;
  const errored = new Set<number>();
  for (const error of answer.errors ?? []) {
    const [field, index] = error.path ?? [];
    if (field === 'users' && typeof index === 'number') errored.add(index);
    else return { personalized: 0, problem: `error on the whole batch: ${error.message ?? 'no message'}` };
  }
  if (!Array.isArray(users) || users.length !== ids.length) return { personalized: 0, problem: 'no data.users of the batch length' };
  let personalized = 0;
  users.forEach((user, i) => {
    if (user && user.id === ids[i] && !errored.has(i)) personalized++;
  });
  const problem = errored.size > 0 ? `errors on ${errored.size} users, e.g. ${answer.errors![0].message}` : undefined;
  return { personalized, problem: problem ?? (personalized < ids.length ? `${ids.length - personalized} null or mismatched users` : undefined) };
}

/**
 * Sends `recipients` recipients through the persisted `CampaignBatch` operation (`users(ids:)`), in
 * batches of `batchSize`, `concurrency` batches in flight, and counts the recipients personalized.
 */
export async function runCampaign(options: CampaignOptions): Promise<CampaignRun> {
  const hash = persistedHash('CampaignBatch');
  const offset = options.offset ?? 0;
  const batchCount = Math.ceil(options.recipients / options.batchSize);
  const batchIds = (b: number) => {
    const size = Math.min(options.batchSize, options.recipients - b * options.batchSize);
    return Array.from({ length: size }, (_, k) => options.ids[(offset + b * options.batchSize + k) % options.ids.length]);
  };
  const run: CampaignRun = {
    batchSize: options.batchSize,
    concurrency: options.concurrency,
    recipients: options.recipients,
    personalized: 0,
    failedRecipients: 0,
    requests: 0,
    failedRequests: 0,
    elapsedSeconds: 0,
    recipientsPerSecond: 0,
    problems: [],
  };
  const note = (problem: string) => {
    if (run.problems.length < 5) run.problems.push(problem);
  };
  let nextBatch = 0;
  const worker = async () => {
    while (nextBatch < batchCount && !options.signal?.aborted) {
      const ids = batchIds(nextBatch++);
      run.requests++;
      let personalized = 0;
      try {
        const response = await fetch(options.url, {
          method: 'POST',
          headers: requestHeaders(options.credential, options.deadlineMs),
          body: persistedBody(hash, { ids }),
          signal: AbortSignal.timeout(options.requestTimeoutMs),
        });
        const text = await response.text();
        if (response.status !== 200) {
          note(`HTTP ${response.status}: ${text.slice(0, 200)}`);
        } else {
          const counted = countPersonalized(ids, JSON.parse(text) as BatchAnswer);
          personalized = counted.personalized;
          if (counted.problem) note(counted.problem);
        }
      } catch (error) {
        note(`request failed: ${(error as Error).message}`);
      }
      run.personalized += personalized;
      run.failedRecipients += ids.length - personalized;
      if (personalized < ids.length) run.failedRequests++;
    }
  };
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: Math.min(options.concurrency, batchCount) }, worker));
  run.elapsedSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  // An aborted run leaves recipients unsent: they count as failed.
  run.failedRecipients = options.recipients - run.personalized;
  run.recipientsPerSecond = run.elapsedSeconds > 0 ? run.personalized / run.elapsedSeconds : 0;
  return run;
}

/** Options of `gridSearch`. */
export interface GridOptions extends Omit<CampaignOptions, 'batchSize' | 'concurrency' | 'recipients' | 'offset'> {
  batchSizes: number[];
  concurrencies: number[];
  trialRecipients: number;
  /** Called after each trial (progress output). */
  onTrial?: (trial: CampaignRun) => void;
}

/** The trials of a grid search and the best of them. */
export interface GridResult {
  trials: CampaignRun[];
  best: CampaignRun;
}

/** Rounds of `concurrency` batches that each grid trial holds at least. */
export const GRID_TRIAL_ROUNDS = 4;

/**
 * Recipients of one grid trial: `trialRecipients`, or `GRID_TRIAL_ROUNDS` rounds of `concurrency`
 * batches if that is more. A trial of a single round (2,000 recipients as four batches of 500) times
 * one burst, not a steady state, and lets the noise of one batch pick the grid's winner.
 */
export function gridTrialRecipients(trialRecipients: number, batchSize: number, concurrency: number): number {
  return Math.max(trialRecipients, GRID_TRIAL_ROUNDS * batchSize * concurrency);
}

/**
 * Runs one bounded campaign trial per (batch size, concurrency) pair, each on the next slice of `ids`,
 * and picks the pair with the most recipients personalized per second.
 */
export async function gridSearch(options: GridOptions): Promise<GridResult> {
  const trials: CampaignRun[] = [];
  let offset = 0;
  for (const batchSize of options.batchSizes) {
    for (const concurrency of options.concurrencies) {
      if (options.signal?.aborted) throw new Error('Benchmark interrupted');
      const recipients = gridTrialRecipients(options.trialRecipients, batchSize, concurrency);
      const trial = await runCampaign({ ...options, batchSize, concurrency, recipients, offset });
      offset += recipients;
      trials.push(trial);
      options.onTrial?.(trial);
    }
  }
  if (trials.length === 0) throw new Error('The campaign grid is empty');
  const best = trials.reduce((a, b) => (b.recipientsPerSecond > a.recipientsPerSecond ? b : a));
  return { trials, best };
}
