import './telemetry';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer, type ApolloServerPlugin, type BaseContext } from '@apollo/server';
import { type GraphQLSchema, Kind } from 'graphql';
import { type CachePolicy, readCachePolicy } from '../../kit/cachePolicy';
import { apolloDefaults } from '../../kit/apolloDefaults';
import { createCacheControlPlugin } from '../../kit/cacheControlPlugin';
import { ConfigError } from '../../kit/config';
import { ErrorCode } from '../../kit/errors';
import { closeServer } from '../../kit/http/closeServer';
import { createHttpServer } from '../../kit/http/createHttpServer';
import { createRequestHandler } from '../../kit/http/createRequestHandler';
import { type Refusal, handleGraphQLRequest, persistedHashOf } from '../../kit/http/handleGraphQLRequest';
import { listenOn } from '../../kit/http/listenOn';
import { parseRequestTarget } from '../../kit/http/parseRequestTarget';
import { sendError, sendGraphQLError, sendJson } from '../../kit/http/sendJson';
import { sendMetrics } from '../../kit/http/sendMetrics';
import { type Clock, systemClock } from '../../kit/clock';
import type { Logger } from '../../kit/logger';
import { readManifest, sha256Hex } from '../../kit/operationManifest';
import type { RunningService } from '../../kit/runService';
import { signRequest } from '../../kit/subgraphCredential';
import type { GatewayConfig } from './config';
import { type GatewayMetrics, createGatewayMetrics } from './gatewayMetrics';
import { landingPage } from './landingPage';
import { createAdmission } from './admission';
import { type AuditLog, type AuditOutcome, createAuditLog } from './auditLog';
import { type Client, createClientAuthenticator } from './clientAuth';
import { type KeyStore, createKeyStore } from './clientKeys';
import { gatewayDatabasePath, openGatewayDatabase } from './gatewayDatabase';
import { createPrivacyOperations } from './privacyOperations';
import { openKeptAnswersBus } from './keptAnswersBus';
import { clusterKeptAnswersBus, clusterLimiter, clusterMetrics, inGatewayWorker } from './gatewayCluster';
import { createQuotas, redisLimiter } from './quotas';
import { closeRedis, openRedis } from '../../kit/redis';
import { createCostGuard } from './costGuard';
import { type CostPolicy, readCostPolicy } from './operationCost';
import { createPersistedQueryCache } from './persistedQueryCache';
import { createQueryLimitRules } from './queryLimits';
import { ACCESS_TOKEN_PARAMETER, type RestApi, createRestApi } from './restApi';
import { readRestRoutes } from './restRoutes';
import { createSandbox } from './sandbox/createSandbox';
import { readSandboxExample } from './sandbox/sandboxExample';
import { createSupergraphFile } from './supergraphFile';
import { type GatewayContext, createGatewayContext, subgraphUnavailablePlugin } from './subgraphUnavailablePlugin';
import { createDegradingGateway } from './degradingGateway';
import { createImageSource } from './links/imageSource';
import { type RunOperation, createLiveLinks, readLiveLinkOperations } from './links/liveLinks';
import { createCardRenderer } from './links/productCard';
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

/** Who the live links are when they read the graph and record a click: the gateway itself, never an HTTP client. */
const LIVE_LINKS_CLIENT: Client = { name: 'live-links', via: 'internal', scopes: new Set(['recipients:read', 'ingest:write']), ratePerMinute: null, dailyQuota: null };

/** The cap of `recommendations(limit:)` a live link asks for at most. */
const LIVE_LINK_MAX_SLOTS = 50;

/** The file in the data folder that holds the development key. */
export const DEV_KEY_FILE = 'dev-key';

/** A running gateway. */
export interface RunningGateway extends RunningService {
  metrics: GatewayMetrics;
  /** The client keys (the same store `npm run keys` manages). */
  keys: KeyStore;
  audit: AuditLog;
  /** The development key (development profile with `TAILOR_DEV_KEY`), else `undefined`. */
  devKey?: string;
  /** The sha256 of the supergraph being served. */
  supergraphHash(): string;
}

/**
 * Starts the gateway: loads the supergraph file, plans every operation across the subgraphs it lists,
 * and serves `/graphql` (POST and GET), `/health`, `/ready`, `/metrics` and `/`.
 */
