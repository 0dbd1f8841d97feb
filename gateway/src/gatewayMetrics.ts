import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
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
  /** Failed subgraph fetch attempts, by subgraph and reason (`timeout`, `connection`, `status`, `garbage`, `circuit_open`, `deadline`). */
  subgraphFailures: Counter<'subgraph' | 'reason'>;
  /** Query fetch attempts repeated after a failure, by subgraph. */
  subgraphRetries: Counter<'subgraph'>;
  /** Each subgraph's circuit: 0 closed, 1 half-open (probing), 2 open (failing fast). */
  circuitState: Gauge<'subgraph'>;
  replicaUp: Gauge<'subgraph' | 'url'>;
  /** Operations answered with a declared fallback in place of a subgraph's fields, by subgraph. */
  degradedResponses: Counter<'subgraph'>;
  /** Operations answered 503 because, without a subgraph, nothing usable was left, by subgraph. */
  unusableResponses: Counter<'subgraph'>;
  /** Requests refused with 401 for want of a valid client credential, by reason (`missing`, `malformed`, `key`, `jwt`). */
  unauthenticated: Counter<'reason'>;
  /** Fields left out of answers because the client lacked a scope, by field coordinate. */
  forbiddenFields: Counter<'field'>;
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
    subgraphFailures: new Counter({
      name: 'tailor_subgraph_fetch_failures_total',
      help: 'Failed subgraph fetch attempts, by subgraph and reason (timeout, connection, status, garbage, circuit_open, deadline).',
      labelNames: ['subgraph', 'reason'],
      registers: [registry],
    }),
    subgraphRetries: new Counter({
      name: 'tailor_subgraph_fetch_retries_total',
      help: 'Query fetch attempts repeated after a failure, within the request deadline, by subgraph.',
      labelNames: ['subgraph'],
      registers: [registry],
    }),
    circuitState: new Gauge({
      name: 'tailor_subgraph_circuit_state',
      help: "State of each subgraph's circuit breaker: 0 closed, 1 half-open (one probe in flight), 2 open (failing fast).",
      labelNames: ['subgraph'],
      registers: [registry],
    }),
    replicaUp: new Gauge({
      name: 'tailor_subgraph_replica_up',
      help: 'Whether the gateway takes each replica of a subgraph to be up (1) or out of the rotation (0): a refused connection or a failed /health check takes it out, a healthy /health puts it back.',
      labelNames: ['subgraph', 'url'],
      registers: [registry],
    }),
    degradedResponses: new Counter({
      name: 'tailor_degraded_responses_total',
      help: "Operations answered with declared fallbacks in place of a subgraph's fields, by subgraph.",
      labelNames: ['subgraph'],
      registers: [registry],
    }),
    unauthenticated: new Counter({
      name: 'tailor_unauthenticated_requests_total',
      help: 'Requests refused with 401 UNAUTHENTICATED: no, a malformed, an unknown or revoked, or an unaccepted credential.',
      labelNames: ['reason'],
      registers: [registry],
    }),
    forbiddenFields: new Counter({
      name: 'tailor_forbidden_fields_total',
      help: 'Fields answered null with FORBIDDEN because the client credential lacked a scope, by field.',
      labelNames: ['field'],
      registers: [registry],
    }),
    unusableResponses: new Counter({
      name: 'tailor_unusable_responses_total',
      help: 'Operations answered 503 because nothing usable was left without a subgraph, by subgraph.',
      labelNames: ['subgraph'],
      registers: [registry],
    }),
  };
}
