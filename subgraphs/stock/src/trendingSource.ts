import { GraphQLError } from 'graphql';
import { LRUCache } from 'lru-cache';
import type { Counter } from 'prom-client';
import type { Clock } from '../../../kit/clock';
import { ErrorCode } from '../../../kit/errors';
import type { TrendingEntry } from './rankRecommendations';

/** The trending ranking, as computed by the behaviour service. */
export interface TrendingSource {
  /** Products ranked by views over the last 7 days, in or out of stock. */
  ranking(): Promise<TrendingEntry[]>;
}

/** Options of `createTrendingSource`. */
export interface TrendingSourceOptions {
  /** The behaviour subgraph's GraphQL endpoint. */
  behaviorUrl: string;
  /** How many ranked products to keep: enough to fill any list after out-of-stock ones are skipped. */
  depth: number;
  requests: Counter<'cache' | 'result'>;
  clock: Clock;
  fetch?: typeof fetch;
}

const QUERY = 'query TrendingRanking($days: Int!, $limit: Int!) { trendingRanking(days: $days, limit: $limit) { sku views } }';

/**
 * Fetches the trending ranking from the behaviour service and keeps it for as long as that service's
 * `Cache-Control: max-age` allows (the `@cacheControl` declared on `trendingRanking`). Concurrent
 * requests share one fetch; if a refresh fails, the last ranking is served until one succeeds.
 * The ranking is non-critical; the in-stock filter applied to it is always live.
 */
export function createTrendingSource(options: TrendingSourceOptions): TrendingSource {
  const doFetch = options.fetch ?? fetch;
  const hits = options.requests.labels('stock_trending', 'hit');
  const misses = options.requests.labels('stock_trending', 'miss');
  const cache = new LRUCache<'ranking', TrendingEntry[]>({
    max: 1,
    ttl: 60_000,
    perf: options.clock,
    allowStaleOnFetchRejection: true,
    fetchMethod: async (_key, _stale, { options: entry, signal }) => {
      const response = await doFetch(options.behaviorUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: QUERY, variables: { days: 7, limit: options.depth } }),
        signal,
      });
      const body = (await response.json()) as { data?: { trendingRanking: TrendingEntry[] }; errors?: unknown[] };
      if (!response.ok || !body.data) throw new Error(`behavior answered ${response.status}: ${JSON.stringify(body.errors ?? body)}`);
      entry.ttl = maxAgeMs(response.headers.get('cache-control'));
      return body.data.trendingRanking;
    },
  });
  return {
    async ranking() {
      const status: LRUCache.Status<'ranking', TrendingEntry[]> = {};
      try {
        const ranking = await cache.fetch('ranking', { status });
        if (status.fetch === 'hit') hits.inc();
        else misses.inc();
        return ranking ?? [];
      } catch (error) {
        misses.inc();
        throw new GraphQLError('The trending ranking is unavailable: the behavior service could not be reached.', {
          extensions: { code: ErrorCode.SUBGRAPH_UNAVAILABLE, service: 'behavior' },
          originalError: error as Error,
        });
      }
    },
  };
}

/** The `max-age` of a `Cache-Control` header in milliseconds; 1 ms (effectively none) without one. */
export function maxAgeMs(header: string | null): number {
  const match = header?.match(/max-age=(\d+)/);
  return match ? Math.max(Number(match[1]) * 1000, 1) : 1;
}