export async function startGateway(config: GatewayConfig, logger: Logger, options: { clock?: Clock } = {}): Promise<RunningGateway> {
  // Live links read expiry and stamp clicks with it: the subgraphs' clock, in tests a fake one.
  const clock = options.clock ?? systemClock;
  const metrics = createGatewayMetrics();
  const database = openGatewayDatabase(gatewayDatabasePath(config.dataDir));
  const keys = createKeyStore(database);
  const audit = createAuditLog(database);
  if (config.profile === 'production' && !config.jwks && !keys.hasLiveKeys()) {
    database.close();
    throw new ConfigError([
      `No client credential: with TAILOR_PROFILE=production every request needs one. Create a key (npm run keys -- create --name <client> --scopes … --data-dir ${config.dataDir}) or set TAILOR_JWKS`,
    ]);
  }
  let degrading: ReturnType<typeof createDegradingGateway> | undefined;
  const supergraph = createSupergraphFile(config.supergraph, { watch: config.watchSupergraph, logger, prepare: (sdl) => degrading!.prepare(sdl) });
  const manifest = readManifest(config.operationManifest);
  const persistedIds = new Set(manifest.operations.map((op) => op.id));
  const restRoutes = readRestRoutes(config.restRoutes);
  const example = readSandboxExample(config.sandboxExample, manifest, config.sandboxVariables);
  let policy: CachePolicy = readCachePolicy(supergraph.initialSdl);
  let ready = false;

  const dataSources = new Map<string, SubgraphDataSource>();
  /** Each subgraph's routing URL, as the gateway sends to it. */
  const routes = new Map<string, SubgraphDataSource>();
  const { subgraphSecret } = config;
  if (!subgraphSecret) logger.warn('TAILOR_SUBGRAPH_SECRET is not set: requests to subgraphs go unsigned, and a subgraph that requires the gateway credential refuses them');
  const sign = subgraphSecret ? (body: string) => signRequest(subgraphSecret, body) : undefined;
  const privacy = createPrivacyOperations({
    targets: () => [...routes].map(([name, source]) => ({ name, url: source.pickUrl() })),
    sign,
    logger,
  });
  const gateway = new ApolloGateway({
    supergraphSdl: supergraph.hook,
    logger,
    // Each fetch's parsed operation reaches its data source, which reads it to stand in with fallbacks.
    queryPlannerConfig: { exposeDocumentNodeInFetchNode: true },
    buildService: ({ name, url }) => {
      const targets = config.subgraphUrls[name] ?? (url ? [url] : []);
      if (targets.length === 0) throw new Error(`Subgraph "${name}" has no routing URL; set TAILOR_SUBGRAPH_URLS=${name}=http://…`);
      logger.info({ subgraph: name, urls: targets }, 'subgraph route');
      routes.get(name)?.close();
      const dataSource = createSubgraphDataSource({
        name,
        urls: targets,
        healthIntervalMs: config.subgraphHealthIntervalMs,
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
        sign,
      });
      dataSources.set(name, dataSource);
      routes.set(name, dataSource);
      return dataSource;
    },
  });
  degrading = createDegradingGateway(gateway, privacy);
  let costed: { schema: GraphQLSchema; policy: CostPolicy } | undefined;
  degrading.facade.onSchemaLoadOrUpdate(({ apiSchema, coreSupergraphSdl }) => {
    policy = readCachePolicy(coreSupergraphSdl);
    costed = { schema: apiSchema, policy: readCostPolicy(coreSupergraphSdl) };
  });
  const persistedQueries = createPersistedQueryCache(manifest);
  /** Seconds an ESP is asked to wait after an unusable answer: about when an open circuit probes again. */
  const retryAfterSeconds = Math.max(1, Math.ceil(config.breakerCooldownMs / 1000));

  /** The REST face, once built (after Apollo, which it runs on). */
  let restApi: RestApi | undefined;
  const defaults = apolloDefaults<GatewayContext>(logger, { hints: config.errorHints, serviceNames: config.errorServiceNames });
  const apollo = new ApolloServer<GatewayContext>({
    ...defaults,
    gateway: degrading.facade,
    logger,
    introspection: config.introspection,
    // Tailor uses no cookies or other ambient credentials, so a GET cannot be forged into acting for a
    // user; ESPs that fetch a URL need GET to work with no header but the client credential.
    csrfPrevention: false,
    // Campaign tools send many recipients' operations in one POST; each is answered on its own.
    allowBatchedHttpRequests: true,
    persistedQueries: { cache: persistedQueries, ttl: null },
    // The parser stops at the token limit, before a huge document costs more than its size.
    parseOptions: { maxTokens: config.maxTokens },
    validationRules: createQueryLimitRules({ maxDepth: config.maxQueryDepth, maxAliases: config.maxAliases, maxDirectives: config.maxDirectives }),
    plugins: [
      ...defaults.plugins,
      createCacheControlPlugin(() => policy),
      operationMetricsPlugin(metrics),
      subgraphUnavailablePlugin(metrics, retryAfterSeconds),
      auditPlugin(audit, privacy.fields, logger),
      forgetKeptAnswersPlugin(() => {
        restApi?.forgetKeptAnswers();
        keptAnswersBus?.announce();
      }),
    ],
  });
  try {
    await apollo.start();
  } catch (error) {
    database.close();
    throw error;
  }
  const authenticate = createClientAuthenticator({
    keys,
    jwt: config.jwks ? { jwks: config.jwks, issuer: config.jwtIssuer!, audience: config.jwtAudience!, clockToleranceSeconds: config.jwtClockToleranceSeconds } : undefined,
    logger,
  });
  // With Redis, every replica counts each client's quota in one place (see TAILOR_QUOTA_FAILURE_MODE for when
  // it is down), and tells the others to drop their kept REST answers.
  const redis = config.redisUrl ? openRedis(config.redisUrl, logger, { role: 'gateway' }) : undefined;
  await redis?.ready;
  // Without Redis, the workers of one host (TAILOR_GATEWAY_WORKERS) share the same through their primary.
  const worker = inGatewayWorker();
  const quotas = createQuotas({
    registry: metrics.registry,
    ...(redis
      ? {
          limiter: redisLimiter(redis.client, config.redisPrefix),
          storeFailure: config.quotaFailureMode,
          storeRetryAfterSeconds: retryAfterSeconds,
          onStoreError: (error: Error) => logger.debug({ err: { message: error.message }, mode: config.quotaFailureMode }, 'quota store failed'),
        }
      : worker
        ? { limiter: clusterLimiter(), storeFailure: config.quotaFailureMode, storeRetryAfterSeconds: retryAfterSeconds }
        : {}),
  });
  // With Redis, a mutation on any replica drops the kept REST answers of every replica.
  const keptAnswersBus =
    config.restAnswerTtlSeconds <= 0
      ? undefined
      : redis
        ? openKeptAnswersBus({ url: config.redisUrl!, publisher: redis.client, prefix: config.redisPrefix, logger, forget: () => restApi?.forgetKeptAnswers() })
        : worker
          ? clusterKeptAnswersBus(() => restApi?.forgetKeptAnswers())
          : undefined;
  const summedMetrics = worker ? clusterMetrics(metrics.registry) : undefined;
  const closeQuotaStore = async () => {
    await keptAnswersBus?.close();
    if (redis) await closeRedis(redis.client);
  };
  /** With `TAILOR_URL_CREDENTIALS`, a GET of a REST route may carry its key as `?access_token=` (RFC 6750 §2.3). */
  const urlCredential = (req: IncomingMessage, path: string): string | undefined => {
    if (!config.urlCredentials || !path.startsWith('/api/') || (req.method !== 'GET' && req.method !== 'HEAD')) return undefined;
    const token = parseRequestTarget(req.url)?.searchParams.get(ACCESS_TOKEN_PARAMETER);
    return token ? `Bearer ${token}` : undefined;
  };
  /**
   * Takes a request's units from its client's quota and puts the RateLimit headers on the answer;
   * returns the 429 refusal (with `Retry-After`) when the units do not fit.
   */
  const takeQuota = async (client: Client, units: number, res: ServerResponse): Promise<Refusal | undefined> => {
    const decision = await quotas.take(client.name, { ratePerMinute: client.ratePerMinute ?? config.clientRatePerMinute, dailyQuota: client.dailyQuota ?? config.clientDailyQuota }, units);
    for (const [name, value] of Object.entries(decision.headers)) res.setHeader(name, value);
    if (decision.allowed) return undefined;
    const retryAfter = String(decision.retryAfterSeconds ?? 1);
    if (decision.storeUnavailable) {
      return { status: 503, code: ErrorCode.QUOTA_UNAVAILABLE, message: `This client's quota cannot be checked right now; retry in ${retryAfter} s.`, headers: { 'retry-after': retryAfter } };
    }
    const limit = decision.window === 'day' ? 'daily quota' : 'rate limit per minute';
    const message = decision.exceedsLimit
      ? `This request counts ${units} operations, more than this client's whole ${limit}: split it.`
      : `This client has used its ${limit}; retry in ${retryAfter} s.`;
    return { status: 429, code: ErrorCode.RATE_LIMITED, message, extensions: { window: decision.window, units }, headers: { 'retry-after': retryAfter } };
  };
  /** Stops what has started when the start-up fails further on: Apollo (and the supergraph watcher), the database and the quota store connection. */
  const abandon = async (error: unknown): Promise<never> => {
    await apollo.stop().catch(() => undefined);
    database.close();
    await closeQuotaStore();
    throw error;
  };
  const rest = await Promise.resolve()
    .then(() => createRestApi(apollo, manifest, restRoutes, { retryAfterSeconds, answerTtlMs: config.restAnswerTtlSeconds * 1000, registry: metrics.registry }))
    .catch(abandon);
  restApi = rest;
  /** Runs an operation of the live links through the whole gateway (authorization, deadlines, fallbacks) as their own client. */
  const runInternal: RunOperation = async (query, operationName, variables) => {
    const contextValue = createGatewayContext(Date.now(), config.requestDeadlineMs, config.requestDeadlineMs, LIVE_LINKS_CLIENT);
    const response = await apollo.executeOperation({ query, operationName, variables }, { contextValue });
    if (response.body.kind !== 'single') throw new Error('live link operations are single-result');
    return response.body.singleResult as Awaited<ReturnType<RunOperation>>;
  };
  const liveLinks = config.linkKeys
    ? await Promise.resolve()
        .then(() =>
          createLiveLinks({
            keyring: config.linkKeys!,
            fallbackUrl: config.linkFallbackUrl,
            operations: readLiveLinkOperations(config.liveLinkOperations),
            run: runInternal,
            renderer: createCardRenderer(),
            pictures: createImageSource({ timeoutMs: 500, maxBytes: 2 * 1024 * 1024, maxEntries: config.liveImageCacheEntries, ttlMs: 10 * 60_000 }),
            lowStockBadge: config.lowStockBadge,
            imageMaxAgeSeconds: config.liveImageMaxAgeSeconds,
            renderCacheEntries: config.liveImageCacheEntries,
            fallbackCardText: config.liveImageFallbackText,
            maxSlots: LIVE_LINK_MAX_SLOTS,
            admit: () => admission.admit(),
            registry: metrics.registry,
            clock,
            logger,
          }),
        )
        .catch(abandon)
    : undefined;
  if (!liveLinks) logger.warn('TAILOR_LINK_KEYS is not set: /r/<token> and /i/<token>.png (live links and images) answer 404 (npm start sets it)');
  const devKey = config.profile === 'development' && config.devKey ? ensureDevKey(keys, audit, config.dataDir, allScopes(degrading.served()), logger) : undefined;
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
  const costGuard = createCostGuard({
    maxOperationCost: config.maxOperationCost,
    maxRequestCost: config.maxRequestCost,
    maxTokens: config.maxTokens,
    current: () => costed,
    textOf: (hash) => persistedQueries.textOf(hash),
  });
  /** Checks a request's operations before any runs: persisted-only, cost, then the client's quota. */
  const vetterFor = (client: Client, res: ServerResponse) => async (operations: unknown[]): Promise<Refusal | undefined> => {
    const refusal = (config.adHocQueries ? undefined : persistedOnly(operations)) ?? costGuard.vet(operations);
    if (refusal) return refusal;
    return takeQuota(client, costGuard.units(operations), res);
  };

  // The development key is offered to the sandbox of this machine only (a loopback client).
  const sandbox = config.sandbox
    ? createSandbox({ query: example.operation.body, variables: example.variables, ...(devKey ? { localHeaders: { authorization: `Bearer ${devKey}` } } : {}) })
    : undefined;
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
    if (sandbox?.serve(req, res, path)) return;
    // Live links are public: the signed token is the credential, and a shopper holds no client key.
    if (liveLinks && (await liveLinks.handle(req, res, path))) return;
    let client: Client | undefined;
    if (operates && !(READ_ONLY_ROUTES.has(path))) {
      const authentication = await authenticate(req.headers.authorization ?? urlCredential(req, path));
      if (!authentication.ok) {
        metrics.unauthenticated.inc({ reason: authentication.reason });
        res.setHeader('www-authenticate', 'Bearer realm="tailor"');
        // GraphQL clients get GraphQL's error shape; REST clients the REST face's.
        if (path === '/graphql') return sendGraphQLError(res, 401, ErrorCode.UNAUTHENTICATED, authentication.message);
        return sendError(res, 401, ErrorCode.UNAUTHENTICATED, authentication.message);
      }
      client = authentication.client;
    }
    const context = async () => createGatewayContext(receivedAt, deadlineMs ?? config.requestDeadlineMs, config.requestDeadlineMs, client);
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
            vetOperations: vetterFor(client!, res),
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
        if (summedMetrics) {
          // Every worker's, summed by the primary: a scrape sees the host's gateway whichever worker answers.
          const text = await summedMetrics.text();
          res.writeHead(200, { 'content-type': summedMetrics.contentType, 'cache-control': 'no-store' });
          return void res.end(text);
        }
        return sendMetrics(res, metrics.registry);
      case '/':
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': landing.length, 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : landing);
        return;
      default:
        if (path.startsWith('/api/')) {
          const refusal = await takeQuota(client!, 1, res);
          if (refusal) {
            res.setHeader('retry-after', refusal.headers!['retry-after']);
            return sendError(res, refusal.status, refusal.code, refusal.message, refusal.extensions);
          }
          if (await withSlot(res, () => rest.handle(req, res, path, context))) return;
        }
        return sendError(res, 404, ErrorCode.NOT_FOUND, `No route ${path}. Routes: ${routeList}.`);
    }
  }

  /** When the served supergraph was loaded, and the last file refused, for operators. */
  const readyDetails = () => {
    const { loadedAt, lastRefusal } = supergraph.status();
    const subgraphs = Object.fromEntries([...dataSources].map(([name, source]) => [name, { circuit: source.circuit(), replicas: source.replicas() }]));
    return lastRefusal ? { loadedAt, lastRefusal, subgraphs } : { loadedAt, subgraphs };
  };

  const known = new Set(['/graphql', '/health', '/ready', '/metrics', '/']);
  const handle = createRequestHandler({
    route,
    routeLabel: (path) => (known.has(path) ? path : path.startsWith('/api/') ? '/api' : path.startsWith('/r/') ? '/r' : path.startsWith('/i/') ? '/i' : 'other'),
    httpDuration: metrics.httpDuration,
    logger,
    service: 'gateway',
  });
  const http = createHttpServer(handle, logger);
  const port = await listenOn(http, config.host, config.port).catch(abandon);
  const url = `http://${config.host}:${port}`;
  logger.info({ url, port, graphql: `${url}/graphql`, supergraph: config.supergraph }, 'listening');
  return {
    url,
    port,
    metrics,
    keys,
    audit,
    devKey,
    supergraphHash: () => supergraph.status().hash,
    async close() {
      ready = false;
      await closeServer(http);
      await apollo.stop();
      for (const source of dataSources.values()) source.close();
      database.close();
      await closeQuotaStore();
    },
  };
}

