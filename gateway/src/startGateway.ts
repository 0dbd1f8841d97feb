import './telemetry';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer, type ApolloServerPlugin, type BaseContext } from '@apollo/server';
import type { GraphQLSchema } from 'graphql';
import { type CachePolicy, readCachePolicy } from '../../kit/cachePolicy';
import { apolloDefaults } from '../../kit/apolloDefaults';
import { createCacheControlPlugin } from '../../kit/cacheControlPlugin';
import { ErrorCode } from '../../kit/errors';
import { closeServer } from '../../kit/http/closeServer';
import { createHttpServer } from '../../kit/http/createHttpServer';
import { createRequestHandler } from '../../kit/http/createRequestHandler';
import { type Refusal, handleGraphQLRequest, persistedHashOf } from '../../kit/http/handleGraphQLRequest';
import { listenOn } from '../../kit/http/listenOn';
import { sendError, sendGraphQLError, sendJson } from '../../kit/http/sendJson';
import { sendMetrics } from '../../kit/http/sendMetrics';
import type { Logger } from '../../kit/logger';
import { readManifest, sha256Hex } from '../../kit/operationManifest';
import type { RunningService } from '../../kit/runService';
import { signRequest } from '../../kit/subgraphCredential';
import type { GatewayConfig } from './config';
import { type GatewayMetrics, createGatewayMetrics } from './gatewayMetrics';
import { landingPage } from './landingPage';
import { createAdmission } from './admission';
import { createCostGuard } from './costGuard';
import { type CostPolicy, readCostPolicy } from './operationCost';
import { createPersistedQueryCache } from './persistedQueryCache';
import { createQueryLimitRules } from './queryLimits';
import { createRestApi } from './restApi';
import { readRestRoutes } from './restRoutes';
import { createSandbox } from './sandbox/createSandbox';
import { readSandboxExample } from './sandbox/sandboxExample';
import { createSupergraphFile } from './supergraphFile';
import { type GatewayContext, createGatewayContext, subgraphUnavailablePlugin } from './subgraphUnavailablePlugin';
import { createDegradingGateway } from './degradingGateway';
import { type SubgraphDataSource, createSubgraphDataSource } from './subgraphDataSource';

/** Seconds a shed client is asked to wait: slots free up within about one request's time. */
const SHED_RETRY_AFTER_SECONDS = 1;

/** The request header a client sets to ask for a longer (or shorter) deadline than `TAILOR_REQUEST_DEADLINE_MS`. */
const DEADLINE_HEADER = 'tailor-deadline-ms';

/** The deadline a request asks for, capped at `max`: `undefined` without the header, `null` for a value that is not a positive whole number of ms. */
function requestedDeadline(header: string | string[] | undefined, max: number): number | undefined | null {
  if (header === undefined) return undefined;
  if (typeof header !== 'string' || !/^\s*\d{1,9}\s*$/.test(header) || Number(header) < 1) return null;
  return Math.min(Number(header), max);
}

/** Routes that only answer GET (and HEAD). */
const READ_ONLY_ROUTES = new Set(['/health', '/ready', '/metrics', '/']);

/** A running gateway. */
export interface RunningGateway extends RunningService {
  metrics: GatewayMetrics;
  /** The sha256 of the supergraph being served. */
  supergraphHash(): string;
}

/**
 * Starts the gateway: loads the supergraph file, plans every operation across the subgraphs it lists,
 * and serves `/graphql` (POST and GET), `/health`, `/ready`, `/metrics` and `/`.
 */
