/**
 * The links scenario of `npm run bench`: the live links of a campaign, clicked and opened. It fetches the
 * click and image URLs of `recipients` demo recipients through the persisted `CampaignBatch` (with a
 * campaign name), marks every `soldOutEvery`-th distinct product they show sold out, so that clicks take
 * both the in-stock path and the replacement path, then GETs the click URLs, cycling over them, without a
 * client key (a shopper holds none) and without following the redirect (the 302 itself is measured):
 * first from `connections` connections as fast as answers come (throughput), then at a steady
 * `pacedRate` over `pacedConnections` (latency, the target's load). The image URLs follow, after a first pass that fills the render
 * cache. The gateway's `/metrics` tell where the clicks led and how often a card came from the render
 * cache. The single-recipient p99 of the same stack is the yardstick; the stock levels changed are put
 * back at the end, since a later stack may reuse the data folder.
 */
import autocannon from 'autocannon';
import { type BenchPlan, CAMPAIGN_DEADLINE_MS } from './config';
import { type LinkRun, type LinksResult, type SingleBaseline, median, summarizeSingle } from './report';
import { assertLoopback } from './stack';
import { demoIds, persistedBody, persistedHash, requestHeaders, runSingle } from './workloads';

/** What the links scenario needs besides the running stack. */
export interface LinksContext {
  plan: BenchPlan;
  signal: AbortSignal;
  log: (line: string) => void;
  /**
   * The single-recipient medians already measured on this stack (the compare scenario); without them
   * the scenario measures the single-recipient workload itself, before it changes any stock.
   */
  single?: SingleBaseline;
}

/** One recommendation slot of the fetched campaign, with its live links. */
export interface LinkSlot {
  sku: string;
  inStock: boolean;
  clickUrl: string;
  liveImageUrl: string;
}

interface BatchAnswer {
  data?: { users?: ({ id: string; recommendations?: ({ product?: { sku: string; inStock: boolean } | null; clickUrl: string; liveImageUrl: string } | null)[] | null } | null)[] | null } | null;
  errors?: { message?: string; extensions?: { code?: string } }[];
}

/** The distinct SKUs of `skus` in order of first appearance, and every `every`-th of them (the `every`-th, the 2·`every`-th, …). */
export function everyNthDistinct(skus: string[], every: number): { distinct: string[]; picked: string[] } {
  const distinct = [...new Set(skus)];
  return { distinct, picked: distinct.filter((_, i) => i % every === every - 1) };
}

/**
 * The samples of the counter `name` in a Prometheus text exposition, by the value of `label`. Samples
 * without that label are left out; values of one label value are summed.
 */
export function counterByLabel(text: string, name: string, label: string): Record<string, number> {
  const counts: Record<string, number> = {};
  const sample = new RegExp(`^${name}\\{([^}]*)\\}\\s+(\\S+)`);
  const labelValue = new RegExp(`(?:^|,)${label}="((?:[^"\\\\]|\\\\.)*)"`);
  for (const line of text.split('\n')) {
    const match = sample.exec(line);
    const value = match && labelValue.exec(match[1]);
    if (!match || !value) continue;
    counts[value[1]] = (counts[value[1]] ?? 0) + Number(match[2]);
  }
  return counts;
}

/** `after − before` per key (a counter that appeared counts from 0); keys with no change are left out. */
export function counterDelta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const delta: Record<string, number> = {};
  for (const [key, value] of Object.entries(after)) {
    const change = value - (before[key] ?? 0);
    if (change !== 0) delta[key] = change;
  }
  return delta;
}

/** The live link counters of the gateway's `/metrics`. */
interface LinkCounters {
  clicks: Record<string, number>;
  images: Record<string, number>;
  renders: Record<string, number>;
}

