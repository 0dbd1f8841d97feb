import './telemetry';
import { type ClientRequest, Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { GraphQLDataSource, GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { DocumentNode } from 'graphql';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { CircuitState, ConsecutiveBreaker, circuitBreaker, handleWhen } from 'cockatiel';
import { GraphQLError } from 'graphql';
import { ErrorCode } from '../../kit/errors';
import type { Logger } from '../../kit/logger';
import { SIGNATURE_HEADER } from '../../kit/subgraphCredential';
import { injectTraceHeaders } from '../../kit/tracing';
import { type DegradationLog, type FallbackTable, entityFallback } from './degradation';
import type { GatewayMetrics } from './gatewayMetrics';

/** How the gateway treats one subgraph's failures. */
export interface FetchPolicy {
  /** Longest one attempt may take, connection to last byte, in ms (less when the request deadline is nearer). */
  timeoutMs: number;
  /** How many times a failed query fetch is tried again (mutations never are). */
  retries: number;
  /** Upper bound of the first retry's random delay, in ms; it doubles with each retry ("full jitter"). */
  retryDelayMs: number;
  /** Consecutive failed attempts that open the circuit. */
  breakerFailures: number;
  /** How long an open circuit fails fast before one probe is let through, in ms. */
  breakerCooldownMs: number;
}

/** What the data source reads from the request's context value. */
export interface FetchContext {
  /** Epoch ms by which the whole operation must be answered. */
  deadline?: number;
  /** A client that asked for a longer deadline than the default gets attempt timeouts this many times longer. */
  timeoutScale?: number;
  degradation?: DegradationLog;
}

/** Options of `createSubgraphDataSource`. */
export interface SubgraphDataSourceOptions {
  name: string;
  /** The subgraph's replicas: one URL, or several that answer alike (the same database behind them). */
  urls: string[];
  /** With several replicas, how often each one's `/health` is asked, in ms. */
  healthIntervalMs?: number;
  policy: FetchPolicy;
  metrics: GatewayMetrics;
  /** The fallbacks declared in the supergraph being served. */
  fallbacks: () => FallbackTable;
  logger: Logger;
  /** The `Tailor-Gateway-Signature` of a body, fresh on every call (see kit/subgraphCredential.ts); unset: unsigned. */
  sign?: (body: string) => string;
}

/** A subgraph's connection, with the state operators see on `/ready`. */
export interface SubgraphDataSource extends GraphQLDataSource {
  circuit(): 'closed' | 'half-open' | 'open';
  /** Each replica's URL and whether it is taken to be up. */
  replicas(): { url: string; up: boolean }[];
  /** The URL of a replica that is up (else the next one): where a one-off request goes. */
  pickUrl(): string;
  /** Stops the health checks. */
  close(): void;
}

/** One replica of a subgraph: where it is, its own keep-alive pool, and whether it is taken to be up. */
interface Replica {
  url: URL;
  href: string;
  secure: boolean;
  agent: HttpAgent;
  send: typeof httpRequest;
  up: boolean;
}

/** How long a health check may take before the replica counts as down. */
const HEALTH_TIMEOUT_MS = 1_000;

/** Why an attempt failed; the label of `tailor_subgraph_fetch_failures_total`. */
type FailureReason = 'timeout' | 'connection' | 'status' | 'garbage' | 'circuit_open' | 'deadline';

class AttemptFailure extends Error {
  constructor(
    readonly reason: FailureReason,
    message: string,
  ) {
    super(message);
  }
}

const REASON_TEXT: Record<FailureReason, string> = {
  timeout: 'did not answer in time',
  connection: 'is unavailable',
  status: 'answered with an error status',
  garbage: 'answered something that is not a GraphQL response',
  circuit_open: 'is failing; its circuit is open',
  deadline: 'was not asked: the request deadline had passed',
};

const CIRCUIT_VALUE = { closed: 0, 'half-open': 1, open: 2 } as const;
const tracer = trace.getTracer('tailor-gateway');

/**
 * The gateway's connection to one subgraph, over one or more replicas. Each attempt goes to the next
 * replica that is up (round-robin; a retry to another one); with several, each one's `/health` is asked
 * every `healthIntervalMs`, and a replica that refuses a connection is taken out until it answers
 * again. Each attempt is a keep-alive `node:http(s)` request bounded
 * by a real deadline on the whole exchange (connection to last byte): the smaller of the subgraph's
 * timeout and half of what is left of the request's deadline. A failed query fetch (no connection, timeout, 5xx,
 * garbage) is retried with full jitter while the deadline allows; a mutation never is. A circuit breaker
 * (cockatiel) fails fast after consecutive failures, then lets one probe through after a cool-down.
 * A fetch that finally fails answers with the fields' declared fallbacks when all it asked for has one,
 * and otherwise fails with `SUBGRAPH_UNAVAILABLE`.
 */
export function createSubgraphDataSource(options: SubgraphDataSourceOptions): SubgraphDataSource {
  const { name, policy, metrics, logger } = options;
  if (options.urls.length === 0) throw new Error(`Subgraph ${name}: no routing URL`);
  const replicas: Replica[] = options.urls.map((href) => {
    const url = new URL(href);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`Subgraph ${name}: routing URL must be http(s)://, got ${href}`);
    const secure = url.protocol === 'https:';
    const agent = secure ? new HttpsAgent({ keepAlive: true, maxSockets: 64 }) : new HttpAgent({ keepAlive: true, maxSockets: 64 });
    return { url, href, secure, agent, send: secure ? (httpsRequest as typeof httpRequest) : httpRequest, up: true };
  });
  const replicaGauge = (replica: Replica) => metrics.replicaUp.labels(name, replica.href);
  for (const replica of replicas) replicaGauge(replica).set(1);
  const mark = (replica: Replica, up: boolean, why: string) => {
    if (replica.up === up) return;
    replica.up = up;
    replicaGauge(replica).set(up ? 1 : 0);
    (up ? logger.info.bind(logger) : logger.warn.bind(logger))({ subgraph: name, url: replica.href, why }, up ? 'replica up' : 'replica down');
  };
  let next = 0;
  /** The next replica that is up, round-robin, other than `avoid` when another is up; with none up, the next one. */
  const pick = (avoid?: Replica): Replica => {
    for (let i = 0; i < replicas.length; i++) {
      const candidate = replicas[(next + i) % replicas.length];
      if (candidate.up && (candidate !== avoid || replicas.length === 1)) {
        next = (next + i + 1) % replicas.length;
        return candidate;
      }
    }
    const fallback = replicas[next % replicas.length];
    next = (next + 1) % replicas.length;
    return fallback;
  };
  /** Asks every replica's `/health`; an answer other than 200 in time marks it down, a 200 up again. */
  const checkHealth = () =>
    Promise.all(
      replicas.map(
        (replica) =>
          new Promise<void>((resolve) => {
            const done = (up: boolean, why: string) => {
              mark(replica, up, why);
              resolve();
            };
            const req = replica.send(
              { agent: replica.agent, host: replica.url.hostname, port: replica.url.port || (replica.secure ? 443 : 80), path: '/health', method: 'GET', timeout: HEALTH_TIMEOUT_MS },
              (res) => {
                res.resume();
                res.on('end', () => done(res.statusCode === 200, `GET /health answered ${res.statusCode}`));
                res.on('error', () => done(false, 'GET /health broke off'));
              },
            );
            req.on('timeout', () => req.destroy(new Error('timeout')));
            req.on('error', (error) => done(false, `GET /health failed: ${error.message}`));
            req.end();
          }),
      ),
    );
  // One replica: nothing to choose between; its failures go to the circuit breaker alone.
  const healthTimer = replicas.length > 1 ? setInterval(() => void checkHealth(), options.healthIntervalMs ?? 2_000) : undefined;
  healthTimer?.unref();
  const fetches = metrics.subgraphFetches.labels(name);
  const retried = metrics.subgraphRetries.labels(name);
  const breaker = circuitBreaker(
    handleWhen((error) => error instanceof AttemptFailure),
    { halfOpenAfter: policy.breakerCooldownMs, breaker: new ConsecutiveBreaker(policy.breakerFailures) },
  );
  const circuit = (): 'closed' | 'half-open' | 'open' =>
    breaker.state === CircuitState.Closed ? 'closed' : breaker.state === CircuitState.HalfOpen ? 'half-open' : 'open';
  const gauge = metrics.circuitState.labels(name);
  gauge.set(0);
  breaker.onStateChange(() => {
    const state = circuit();
    gauge.set(CIRCUIT_VALUE[state]);
    (state === 'closed' ? logger.info.bind(logger) : logger.warn.bind(logger))({ subgraph: name, circuit: state }, `circuit ${state}`);
  });

  /** One HTTP exchange, destroyed when `budgetMs` runs out, whatever the socket is doing. */
  function exchange(replica: Replica, body: string, budgetMs: number, attempt: number): Promise<{ status: number; text: string }> {
    const { agent, send, url, secure } = replica;
    return tracer.startActiveSpan('tailor.subgraph.request', { kind: SpanKind.CLIENT, attributes: { subgraph: name, attempt, 'server.address': replica.href } }, (span) => {
      const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
      injectTraceHeaders(headers);
      return new Promise<{ status: number; text: string }>((resolve, reject) => {
        let current: ClientRequest | undefined;
        let settled = false;
        const fail = (error: AttemptFailure) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          current?.destroy();
          reject(error);
        };
        const timer = setTimeout(() => fail(new AttemptFailure('timeout', `no complete answer within ${budgetMs} ms`)), budgetMs);
        const go = (resent: boolean) => {
          let answered = false;
          // Over the exact body sent, with a fresh nonce for every request that goes on the wire.
          if (options.sign) headers[SIGNATURE_HEADER] = options.sign(body);
          const req = send(
            { agent, host: url.hostname, port: url.port || (secure ? 443 : 80), path: url.pathname + url.search, method: 'POST', headers },
            (res) => {
              answered = true;
              const chunks: Buffer[] = [];
              res.on('data', (chunk: Buffer) => chunks.push(chunk));
              res.on('end', () => {
                if (settled) return;
                settled = true;
                clearTimeout(timer);
                resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
              });
              res.on('error', () => fail(new AttemptFailure('connection', 'the connection broke')));
            },
          );
          current = req;
          req.on('error', (error: NodeJS.ErrnoException) => {
            // A pooled keep-alive socket the subgraph had already closed: the request never reached it, so
            // it goes once more on a fresh connection (Node's documented remedy), whatever its kind.
            if (!resent && !answered && !settled && req.reusedSocket && error.code === 'ECONNRESET') return go(true);
            fail(new AttemptFailure('connection', 'no connection'));
          });
          req.end(body);
        };
        go(false);
      }).then(
        (answer) => {
          span.setAttribute('http.response.status_code', answer.status);
          span.end();
          return answer;
        },
        (error: AttemptFailure) => {
          span.setStatus({ code: SpanStatusCode.ERROR, message: error.reason });
          span.end();
          throw error;
        },
      );
    });
  }

  /** One attempt: the exchange, then a check that the answer is a GraphQL response this fetch can use. */
  async function attempt(replica: Replica, body: string, budgetMs: number, representations: number | undefined, n: number): Promise<unknown> {
    fetches.inc();
    const stop = metrics.subgraphFetchDuration.startTimer({ subgraph: name });
    try {
      const response = await exchange(replica, body, budgetMs, n);
      if (response.status >= 500) throw new AttemptFailure('status', `HTTP ${response.status}`);
      let parsed: unknown;
      try {
        parsed = JSON.parse(response.text);
      } catch {
        throw new AttemptFailure('garbage', `HTTP ${response.status}, not JSON`);
      }
      if (!isGraphQLResponse(parsed, representations)) throw new AttemptFailure('garbage', `HTTP ${response.status}, not a GraphQL response for this fetch`);
      stop({ outcome: response.status < 300 ? 'ok' : 'error' });
      return parsed;
    } catch (error) {
      stop({ outcome: 'error' });
      // A replica that refuses connections is taken out until its health check answers again.
      if (error instanceof AttemptFailure && error.reason === 'connection' && replicas.length > 1) mark(replica, false, error.message);
      throw error;
    }
  }

  return {
    circuit,
    replicas: () => replicas.map((r) => ({ url: r.href, up: r.up })),
    pickUrl: () => pick().href,
    close: () => clearInterval(healthTimer),
    async process(processOptions: GraphQLDataSourceProcessOptions) {
      const { request, context } = processOptions;
      const { document, pathInIncomingRequest } = processOptions as { document?: DocumentNode; pathInIncomingRequest?: (string | number)[] };
      const { deadline = Date.now() + policy.timeoutMs, timeoutScale = 1, degradation } = (context ?? {}) as FetchContext;
      const body = JSON.stringify({ query: request.query, variables: request.variables, operationName: request.operationName });
      const representations = request.variables?.representations;
      const expected = Array.isArray(representations) ? representations.length : undefined;
      const attempts = /^\s*mutation\b/.test(request.query ?? '') ? 1 : 1 + policy.retries;
      // Built only when the fetch fails: an Error captures a stack, too dear to make on every fetch.
      let failure: AttemptFailure | undefined;
      let replica: Replica | undefined;
      for (let n = 1; n <= attempts; n++) {
        // Each attempt on the next replica that is up: a retry goes to another one when there is one.
        replica = pick(replica);
        const target = replica;
        // At most half of what is left, so that the fetches that depend on this one still have time.
        const left = Math.floor((deadline - Date.now()) / 2);
        if (left <= 0) {
          failure = new AttemptFailure('deadline', 'the request deadline had passed');
          break;
        }
        if (breaker.state !== CircuitState.Closed && breaker.state !== CircuitState.Open) {
          // One probe is in flight: everyone else fails fast instead of queueing behind it.
          failure = new AttemptFailure('circuit_open', 'the circuit is open');
          break;
        }
        try {
          return (await breaker.execute(() => attempt(target, body, Math.min(policy.timeoutMs * timeoutScale, left), expected, n))) as never;
        } catch (error) {
          failure = error instanceof AttemptFailure ? error : new AttemptFailure('circuit_open', 'the circuit is open');
          metrics.subgraphFailures.inc({ subgraph: name, reason: failure.reason });
          if (failure.reason === 'circuit_open' || n === attempts) break;
          const delay = Math.random() * policy.retryDelayMs * 2 ** (n - 1);
          if (Date.now() + delay >= deadline) break;
          await new Promise((resolve) => setTimeout(resolve, delay));
          retried.inc();
        }
      }
      failure ??= new AttemptFailure('deadline', 'the request deadline had passed');
      if (failure.reason === 'deadline') metrics.subgraphFailures.inc({ subgraph: name, reason: 'deadline' });
      const fallback = entityFallback(document, representations, options.fallbacks(), name, REASON_TEXT[failure.reason]);
      if (fallback) {
        degradation?.degraded.add(name);
        return fallback as never;
      }
      degradation?.failures.push({ service: name, path: pathInIncomingRequest ?? [] });
      throw new GraphQLError(`The ${name} service ${REASON_TEXT[failure.reason]}.`, {
        extensions: { code: ErrorCode.SUBGRAPH_UNAVAILABLE, service: name, reason: failure.reason },
      });
    },
  };
}

/** A GraphQL response body; for an `_entities` fetch, one with as many entities as representations sent. */
function isGraphQLResponse(value: unknown, representations: number | undefined): boolean {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const { data, errors } = value as { data?: unknown; errors?: unknown };
  if (errors !== undefined && !Array.isArray(errors)) return false;
  if (data === undefined || data === null) return errors !== undefined;
  if (typeof data !== 'object' || Array.isArray(data)) return false;
  if (representations === undefined) return true;
  const entities = (data as { _entities?: unknown })._entities;
  return entities === null ? errors !== undefined : Array.isArray(entities) && entities.length === representations;
}