export async function startGateway(config: GatewayConfig, logger: Logger): Promise<RunningGateway> {
  const metrics = createGatewayMetrics();
  let degrading: ReturnType<typeof createDegradingGateway> | undefined;
  const supergraph = createSupergraphFile(config.supergraph, { watch: config.watchSupergraph, logger, prepare: (sdl) => degrading!.prepare(sdl) });
  const manifest = readManifest(config.operationManifest);
  const persistedIds = new Set(manifest.operations.map((op) => op.id));
  const restRoutes = readRestRoutes(config.restRoutes);
  const example = readSandboxExample(config.sandboxExample, manifest, config.sandboxVariables);
  let policy: CachePolicy = readCachePolicy(supergraph.initialSdl);
  let ready = false;

  const dataSources = new Map<string, SubgraphDataSource>();
  const { subgraphSecret } = config;
  if (!subgraphSecret) logger.warn('TAILOR_SUBGRAPH_SECRET is not set: requests to subgraphs go unsigned, and a subgraph that requires the gateway credential refuses them');
  const gateway = new ApolloGateway({
    supergraphSdl: supergraph.hook,
    logger,
    // Each fetch's parsed operation reaches its data source, which reads it to stand in with fallbacks.
    queryPlannerConfig: { exposeDocumentNodeInFetchNode: true },
    buildService: ({ name, url }) => {
      const target = config.subgraphUrls[name] ?? url;
      if (!target) throw new Error(`Subgraph "${name}" has no routing URL; set TAILOR_SUBGRAPH_URLS=${name}=http://…`);
      logger.info({ subgraph: name, url: target }, 'subgraph route');
      const dataSource = createSubgraphDataSource({
        name,
        url: target,
        policy: {
          timeoutMs: config.subgraphTimeoutMs.of(name),
          retries: config.subgraphRetries,
          retryDelayMs: config.retryDelayMs,
          breakerFailures: config.breakerFailures,
          breakerCooldownMs: config.breakerCooldownMs,
        },
        metrics,
        fallbacks: () => degrading!.served()?.fallbacks ?? new Map(),
        logger,
        sign: subgraphSecret && ((body) => signRequest(subgraphSecret, body)),
      });
      dataSources.set(name, dataSource);
      return dataSource;
    },
  });
  degrading = createDegradingGateway(gateway);
  let costed: { schema: GraphQLSchema; policy: CostPolicy } | undefined;
  degrading.facade.onSchemaLoadOrUpdate(({ apiSchema, coreSupergraphSdl }) => {
    policy = readCachePolicy(coreSupergraphSdl);
    costed = { schema: apiSchema, policy: readCostPolicy(coreSupergraphSdl) };
  });
  const persistedQueries = createPersistedQueryCache(manifest);
  /** Seconds an ESP is asked to wait after an unusable answer: about when an open circuit probes again. */
  const retryAfterSeconds = Math.max(1, Math.ceil(config.breakerCooldownMs / 1000));

  const defaults = apolloDefaults<GatewayContext>(logger, { hints: config.errorHints, serviceNames: config.errorServiceNames });
  const apollo = new ApolloServer<GatewayContext>({
    ...defaults,
    gateway: degrading.facade,
    logger,
    introspection: config.introspection,
    // Tailor uses no cookies or other ambient credentials, so a GET cannot be forged into acting for a
    // user; ESPs that can only GET a URL need GET to work without custom headers.
    csrfPrevention: false,
    // Campaign tools send many recipients' operations in one POST; each is answered on its own.
    allowBatchedHttpRequests: true,
    persistedQueries: { cache: persistedQueries, ttl: null },
    // The parser stops at the token limit, before a huge document costs more than its size.
    parseOptions: { maxTokens: config.maxTokens },
    validationRules: createQueryLimitRules({ maxDepth: config.maxQueryDepth, maxAliases: config.maxAliases, maxDirectives: config.maxDirectives }),
    plugins: [...defaults.plugins, createCacheControlPlugin(() => policy), operationMetricsPlugin(metrics), subgraphUnavailablePlugin(metrics, retryAfterSeconds)],
  });
  await apollo.start();
  const rest = createRestApi(apollo, manifest, restRoutes, { retryAfterSeconds });
  ready = true;

  /** With ad-hoc queries off, only a hash from the manifest (and its exact text, if sent) passes. */
  const persistedOnly = (operations: unknown[]): Refusal | undefined => {
    for (const operation of operations) {
      if (!operation || typeof operation !== 'object') continue;
      const { query } = operation as { query?: unknown };
      const hash = persistedHashOf(operation);
      const known = typeof hash === 'string' && persistedIds.has(hash) && (query === undefined || sha256Hex(String(query)) === hash);
      if (!known) {
        const message = 'This gateway answers persisted operations only: send extensions.persistedQuery.sha256Hash of an operation in its manifest.';
        return { status: 400, code: ErrorCode.PERSISTED_QUERY_REQUIRED, message };
      }
    }
    return undefined;
  };
  const withinCost = createCostGuard({
    maxOperationCost: config.maxOperationCost,
    maxRequestCost: config.maxRequestCost,
    maxTokens: config.maxTokens,
    current: () => costed,
    textOf: (hash) => persistedQueries.textOf(hash),
  });
  const vetOperations = (operations: unknown[]) => (config.adHocQueries ? undefined : persistedOnly(operations)) ?? withinCost(operations);

  const sandbox = config.sandbox ? createSandbox({ query: example.operation.body, variables: example.variables }) : undefined;
  const landing = Buffer.from(landingPage({ example, restRoutes }));
  const routeList = ['/graphql', ...restRoutes.map((r) => r.path), '/health', '/ready', '/metrics', '/'].join(', ');

  const admission = createAdmission({ maxInFlight: config.maxInFlight, maxWaitMs: config.queueTimeoutMs, maxQueued: config.maxQueued, shed: metrics.requestsShed });
  /** Runs `serve` in an operation slot, or answers 503 with `Retry-After` when none frees up in time. */
  async function withSlot<T>(res: ServerResponse, serve: () => Promise<T>): Promise<T | true> {
    const release = await admission.admit();
    if (!release) {
      res.setHeader('retry-after', String(SHED_RETRY_AFTER_SECONDS));
      sendGraphQLError(res, 503, ErrorCode.OVERLOADED, `The gateway is at its limit of ${config.maxInFlight} operations in flight; retry in ${SHED_RETRY_AFTER_SECONDS} s.`);
      return true;
    }
    try {
      return await serve();
    } finally {
      release();
    }
  }

  async function route(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const receivedAt = Date.now();
    const operates = path === '/graphql' || path.startsWith('/api/');
    const deadlineMs = operates ? requestedDeadline(req.headers[DEADLINE_HEADER], config.maxRequestDeadlineMs) : undefined;
    if (deadlineMs === null) {
      return sendError(res, 400, ErrorCode.BAD_REQUEST, `The ${DEADLINE_HEADER} header must be a positive whole number of milliseconds (at most ${config.maxRequestDeadlineMs} is used).`);
    }
    const context = async () => createGatewayContext(receivedAt, deadlineMs ?? config.requestDeadlineMs, config.requestDeadlineMs);
    if (sandbox?.serve(req, res, path)) return;
    if (READ_ONLY_ROUTES.has(path) && req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return sendError(res, 405, ErrorCode.METHOD_NOT_ALLOWED, `Use GET for ${path}.`);
    }
    switch (path) {
      case '/graphql':
        await withSlot(res, () =>
          handleGraphQLRequest(apollo, req, res, {
            maxBodyBytes: config.maxBodyBytes,
            maxBatchOperations: config.maxBatchOperations,
            vetOperations,
            // Field depth counts `{` levels; arguments and input objects nest within them.
            maxNesting: Math.max(64, 4 * config.maxQueryDepth),
            maxTokens: config.maxTokens,
            context,
          }),
        );
        return;
      case '/health':
        return sendJson(res, 200, { status: 'ok', service: 'gateway' }, { 'cache-control': 'no-store' });
      case '/ready':
        return ready
          ? sendJson(res, 200, { status: 'ready', supergraph: supergraph.status().hash, ...readyDetails() }, { 'cache-control': 'no-store' })
          : sendJson(res, 503, { status: 'starting' }, { 'cache-control': 'no-store' });
      case '/metrics':
        return sendMetrics(res, metrics.registry);
      case '/':
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': landing.length, 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : landing);
        return;
      default:
        if (path.startsWith('/api/') && (await withSlot(res, () => rest.handle(req, res, path, context)))) return;
        return sendError(res, 404, ErrorCode.NOT_FOUND, `No route ${path}. Routes: ${routeList}.`);
    }
  }

  /** When the served supergraph was loaded, and the last file refused, for operators. */
  const readyDetails = () => {
    const { loadedAt, lastRefusal } = supergraph.status();
    const subgraphs = Object.fromEntries([...dataSources].map(([name, source]) => [name, { circuit: source.circuit() }]));
    return lastRefusal ? { loadedAt, lastRefusal, subgraphs } : { loadedAt, subgraphs };
  };

  const known = new Set(['/graphql', '/health', '/ready', '/metrics', '/']);
  const handle = createRequestHandler({
    route,
    routeLabel: (path) => (known.has(path) ? path : path.startsWith('/api/') ? '/api' : 'other'),
    httpDuration: metrics.httpDuration,
    logger,
    service: 'gateway',
  });
  const http = createHttpServer(handle, logger);
  const port = await listenOn(http, config.host, config.port);
  const url = `http://${config.host}:${port}`;
  logger.info({ url, port, graphql: `${url}/graphql`, supergraph: config.supergraph }, 'listening');
  return {
    url,
    port,
    metrics,
    supergraphHash: () => supergraph.status().hash,
    async close() {
      ready = false;
      await closeServer(http);
      await apollo.stop();
    },
  };
}

/** Counts answered operations by outcome: `ok`, `partial` (data and errors) or `error`. */
function operationMetricsPlugin(metrics: GatewayMetrics): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response }) {
          if (response.body.kind !== 'single') return;
          const { data, errors } = response.body.singleResult;
          metrics.operations.inc({ outcome: !errors?.length ? 'ok' : data ? 'partial' : 'error' });
        },
      };
    },
  };
}
