import { Counter, Gauge, type Registry } from 'prom-client';
import type { Clock } from '../../../kit/clock';
import type { Logger } from '../../../kit/logger';
import { SIGNATURE_HEADER, type SubgraphKeyring, signRequest } from '../../../kit/subgraphCredential';
import { injectTraceHeaders } from '../../../kit/tracing';
import type { TrendingEntry } from './rankRecommendations';
import type { StockStore, StoredTrendingRanking } from './stockStore';

/** The trending ranking, as computed by the behaviour service. */
export interface TrendingSource {
  /**
   * Products ranked by views over the last 7 days, in or out of stock. Never fails and never waits on
   * behavior once a ranking is known; `[]` while none is.
   */
  ranking(): Promise<TrendingEntry[]>;
  /** Settles once no refresh is in flight (tests wait on it; it never rejects). */
  idle(): Promise<void>;
  /** Stops refreshing and aborts a refresh in flight (the service is closing). */
  close(): void;
}

/** Options of `createTrendingSource`. */
export interface TrendingSourceOptions {
  /** The behaviour subgraph's GraphQL endpoint. */
  behaviorUrl: string;
  /** How many ranked products to keep: enough to fill any list after out-of-stock ones are skipped. */
  depth: number;
  /** Where the last good ranking is kept, so that it outlives an outage of behavior and a restart. */
  store: Pick<StockStore, 'getTrendingRanking' | 'saveTrendingRanking'>;
  /** `tailor_cache_requests_total`: `hit` when the ranking served is fresh, `miss` otherwise. */
  requests: Counter<'cache' | 'result'>;
  /** Where `tailor_trending_refresh_total` and `tailor_trending_ranking_age_seconds` are registered. */
  registry: Registry;
  clock: Clock;
  logger: Logger;
  /** Deadline of one fetch, the whole exchange (`TAILOR_TRENDING_TIMEOUT_MS`). */
  timeoutMs: number;
  /** Longest a query waits when no ranking was ever had (`TAILOR_TRENDING_WAIT_MS`). */
  waitMs: number;
  fetch?: typeof fetch;
  /** `TAILOR_SUBGRAPH_SECRET`: each fetch is signed with it, as the gateway signs its requests; unset: unsigned. */
  subgraphSecret?: SubgraphKeyring;
  /** Resolves after `ms`: the bound on that wait. Default: a timer; tests pass one they control. */
  delay?: (ms: number) => Promise<void>;
}

/** The days of views the trending ranking counts: the last 7 (`trendingProducts`). */
export const TRENDING_DAYS = 7;

/** How many ranked products the trending source keeps: enough to fill any list after out-of-stock ones are skipped. */
export const TRENDING_DEPTH = 500;

/** After a failed refresh, the next one is tried no sooner than this (by the service clock). */
export const TRENDING_RETRY_MS = 5_000;

const QUERY = 'query TrendingRanking($days: Int!, $limit: Int!) { trendingRanking(days: $days, limit: $limit) { sku views } }';

const timer = (ms: number) =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, ms).unref();
  });

/**
 * Serves the trending ranking of the behaviour service from the last one fetched, kept in stock's own
 * database, so that a slow or down behavior never makes stock slow or unavailable. A ranking older
 * than behavior's `Cache-Control: max-age` (the `@cacheControl` declared on `trendingRanking`) is still
 * served at once while one refresh runs in the background (stale-while-revalidate); a failed refresh
 * is retried after `TRENDING_RETRY_MS`. Only while stock has never had a ranking does a query wait for
 * one, at most `waitMs`; then it ranks without trending. The in-stock filter applied to the ranking is
 * always live.
 */
