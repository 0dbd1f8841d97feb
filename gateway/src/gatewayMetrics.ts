import { Counter, Histogram, type Registry } from 'prom-client';
import { LATENCY_BUCKETS, createHttpDurationHistogram, createServiceRegistry } from '../../kit/metrics';

/** The gateway's Prometheus instruments. */
export interface GatewayMetrics {
  registry: Registry;
  /** Every HTTP request the gateway sends to a subgraph. */
  subgraphFetches: Counter<'subgraph'>;
  /** Subgraph fetch durations, by subgraph and outcome (`ok` or `error`). */
  subgraphFetchDuration: Histogram<'subgraph' | 'outcome'>;
  /** GraphQL operations answered, by outcome (`ok`, `partial`, `error`). */
  operations: Counter<'outcome'>;
  /** HTTP request durations by route and status. */
  httpDuration: Histogram<'route' | 'status'>;
  /** Requests shed under overload, by reason (`queue_full`, `queue_timeout`). */
  requestsShed: Counter<'reason'>;
}

/** Creates the gateway's registry with its metrics and Node's default process metrics. */
export function createGatewayMetrics(): GatewayMetrics {
  const registry = createServiceRegistry('gateway');
  return {
    registry,
    subgraphFetches: new Counter({
      name: 'tailor_subgraph_fetches_total',
      help: 'HTTP requests sent by the gateway to each subgraph.',
      labelNames: ['subgraph'],
      registers: [registry],
    }),
    subgraphFetchDuration: new Histogram({
      name: 'tailor_subgraph_fetch_duration_seconds',
      help: 'Duration of gateway-to-subgraph fetches.',
      labelNames: ['subgraph', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    operations: new Counter({
      name: 'tailor_graphql_operations_total',
      help: 'GraphQL operations answered, by outcome (ok, partial, error).',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    httpDuration: createHttpDurationHistogram(registry),
    requestsShed: new Counter({
      name: 'tailor_requests_shed_total',
      help: 'Requests answered 503 without running because the gateway was at its in-flight limit, by reason.',
      labelNames: ['reason'],
      registers: [registry],
    }),
  };
}
