import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer, type BaseContext } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginUsageReportingDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginSchemaReportingDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper';
import type { DocumentNode } from 'graphql';
import { type CachePolicy, readCachePolicy } from '../../schema/cachePolicy';
import { createCacheControlPlugin } from './cacheControlPlugin';
import { ErrorCode, formatClientError } from './errors';
import { handleGraphQLRequest, sendError, sendJson } from './http';
import type { Ingestor } from './ingest';
import type { Logger } from './logger';
import type { SubgraphMetrics } from './metrics';

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
  /** Called once the HTTP server has stopped, e.g. to close the database. */
  onClose?: () => void | Promise<void>;
}

/** A service listening on a port. */
export interface RunningService {
  url: string;
  port: number;
  /** Stops accepting connections, lets in-flight requests finish, then releases resources. */
  close(): Promise<void>;
}

/** A subgraph's Apollo Server, built but not listening: tests can execute operations on it directly. */
export interface SubgraphServer<TContext extends BaseContext> {
  apollo: ApolloServer<TContext>;
  policy: CachePolicy;
  /** Serves one HTTP request: `/graphql`, `/ingest/*`, `/health`, `/metrics`. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

/** Builds a subgraph's server from its definition and starts Apollo (no port is opened). */
export async function createSubgraphServer<TContext extends BaseContext>(def: SubgraphDefinition<TContext>): Promise<SubgraphServer<TContext>> {
  const policy = readCachePolicy(def.typeDefs);
  const apollo = new ApolloServer<TContext>({
    schema: buildSubgraphSchema({ typeDefs: def.typeDefs, resolvers: def.resolvers as GraphQLResolverMap<unknown> }),
    includeStacktraceInErrorResponses: false,
    formatError: (formatted) => formatClientError(formatted, (original) => def.logger.error({ err: original }, 'resolver failed')),
    plugins: [
      ApolloServerPluginCacheControlDisabled(),
      ApolloServerPluginLandingPageDisabled(),
      ApolloServerPluginUsageReportingDisabled(),
      ApolloServerPluginSchemaReportingDisabled(),
      ApolloServerPluginInlineTraceDisabled(),
      createCacheControlPlugin(() => policy),
    ],
  });
  await apollo.start();
  const ingestRoutes = new Map(def.ingestors.map((i) => [`/ingest/${i.kind}`, i]));

  async function route(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (path === '/graphql') {
      return handleGraphQLRequest(apollo, req, res, { maxBodyBytes: def.maxBodyBytes, context: async () => def.createContext() });
    }
    const ingestor = ingestRoutes.get(path);
    if (ingestor) {
      if (req.method !== 'POST') return sendError(res, 405, ErrorCode.BAD_USER_INPUT, `Use POST to send a ${ingestor.kind} batch.`);
      return ingestor.handleHttp(req, res);
    }
    if (path === '/health') return sendJson(res, 200, { status: 'ok', service: def.name }, { 'cache-control': 'no-store' });
    if (path === '/metrics') {
      res.writeHead(200, { 'content-type': def.metrics.registry.contentType, 'cache-control': 'no-store' });
      res.end(await def.metrics.registry.metrics());
      return;
    }
    const known = ['/graphql', ...ingestRoutes.keys(), '/health', '/metrics'];
    sendError(res, 404, 'NOT_FOUND', `No route ${path}. Routes: ${known.join(', ')}.`);
  }

  return {
    apollo,
    policy,
    async handle(req, res) {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      const routeLabel = path.startsWith('/ingest/') || path === '/graphql' || path === '/health' || path === '/metrics' ? path : 'other';
      const stop = def.metrics.httpDuration.startTimer({ route: routeLabel });
      try {
        await route(req, res, path);
      } catch (error) {
        def.logger.error({ err: error, path }, 'request failed');
        if (!res.headersSent) sendError(res, 500, ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error. The details are in the server log.');
        else res.end();
      } finally {
        stop({ status: String(res.statusCode) });
      }
    },
  };
}

/** Builds a subgraph's server and opens its port. Port 0 picks a free one. */
export async function startSubgraph<TContext extends BaseContext>(
  def: SubgraphDefinition<TContext>,
  listen: { host: string; port: number },
): Promise<RunningService> {
  const server = await createSubgraphServer(def);
  const http = createServer((req, res) => void server.handle(req, res));
  http.keepAliveTimeout = 65_000;
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
    },
  };
}

/** Opens `server` on `host:port` and resolves with the bound port. */
export function listenOn(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Stops accepting connections, waits for in-flight requests, then closes idle keep-alive sockets. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), 5_000).unref();
  });
}
