import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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
}

/** Creates the gateway's registry with its metrics and Node's default process metrics. */
export function createGatewayMetrics(): GatewayMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service: 'gateway' });
  collectDefaultMetrics({ register: registry });
  const buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
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
      buckets,
      registers: [registry],
    }),
    operations: new Counter({
      name: 'tailor_graphql_operations_total',
      help: 'GraphQL operations answered, by outcome (ok, partial, error).',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'tailor_http_request_duration_seconds',
      help: 'HTTP request duration, by route and status code.',
      labelNames: ['route', 'status'],
      buckets,
      registers: [registry],
    }),
  };
}
