import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApolloServer, type BaseContext } from '@apollo/server';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper';
import type { DocumentNode } from 'graphql';
import { type CachePolicy, readCachePolicy } from '../../kit/cachePolicy';
import { type Clock, systemClock } from '../../kit/clock';
import { createCacheControlPlugin } from '../../kit/cacheControlPlugin';
import { apolloDefaults } from '../../kit/apolloDefaults';
import { ErrorCode } from '../../kit/errors';
import { createHttpServer } from '../../kit/http/createHttpServer';
import { createRequestHandler } from '../../kit/http/createRequestHandler';
import { handleGraphQLRequest } from '../../kit/http/handleGraphQLRequest';
import { sendError, sendJson } from '../../kit/http/sendJson';
import { sendMetrics } from '../../kit/http/sendMetrics';
import { closeServer } from '../../kit/http/closeServer';
import { listenOn } from '../../kit/http/listenOn';
import { parseRequestTarget } from '../../kit/http/parseRequestTarget';
import type { Logger } from '../../kit/logger';
import type { RunningService } from '../../kit/runService';
import { type CredentialRefusal, SIGNATURE_HEADER, type SubgraphKeyring, createCredentialVerifier } from '../../kit/subgraphCredential';
import { setupTracing } from '../../kit/tracing';
import type { Ingestor } from './ingest';
import { PRIVACY_ROUTES, type PrivacyHook, createPrivacyRoutes } from './privacyRoutes';
import { SUBGRAPH_MAX_TOKENS, createSubgraphInputErrorPlugin, operationTypeDefinedRule } from './subgraphInputErrors';
import type { SubgraphMetrics } from './subgraphMetrics';
import { resolverSpanPlugin } from './subgraphBase';

/** Everything that makes one subgraph: the same shape for Tailor's own and for partners'. */
export interface SubgraphDefinition<TContext extends BaseContext> {
  /** The name in `schema/supergraph.yaml`, e.g. `crm`. */
  name: string;
  typeDefs: DocumentNode;
  resolvers: GraphQLResolverMap<TContext>;
  /** Builds one request's context; DataLoaders are created here, per request. */
  createContext: () => TContext;
  /** Batches taken in at `POST /ingest/<kind>`. */
  ingestors: Ingestor<unknown>[];
  metrics: SubgraphMetrics;
  logger: Logger;
  /** Largest `/graphql` body accepted, in bytes. */
  maxBodyBytes: number;
  /** Extra GET routes under a path prefix, e.g. `/images/` (answer `false` to fall through to 404). */
  extraRoutes?: { prefix: string; handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> | boolean }[];
  /**
   * What the subgraph does at `POST /privacy/erase` and `POST /privacy/export`, the gateway's
   * `eraseUser` and `exportUser`. Leave it out only when the subgraph stores nothing keyed to a user:
   * the kit then answers `holdsPersonalData: false`.
   */
  privacy?: PrivacyHook;
  /** The subgraph's clock, for the times the kit writes (`erasedAt`, `exportedAt`); default the system clock. */
  clock?: Clock;
  /** Called once the HTTP server has stopped, e.g. to close the database. */
  onClose?: () => void | Promise<void>;
}

/** Who may call a subgraph's `/graphql` and `/privacy/*`: requests signed with the gateway's secret (`TAILOR_SUBGRAPH_SECRET`). */
export interface SubgraphCredentialOptions {
  /** The secrets accepted (`TAILOR_SUBGRAPH_SECRET`); unset: unsigned requests are accepted, with a warning at start-up. */
  subgraphSecret?: SubgraphKeyring;
  /** `TAILOR_SUBGRAPH_CREDENTIAL_TOLERANCE_SECONDS` (default 30). */
  credentialToleranceSeconds?: number;
  /** Epoch ms, for the credential's timestamp and the nonce cache (tests). */
  now?: () => number;
}

const REFUSAL_TEXT: Record<CredentialRefusal, string> = {
  missing: 'the request carries no Tailor-Gateway-Signature',
  malformed: 'the Tailor-Gateway-Signature header is malformed',
  unknown_key: 'the credential names a key id this subgraph does not know',
  expired: 'the credential has expired (or the clocks differ by more than the tolerance)',
  future: 'the credential is dated in the future (or the clocks differ by more than the tolerance)',
  bad_signature: 'the signature does not match the request',
  replayed: 'the credential was already used',
};

/** Most refusals logged per minute (the rest are counted in the next line logged). */
const REFUSAL_LOG_INTERVAL_MS = 60_000;