async function readCounters(origin: string): Promise<LinkCounters> {
  const response = await fetch(`${origin}/metrics`, { signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`GET /metrics answered ${response.status}: ${text.slice(0, 200)}`);
  return {
    clicks: counterByLabel(text, 'tailor_live_link_clicks_total', 'outcome'),
    images: counterByLabel(text, 'tailor_live_images_total', 'outcome'),
    renders: counterByLabel(text, 'tailor_live_image_renders_total', 'result'),
  };
}

/** Sends one ad hoc operation with the client key; throws on a non-200 answer or GraphQL errors. */
async function ask<T>(url: string, credential: string, query: string, variables: Record<string, unknown>): Promise<T> {
  const response = await fetch(url, { method: 'POST', headers: requestHeaders(credential), body: JSON.stringify({ query, variables }), signal: AbortSignal.timeout(60_000) });
  const text = await response.text();
  const body = JSON.parse(text) as { data?: T; errors?: { message?: string }[] };
  if (response.status !== 200 || body.errors?.length || !body.data) throw new Error(`HTTP ${response.status}: ${text.slice(0, 300)}`);
  return body.data;
}

/** Times a batch answered within its deadline but degraded (a subgraph too slow, fallbacks served) is asked again. */
const DEGRADED_RETRIES = 3;

/**
 * Fetches the recommendation slots of `ids` through the persisted `CampaignBatch` with `campaign`, in
 * batches of `batchSize`, two in flight. The scenario needs every link: a batch answered with fallbacks
 * (`SUBGRAPH_UNAVAILABLE` only, as on a stack whose processes have just started and are not yet warm)
 * is asked again, up to `DEGRADED_RETRIES` times; any other failure throws.
 */
async function fetchSlots(url: string, credential: string, ids: string[], campaign: string, batchSize: number, signal: AbortSignal): Promise<{ users: number; slots: LinkSlot[]; retried: number }> {
  const hash = persistedHash('CampaignBatch');
  const batches = Array.from({ length: Math.ceil(ids.length / batchSize) }, (_, b) => ids.slice(b * batchSize, (b + 1) * batchSize));
  const answers: BatchAnswer[] = new Array(batches.length);
  let next = 0;
  let retried = 0;
  const worker = async () => {
    while (next < batches.length && !signal.aborted) {
      const b = next++;
      for (let attempt = 0; ; attempt++) {
        const response = await fetch(url, {
          method: 'POST',
          headers: requestHeaders(credential, CAMPAIGN_DEADLINE_MS),
          body: persistedBody(hash, { ids: batches[b], campaign }),
          signal: AbortSignal.timeout(60_000),
        });
        const text = await response.text();
        const answer = JSON.parse(text) as BatchAnswer;
        const degraded = response.status === 200 && !!answer.errors?.length && answer.errors.every((e) => e.extensions?.code === 'SUBGRAPH_UNAVAILABLE');
        if (degraded && attempt < DEGRADED_RETRIES) {
          retried++;
          continue;
        }
        if (response.status !== 200 || answer.errors?.length || !Array.isArray(answer.data?.users)) throw new Error(`CampaignBatch for the links answered HTTP ${response.status}: ${text.slice(0, 300)}`);
        answers[b] = answer;
        break;
      }
    }
  };
  await Promise.all([worker(), worker()]);
  let users = 0;
  const slots: LinkSlot[] = [];
  for (const answer of answers) {
    for (const user of answer?.data?.users ?? []) {
      if (!user) continue;
      users++;
      for (const r of user.recommendations ?? []) {
        if (r?.product) slots.push({ sku: r.product.sku, inStock: r.product.inStock, clickUrl: r.clickUrl, liveImageUrl: r.liveImageUrl });
      }
    }
  }
  return { users, slots, retried };
}

const LEVELS_QUERY = 'query BenchStockLevels($skus: [ID!]!) { products(skus: $skus) { sku stock { available } } }';
const RECORD_LEVELS = 'mutation BenchRecordStock($levels: [StockLevelInput!]!) { recordStockLevels(levels: $levels) { accepted duplicates stale } }';

/** The `stock.available` of each of `skus` now. */
async function readLevels(url: string, credential: string, skus: string[]): Promise<Map<string, number>> {
  const levels = new Map<string, number>();
  for (let i = 0; i < skus.length; i += 500) {
    const data = await ask<{ products: ({ sku: string; stock: { available: number } } | null)[] }>(url, credential, LEVELS_QUERY, { skus: skus.slice(i, i + 500) });
    for (const p of data.products) if (p) levels.set(p.sku, p.stock.available);
  }
  return levels;
}

/** Records `levels` observed now through `recordStockLevels`; throws unless every one was applied. */
async function recordLevels(url: string, credential: string, levels: { sku: string; available: number }[]): Promise<void> {
  const observedAt = new Date().toISOString();
  for (let i = 0; i < levels.length; i += 500) {
    const chunk = levels.slice(i, i + 500).map((l) => ({ ...l, observedAt }));
    const data = await ask<{ recordStockLevels: { accepted: number; duplicates: number; stale: number } }>(url, credential, RECORD_LEVELS, { levels: chunk });
    const { accepted, duplicates, stale } = data.recordStockLevels;
    if (accepted + duplicates !== chunk.length) throw new Error(`recordStockLevels applied ${accepted} of ${chunk.length} levels (${duplicates} duplicates, ${stale} stale)`);
  }
}

/** Options of `runGets`. */
interface GetOptions {
  origin: string;
  /** Paths cycled over, one per request. */
  paths: string[];
  connections: number;
  /** Either a duration or a number of requests. */
  durationSeconds?: number;
  amount?: number;
  /** Requests per second over all connections; unset: as fast as the answers come. */
  overallRate?: number;
  timeoutSeconds: number;
  /** What every answer must be. */
  expect: { status: number; header: [string, RegExp] };
  signal: AbortSignal;
}

/**
 * GETs `paths` with autocannon, cycling over them, with no `Authorization` header. Autocannon never
 * follows a redirect: each 302 is one request, timed to its own answer. Every answer is checked against
 * `expect`; any other counts in `unexpected`, and the first few are kept as samples.
 */
function runGets(options: GetOptions): Promise<Omit<LinkRun, 'outcomes' | 'renders'>> {
  let next = 0;
  let unexpected = 0;
  const samples: string[] = [];
  const [headerName, headerValue] = options.expect.header;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.origin,
        connections: options.connections,
        ...(options.amount !== undefined ? { amount: options.amount } : { duration: options.durationSeconds }),
        ...(options.overallRate !== undefined ? { overallRate: options.overallRate } : {}),
        timeout: options.timeoutSeconds,
        method: 'GET',
        requests: [
          {
            setupRequest: (request) => ({ ...request, path: options.paths[next++ % options.paths.length] }),
            onResponse: (status, body, _context, headers) => {
              const value = headers?.[headerName];
              if (status === options.expect.status && typeof value === 'string' && headerValue.test(value)) return;
              unexpected++;
              if (samples.length < 5) samples.push(`HTTP ${status}${typeof value === 'string' ? ` ${headerName}: ${value}` : ''}: ${body.slice(0, 120)}`);
            },
          },
        ],
      },
      (error, result) => {
        options.signal.removeEventListener('abort', stop);
        if (error) return reject(error instanceof Error ? error : new Error(String(error)));
        const durationSeconds = result.duration > 0 ? result.duration : (options.durationSeconds ?? 0);
        const statusCounts = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, stats]) => [code, (stats as { count: number }).count]));
        resolve({
          durationSeconds,
          requests: result.requests.total,
          requestsPerSecond: durationSeconds > 0 ? result.requests.total / durationSeconds : 0,
          p50Ms: result.latency.p50,
          p90Ms: result.latency.p90,
          p99Ms: result.latency.p99,
          maxMs: result.latency.max,
          statusCounts,
          unexpected,
          errors: result.errors,
          timeouts: result.timeouts,
          samples,
        });
      },
    );
    const stop = () => instance.stop();
    if (options.signal.aborted) stop();
    else options.signal.addEventListener('abort', stop, { once: true });
  });
}

