import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The Prometheus instruments of one subgraph process. */
export interface SubgraphMetrics {
  registry: Registry;
  /** SQL statements executed, by statement name. */
  dbStatements: Counter<'statement'>;
  /** Cache look-ups by cache and result (`hit` or `miss`). */
  cacheRequests: Counter<'cache' | 'result'>;
  /** Ingested items by kind and outcome (`accepted`, `duplicate`, `stale`, `refused`). */
  ingestItems: Counter<'kind' | 'result'>;
  /** HTTP request durations by route and status code. */
  httpDuration: Histogram<'route' | 'status'>;
}

/** Creates a registry with Tailor's subgraph metrics and Node's default process metrics. */
export function createSubgraphMetrics(service: string): SubgraphMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    dbStatements: new Counter({
      name: 'tailor_db_statements_total',
      help: 'SQL statements executed against the service database.',
      labelNames: ['statement'],
      registers: [registry],
    }),
    cacheRequests: new Counter({
      name: 'tailor_cache_requests_total',
      help: 'Cache look-ups, by cache and result (hit or miss).',
      labelNames: ['cache', 'result'],
      registers: [registry],
    }),
    ingestItems: new Counter({
      name: 'tailor_ingest_items_total',
      help: 'Ingested items, by kind and result (accepted, duplicate, stale, refused).',
      labelNames: ['kind', 'result'],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'tailor_http_request_duration_seconds',
      help: 'HTTP request duration, by route and status code.',
      labelNames: ['route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
  };
}

/** Sums a counter over all its label sets, or over those matching `labels`. */
export async function counterTotal(counter: Counter<string>, labels: Record<string, string> = {}): Promise<number> {
  const { values } = await counter.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))
    .reduce((sum, v) => sum + v.value, 0);
}