/** Counts answered operations by outcome (`ok`, `partial`: data and errors, or `error`), and the fields refused for want of a scope. */
function operationMetricsPlugin(metrics: GatewayMetrics): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response }) {
          if (response.body.kind !== 'single') return;
          const { data, errors } = response.body.singleResult;
          metrics.operations.inc({ outcome: !errors?.length ? 'ok' : data ? 'partial' : 'error' });
          for (const error of errors ?? []) {
            if (error.extensions?.code === ErrorCode.FORBIDDEN) metrics.forbiddenFields.inc({ field: String(error.extensions.field) });
          }
        },
      };
    },
  };
}

/** Every scope the served schema names: the development key carries them all. */
function allScopes(served: ReturnType<ReturnType<typeof createDegradingGateway>['served']>): string[] {
  const scopes = new Set<string>();
  for (const rule of [...(served?.access.fields.values() ?? []), ...(served?.access.types.values() ?? [])]) {
    for (const alternative of rule.scopes ?? []) for (const scope of alternative) scopes.add(scope);
  }
  return [...scopes].sort();
}

/**
 * The development key: `<dataDir>/dev-key` if it holds a live key with every scope of the schema,
 * else a new key named `development` with them all, written there (mode 0600). A data folder of
 * `:memory:` keeps it in memory only.
 */