/** The path of a live URL, after checking it points at the gateway being measured. */
function pathOn(origin: string, link: string): string {
  const parsed = new URL(link);
  if (parsed.origin !== origin) throw new Error(`A live link points at ${parsed.origin}, not at the gateway measured (${origin}): does TAILOR_LINK_BASE_URL name another address?`);
  return `${parsed.pathname}${parsed.search}`;
}

/**
 * Runs the links scenario against `graphqlUrl`'s gateway (Tailor's stack): fetches the links, measures
 * the single-recipient yardstick if none was given, marks products sold out, measures clicks and
 * images, and always puts the stock levels it changed back.
 */
export async function runLinksScenario(graphqlUrl: string, credential: string, context: LinksContext): Promise<LinksResult> {
  const { plan, signal, log } = context;
  const settings = plan.links;
  assertLoopback(graphqlUrl);
  const origin = new URL(graphqlUrl).origin;
  const ids = demoIds(plan.userCount).slice(0, settings.recipients);

  log(`\n== links: click and image URLs of ${ids.length.toLocaleString('en-US')} recipients through CampaignBatch (campaign ${settings.campaign}) …`);
  const fetchStarted = performance.now();
  const { users, slots, retried } = await fetchSlots(graphqlUrl, credential, ids, settings.campaign, settings.batchSize, signal);
  const fetchSeconds = (performance.now() - fetchStarted) / 1000;
  if (retried > 0) log(`   ${retried} batch answer(s) came with fallbacks (a subgraph past its deadline) and were asked again`);
  if (slots.length === 0) throw new Error('CampaignBatch gave the links scenario no recommendation at all');
  const clickPaths = slots.map((s) => pathOn(origin, s.clickUrl));
  const imagePaths = slots.map((s) => pathOn(origin, s.liveImageUrl));
  if (!clickPaths.every((p) => p.startsWith('/r/')) || !imagePaths.every((p) => /^\/i\/[^/]+\.png$/.test(p))) {
    throw new Error(`The links are not live links (e.g. ${slots[0].clickUrl}, ${slots[0].liveImageUrl}): are TAILOR_LINK_KEYS set on stock and the gateway?`);
  }
  log(`   ${slots.length.toLocaleString('en-US')} slots of ${users} recipients in ${fetchSeconds.toFixed(1)} s`);

  const runs = { connections: settings.connections, timeoutSeconds: settings.timeoutSeconds, signal };
  let single = context.single;
  if (!single) {
    const options = { url: graphqlUrl, credential, ids: demoIds(plan.userCount), connections: plan.single.connections, timeoutSeconds: plan.single.timeoutSeconds, signal };
    log(`   single recipient on the same stack: warm-up ${plan.single.warmupSeconds} s, then ${plan.repetitions} × ${settings.durationSeconds} s …`);
    const warmup = await runSingle({ ...options, durationSeconds: plan.single.warmupSeconds });
    const singleRuns = [];
    for (let rep = 1; rep <= plan.repetitions && !signal.aborted; rep++) {
      const run = await runSingle({ ...options, durationSeconds: settings.durationSeconds });
      singleRuns.push(run);
      log(`   single recipient run ${rep}/${plan.repetitions}: ${Math.round(run.requestsPerSecond)} req/s, p50 ${run.p50Ms.toFixed(1)} ms, p99 ${run.p99Ms.toFixed(1)} ms`);
    }
    single = { source: 'links', connections: plan.single.connections, durationSeconds: settings.durationSeconds, ...summarizeSingle(singleRuns), warmup, runs: singleRuns };
  }

  const { distinct, picked } = everyNthDistinct(slots.map((s) => s.sku), settings.soldOutEvery);
  const original = await readLevels(graphqlUrl, credential, picked);
  let marked = false;
  let restored = false;
  let result: Omit<LinksResult, 'stockRestored'>;
  try {
    await recordLevels(graphqlUrl, credential, picked.map((sku) => ({ sku, available: 0 })));
    marked = true;
    const soldOutSet = new Set(picked);
    const soldOutSlots = slots.filter((s) => soldOutSet.has(s.sku)).length;
    log(`   marked ${picked.length} of ${distinct.length} distinct products sold out (1 in ${settings.soldOutEvery}; ${soldOutSlots} of ${slots.length} slots)`);

    const describe = (run: LinkRun) =>
      `${Math.round(run.requestsPerSecond)} req/s, p50 ${run.p50Ms.toFixed(1)} ms, p99 ${run.p99Ms.toFixed(1)} ms, max ${run.maxMs.toFixed(0)} ms, ` +
      `unexpected ${run.unexpected}, errors ${run.errors}; ${Object.entries(run.outcomes).map(([k, v]) => `${k} ${v}`).join(', ')}` +
      (run.renders ? `; renders ${Object.entries(run.renders).map(([k, v]) => `${k} ${v}`).join(', ')}` : '') +
      (run.samples.length > 0 ? `; e.g. ${run.samples.join(' | ')}` : '');
    /** One autocannon run with the live link counters read before and after it. */
    const measured = async (kind: 'click' | 'image', load: { durationSeconds?: number; amount?: number; overallRate?: number; connections?: number }): Promise<LinkRun> => {
      const before = await readCounters(origin);
      const run = await runGets({
        origin,
        ...runs,
        ...load,
        paths: kind === 'click' ? clickPaths : imagePaths,
        expect: kind === 'click' ? { status: 302, header: ['location', /^https?:\/\//] } : { status: 200, header: ['content-type', /^image\/png$/] },
      });
      const after = await readCounters(origin);
      return kind === 'click'
        ? { ...run, outcomes: counterDelta(before.clicks, after.clicks) }
        : { ...run, outcomes: counterDelta(before.images, after.images), renders: counterDelta(before.renders, after.renders) };
    };

    log(`   clicks: warm-up ${settings.warmupSeconds} s at ${settings.connections} connections …`);
    const clickWarmup = await measured('click', { durationSeconds: settings.warmupSeconds });
    log(`   clicks warm-up: ${describe(clickWarmup)}`);
    const clickRuns: LinkRun[] = [];
    for (let rep = 1; rep <= plan.repetitions && !signal.aborted; rep++) {
      const run = await measured('click', { durationSeconds: settings.durationSeconds });
      clickRuns.push(run);
      log(`   clicks run ${rep}/${plan.repetitions}: ${describe(run)}`);
    }

    const pacedRuns: LinkRun[] = [];
    for (let rep = 1; rep <= plan.repetitions && !signal.aborted; rep++) {
      const run = await measured('click', { durationSeconds: settings.durationSeconds, overallRate: settings.pacedRate, connections: settings.pacedConnections });
      pacedRuns.push(run);
      log(`   clicks at ${settings.pacedRate}/s, run ${rep}/${plan.repetitions}: ${describe(run)}`);
    }

    log(`   images: a first pass over all ${imagePaths.length.toLocaleString('en-US')} (fills the render cache) …`);
    const imageFirstPass = await measured('image', { amount: Math.max(imagePaths.length, settings.connections) });
    log(`   images first pass: ${describe(imageFirstPass)}`);
    const imageRuns: LinkRun[] = [];
    for (let rep = 1; rep <= plan.repetitions && !signal.aborted; rep++) {
      const run = await measured('image', { durationSeconds: settings.durationSeconds });
      imageRuns.push(run);
      log(`   images run ${rep}/${plan.repetitions}: ${describe(run)}`);
    }

    const medians = (list: LinkRun[]) => ({
      requestsPerSecond: median(list.map((r) => r.requestsPerSecond)),
      p50Ms: median(list.map((r) => r.p50Ms)),
      p99Ms: median(list.map((r) => r.p99Ms)),
    });
    const sum = (list: LinkRun[], pick: (r: LinkRun) => number) => list.reduce((t, r) => t + pick(r), 0);
    const sumCounts = (list: (Record<string, number> | undefined)[]) => {
      const total: Record<string, number> = {};
      for (const counts of list) for (const [k, v] of Object.entries(counts ?? {})) total[k] = (total[k] ?? 0) + v;
      return total;
    };
    const click = medians(clickRuns);
    const image = medians(imageRuns);
    const renders = sumCounts(imageRuns.map((r) => r.renders));
    const lookups = (renders.hit ?? 0) + (renders.miss ?? 0);
    result = {
      connections: settings.connections,
      durationSeconds: settings.durationSeconds,
      campaign: settings.campaign,
      recipients: ids.length,
      recipientsAnswered: users,
      slots: slots.length,
      fetchSeconds,
      distinctProducts: distinct.length,
      soldOutEvery: settings.soldOutEvery,
      soldOutProducts: picked.length,
      soldOutSlots,
      click: {
        median: click,
        unexpected: sum(clickRuns, (r) => r.unexpected),
        errors: sum(clickRuns, (r) => r.errors),
        requests: sum(clickRuns, (r) => r.requests),
        outcomes: sumCounts(clickRuns.map((r) => r.outcomes)),
        warmup: clickWarmup,
        runs: clickRuns,
      },
      pacedClick: {
        rate: settings.pacedRate,
        connections: settings.pacedConnections,
        median: medians(pacedRuns),
        unexpected: sum(pacedRuns, (r) => r.unexpected),
        errors: sum(pacedRuns, (r) => r.errors),
        requests: sum(pacedRuns, (r) => r.requests),
        outcomes: sumCounts(pacedRuns.map((r) => r.outcomes)),
        runs: pacedRuns,
      },
      image: {
        median: image,
        unexpected: sum(imageRuns, (r) => r.unexpected),
        errors: sum(imageRuns, (r) => r.errors),
        requests: sum(imageRuns, (r) => r.requests),
        outcomes: sumCounts(imageRuns.map((r) => r.outcomes)),
        renders,
        renderHitShare: lookups > 0 ? (renders.hit ?? 0) / lookups : Number.NaN,
        firstPass: imageFirstPass,
        runs: imageRuns,
      },
      single,
      ratios: { clickP99VsSingleP99: single.median.p99Ms > 0 ? click.p99Ms / single.median.p99Ms : Number.NaN },
    };
  } finally {
    if (marked) {
      try {
        await recordLevels(graphqlUrl, credential, picked.map((sku) => ({ sku, available: original.get(sku) ?? 0 })));
        restored = true;
      } catch (error) {
        log(`   could not put the stock levels back: ${(error as Error).message}`);
      }
      if (restored) log(`   stock levels of the ${picked.length} products put back`);
    }
  }
  return { ...result, stockRestored: restored };
}