export function createTrendingSource(options: TrendingSourceOptions): TrendingSource {
  const { clock, logger, store } = options;
  const doFetch = options.fetch ?? fetch;
  const delay = options.delay ?? timer;
  const hits = options.requests.labels('stock_trending', 'hit');
  const misses = options.requests.labels('stock_trending', 'miss');
  const refreshes = new Counter({
    name: 'tailor_trending_refresh_total',
    help: 'Fetches of the trending ranking from behavior, by result (ok or error).',
    labelNames: ['result'],
    registers: [options.registry],
  });
  const ok = refreshes.labels('ok');
  const failed = refreshes.labels('error');

  let current: StoredTrendingRanking | undefined;
  // The saved ranking is read once, at start; a query waits for that read, never for behavior.
  const loaded = store.getTrendingRanking().then(
    (saved) => {
      current ??= saved;
    },
    (error: unknown) => logger.warn({ err: error }, 'the saved trending ranking could not be read; starting without one'),
  );
  new Gauge({
    name: 'tailor_trending_ranking_age_seconds',
    help: 'Age of the trending ranking stock serves (+Inf while it has never had one).',
    registers: [options.registry],
    async collect() {
      await loaded;
      this.set(current ? Math.max(clock.now() - current.fetchedAt, 0) / 1000 : Infinity);
    },
  });

  /** The ranking in use, read afresh (a refresh may have replaced it while a query waited). */
  const known = () => current;
  const closing = new AbortController();
  let inFlight: Promise<void> | undefined;
  let retryAt = -Infinity;
  /** Set from the first failure (or a first wait running out) until the next success. */
  let outage: { since: number; failures: number } | undefined;

  /** Logs the start of an outage once; later failures of the same outage are logged at debug level. */
  function noteOutage(error: unknown, message: string): void {
    if (outage) {
      outage.failures++;
      logger.debug({ err: error, failures: outage.failures }, message);
      return;
    }
    outage = { since: clock.now(), failures: 1 };
    const ageSeconds = current ? Math.round((clock.now() - current.fetchedAt) / 1000) : undefined;
    logger.warn(
      { err: error, behaviorUrl: options.behaviorUrl, rankingAgeSeconds: ageSeconds },
      `${message}; serving ${current ? 'the last trending ranking' : 'no trending ranking'} until behavior answers (logged once per outage)`,
    );
  }

  async function fetchRanking(): Promise<StoredTrendingRanking> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    injectTraceHeaders(headers);
    const request = JSON.stringify({ query: QUERY, variables: { days: TRENDING_DAYS, limit: options.depth } });
    if (options.subgraphSecret) headers[SIGNATURE_HEADER] = signRequest(options.subgraphSecret, request);
    // One deadline for the whole exchange, body included; closing the service aborts it too.
    const signal = AbortSignal.any([AbortSignal.timeout(options.timeoutMs), closing.signal]);
    const response = await doFetch(options.behaviorUrl, { method: 'POST', headers, body: request, signal });
    const body = (await response.json()) as { data?: { trendingRanking?: unknown }; errors?: unknown[] };
    const entries = body?.data?.trendingRanking;
    if (!response.ok || !isRanking(entries)) throw new Error(`behavior answered ${response.status}: ${JSON.stringify(body?.errors ?? body).slice(0, 500)}`);
    return { entries, fetchedAt: clock.now(), maxAgeMs: maxAgeMs(response.headers.get('cache-control')) };
  }

  /** Starts a refresh unless one is in flight or a failed one is too recent; the one in flight, if any. */
  function refresh(): Promise<void> | undefined {
    if (inFlight || closing.signal.aborted || clock.now() < retryAt) return inFlight;
    inFlight = (async () => {
      try {
        const fetched = await fetchRanking();
        if (closing.signal.aborted) return;
        current = fetched;
        ok.inc();
        retryAt = -Infinity;
        if (outage) {
          logger.info({ failures: outage.failures, outageSeconds: Math.round((clock.now() - outage.since) / 1000) }, 'trending ranking refreshed from behavior again');
          outage = undefined;
        }
        await store.saveTrendingRanking(fetched).catch((error: unknown) => logger.warn({ err: error }, 'the trending ranking could not be saved; it is served from memory'));
      } catch (error) {
        if (closing.signal.aborted) return;
        failed.inc();
        retryAt = clock.now() + TRENDING_RETRY_MS;
        noteOutage(error, 'the trending ranking could not be refreshed from behavior');
      } finally {
        inFlight = undefined;
      }
    })();
    return inFlight;
  }

  return {
    async ranking() {
      await loaded;
      if (current) {
        const age = clock.now() - current.fetchedAt;
        // A ranking from the future (the clock was wrong when it was saved) is stale, not fresh for ever.
        if (age >= 0 && age < current.maxAgeMs) {
          hits.inc();
        } else {
          misses.inc();
          void refresh(); // served stale at once; the next query sees the new one
        }
        return current.entries;
      }
      misses.inc();
      const pending = refresh();
      // Never had a ranking: wait for the first one, briefly, unless behavior is known to be away.
      if (pending && !outage) {
        const answered = await Promise.race([pending.then(() => true), delay(options.waitMs).then(() => false)]);
        if (!answered && !known()) noteOutage(undefined, `behavior did not answer the trending ranking within ${options.waitMs} ms`);
      }
      return known()?.entries ?? [];
    },
    idle: async () => {
      await inFlight;
    },
    close() {
      closing.abort();
    },
  };
}

function isRanking(value: unknown): value is TrendingEntry[] {
  return Array.isArray(value) && value.every((e) => typeof e?.sku === 'string' && typeof e?.views === 'number');
}

/** The `max-age` of a `Cache-Control` header in milliseconds; 1 ms (effectively none) without one. */
export function maxAgeMs(header: string | null): number {
  const match = header?.match(/max-age=(\d+)/);
  return match ? Math.max(Number(match[1]) * 1000, 1) : 1;
}