function ensureDevKey(keys: KeyStore, audit: AuditLog, dataDir: string, scopes: string[], logger: Logger): string {
  const file = dataDir === ':memory:' ? undefined : join(dataDir, DEV_KEY_FILE);
  if (file && existsSync(file)) {
    const token = readFileSync(file, 'utf8').trim();
    const key = keys.verify(token);
    if (key && scopes.every((scope) => key.scopes.includes(scope))) return token;
    logger.warn({ file }, key ? 'the development key lacks scopes the schema now names: making a new one' : 'the development key in the data folder is unknown or revoked: making a new one');
    if (key) {
      keys.revoke(key.id);
      audit.append({ actor: 'gateway', action: 'key.revoke', target: key.name, outcome: 'ok', detail: { id: key.id, scopes: key.scopes } });
    }
  }
  const stale = keys.list().find((k) => k.name === 'development');
  if (stale) {
    keys.revoke(stale.id);
    audit.append({ actor: 'gateway', action: 'key.revoke', target: stale.name, outcome: 'ok', detail: { id: stale.id, scopes: stale.scopes } });
  }
  const { token, key } = keys.create({ name: 'development', scopes: scopes.length ? scopes : ['recipients:read'] });
  audit.append({ actor: 'gateway', action: 'key.create', target: key.name, outcome: 'ok', detail: { id: key.id, scopes: key.scopes } });
  if (file) {
    writeFileSync(file, `${token}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
  }
  logger.warn({ file: file ?? '(in memory)', scopes }, 'development profile: made a development key with every scope (never in production); send it as Authorization: Bearer <key>');
  return token;
}

/**
 * Drops the REST answers kept for repeated renders after every mutation a client runs (and, with Redis,
 * those of every replica): one may change a consent or erase a recipient, which the very next answer
 * must show. The live links' own click records
 * keep them (a click changes no consent, and clicks come often).
 */
function forgetKeptAnswersPlugin(forget: () => void): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ operation, contextValue }) {
          if (operation?.operation === 'mutation' && contextValue.client?.via !== 'internal') forget();
        },
      };
    },
  };
}

/**
 * Appends every mutation and every privacy operation to the audit log: who (the client's name), what
 * (the operation's name and root fields), when, and the outcome, with error codes and the privacy
 * receipts' counts; never variables or answers.
 */
function auditPlugin(audit: AuditLog, privacyFields: Set<string>, logger: Logger): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response, contextValue, operation, operationName }) {
          // The gateway's own operations (a click recorded by a live link) are a shopper's signal, not
          // somebody's act: they are counted in the live link metrics instead.
          if (response.body.kind !== 'single' || !operation || contextValue.client?.via === 'internal') return;
          const fields = operation.selectionSet.selections.flatMap((s) => (s.kind === Kind.FIELD ? [s.name.value] : []));
          if (operation.operation !== 'mutation' && !fields.some((f) => privacyFields.has(f))) return;
          const { data, errors } = response.body.singleResult;
          const codes = [...new Set((errors ?? []).map((e) => String(e.extensions?.code ?? 'INTERNAL_SERVER_ERROR')))];
          const outcome: AuditOutcome = contextValue.forbidden
            ? 'forbidden'
            : !errors?.length
              ? 'ok'
              : data && Object.values(data).some((v) => v !== null)
                ? 'partial'
                : 'error';
          try {
            audit.append({
              actor: contextValue.client?.name ?? 'unknown',
              action: fields.join(','),
              target: operationName ?? undefined,
              outcome,
              detail: { operation: operation.operation, ...(codes.length ? { errors: codes } : {}), ...(contextValue.auditDetail ?? {}) },
            });
          } catch (error) {
            logger.error({ err: { type: (error as Error).name } }, 'the audit log could not be written');
          }
        },
      };
    },
  };
}