/** A subgraph's Apollo Server, built but not listening: tests can execute operations on it directly. */
export interface SubgraphServer<TContext extends BaseContext> {
  apollo: ApolloServer<TContext>;
  policy: CachePolicy;
  /** Serves one HTTP request: `/graphql`, `/ingest/*`, `/privacy/*`, `/health`, `/metrics`. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

/** Builds a subgraph's server from its definition and starts Apollo (no port is opened). */
export async function createSubgraphServer<TContext extends BaseContext>(
  def: SubgraphDefinition<TContext>,
  credential: SubgraphCredentialOptions = {},
): Promise<SubgraphServer<TContext>> {
  const policy = readCachePolicy(def.typeDefs);
  const authenticate = credentialCheck(def, credential);
  const defaults = apolloDefaults<TContext>(def.logger);
  const apollo = new ApolloServer<TContext>({
    ...defaults,
    schema: buildSubgraphSchema({ typeDefs: def.typeDefs, resolvers: def.resolvers as GraphQLResolverMap<unknown> }),
    plugins: [...defaults.plugins, createCacheControlPlugin(() => policy), createSubgraphInputErrorPlugin<TContext>(), resolverSpanPlugin<TContext>(def.resolvers)],
    parseOptions: { maxTokens: SUBGRAPH_MAX_TOKENS },
    validationRules: [operationTypeDefinedRule],
  });
  await apollo.start();
  const ingestRoutes = new Map(def.ingestors.map((i) => [`/ingest/${i.kind}`, i]));
  const privacyRoutes = createPrivacyRoutes({ name: def.name, hook: def.privacy, logger: def.logger, clock: def.clock ?? systemClock, authenticate });

  async function route(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (path === '/graphql') {
      return handleGraphQLRequest(apollo, req, res, { maxBodyBytes: def.maxBodyBytes, maxTokens: SUBGRAPH_MAX_TOKENS, authenticate, context: async () => def.createContext() });
    }
    const ingestor = ingestRoutes.get(path);
    if (ingestor) {
      if (req.method !== 'POST') {
        res.setHeader('allow', 'POST');
        return sendError(res, 405, ErrorCode.METHOD_NOT_ALLOWED, `Use POST to send a ${ingestor.kind} batch.`);
      }
      return ingestor.handleHttp(req, res);
    }
    const privacy = privacyRoutes.get(path);
    if (privacy) return privacy(req, res);
    if ((path === '/health' || path === '/metrics' || (def.extraRoutes ?? []).some((r) => path.startsWith(r.prefix))) && req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return sendError(res, 405, ErrorCode.METHOD_NOT_ALLOWED, `Use GET for ${path}.`);
    }
    if (path === '/health') return sendJson(res, 200, { status: 'ok', service: def.name }, { 'cache-control': 'no-store' });
    if (path === '/metrics') return sendMetrics(res, def.metrics.registry);
    for (const extra of def.extraRoutes ?? []) {
      if (path.startsWith(extra.prefix) && (await extra.handle(req, res, path))) return;
    }
    const known = ['/graphql', ...ingestRoutes.keys(), ...privacyRoutes.keys(), '/health', '/metrics', ...(def.extraRoutes ?? []).map((r) => `${r.prefix}…`)];
    sendError(res, 404, ErrorCode.NOT_FOUND, `No route ${path}. Routes: ${known.join(', ')}.`);
  }

  const known = new Set(['/graphql', '/health', '/metrics', ...ingestRoutes.keys(), ...Object.keys(PRIVACY_ROUTES)]);
  const prefixes = (def.extraRoutes ?? []).map((r) => r.prefix);
  return {
    apollo,
    policy,
    handle: createRequestHandler({
      route,
      routeLabel: (path) => (known.has(path) ? path : (prefixes.find((p) => path.startsWith(p)) ?? 'other')),
      httpDuration: def.metrics.httpDuration,
      logger: def.logger,
      service: def.name,
    }),
  };
}

/**
 * The check of the gateway credential on `/graphql` and `/privacy/*` (see kit/subgraphCredential.ts);
 * `undefined`, with one warning, when no secret is configured. Refusals are logged at most once a minute.
 */
function credentialCheck(def: { name: string; logger: Logger }, options: SubgraphCredentialOptions) {
  if (!options.subgraphSecret) {
    def.logger.warn(
      { service: def.name },
      'TAILOR_SUBGRAPH_SECRET is not set: /graphql and /privacy/* accept requests from anyone who can reach this port, not only the gateway (set it, as npm start does, to require the gateway credential)',
    );
    return undefined;
  }
  const verifier = createCredentialVerifier({ keyring: options.subgraphSecret, toleranceSeconds: options.credentialToleranceSeconds ?? 30, now: options.now });
  let lastLogged = -Infinity;
  let unlogged = 0;
  return (req: IncomingMessage, signed: Buffer) => {
    const check = verifier.verify(req.headers[SIGNATURE_HEADER], signed);
    if (check.ok) return undefined;
    const now = Date.now();
    if (now - lastLogged >= REFUSAL_LOG_INTERVAL_MS) {
      // The route's path, never the query string, which may carry a recipient's id.
      const path = parseRequestTarget(req.url)?.path ?? 'the subgraph';
      def.logger.warn({ reason: check.reason, path, refusedSinceLastLine: unlogged }, `refused a ${path} request without a valid gateway credential`);
      lastLogged = now;
      unlogged = 0;
    } else {
      unlogged++;
    }
    return { status: 401, code: ErrorCode.UNAUTHENTICATED, message: `This subgraph answers the gateway only: ${REFUSAL_TEXT[check.reason]}.` };
  };
}

/**
 * Builds a subgraph's server and opens its port. Port 0 picks a free one. With `subgraphSecret` (the
 * subgraph's config, `TAILOR_SUBGRAPH_SECRET`) `/graphql` answers signed requests only. With `otlpEndpoint` set (and
 * no tracer provider yet in this process), traces are exported there under the subgraph's name.
 */
export async function startSubgraph<TContext extends BaseContext>(
  def: SubgraphDefinition<TContext>,
  listen: { host: string; port: number; otlpEndpoint?: string; traceSampleRatio?: number } & SubgraphCredentialOptions,
): Promise<RunningService> {
  const stopTracing = setupTracing({ service: def.name, endpoint: listen.otlpEndpoint, sampleRatio: listen.traceSampleRatio });
  const server = await createSubgraphServer(def, listen);
  const http = createHttpServer(server.handle, def.logger);
  const port = await listenOn(http, listen.host, listen.port);
  const url = `http://${listen.host}:${port}`;
  def.logger.info({ url, port, graphql: `${url}/graphql` }, 'listening');
  return {
    url,
    port,
    async close() {
      await closeServer(http);
      await server.apollo.stop();
      await def.onClose?.();
      await stopTracing();
    },
  };
}
