import { Counter, type Histogram, type Registry } from 'prom-client';
import { createHttpDurationHistogram, createServiceRegistry } from '../../kit/metrics';

/** The Prometheus instruments of one subgraph process. */
export interface SubgraphMetrics {
  registry: Registry;
  /** SQL statements executed, by statement name. */
  dbStatements: Counter<'statement'>;
  /** Seconds spent in those statements, and in commits (`statement="COMMIT"`). */
  dbSeconds: Counter<'statement'>;
  /** Cache look-ups by cache and result (`hit` or `miss`). */
  cacheRequests: Counter<'cache' | 'result'>;
  /** Ingested items by kind and outcome (`accepted`, `duplicate`, `stale`, `refused`). */
  ingestItems: Counter<'kind' | 'result'>;
  /** HTTP request durations by route and status code. */
  httpDuration: Histogram<'route' | 'status'>;
  /** Redis cache tier operations that failed (served whether or not a tier is configured: 0 without one). */
  cacheTierErrors: Counter<'operation'>;
}

/** Creates a registry with Tailor's subgraph metrics and Node's default process metrics. */
export function createSubgraphMetrics(service: string): SubgraphMetrics {
  const registry = createServiceRegistry(service);
  return {
    registry,
    dbStatements: new Counter({
      name: 'tailor_db_statements_total',
      help: 'SQL statements executed against the service database.',
      labelNames: ['statement'],
      registers: [registry],
    }),
    dbSeconds: new Counter({
      name: 'tailor_db_statement_seconds_total',
      help: 'Wall-clock seconds spent in SQL statements against the service database, by statement; COMMIT is the commit of write transactions.',
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
    httpDuration: createHttpDurationHistogram(registry),
    cacheTierErrors: new Counter({
      name: 'tailor_cache_tier_errors_total',
      help: 'Redis cache tier operations that failed and fell back (a read to the store, a write or invalidation skipped), by operation (get, set, invalidate, subscribe, epoch).',
      labelNames: ['operation'],
      registers: [registry],
    }),
  };
}
