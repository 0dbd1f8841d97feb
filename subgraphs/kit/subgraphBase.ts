import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper';
import { type Span, context, trace } from '@opentelemetry/api';
import { type DocumentNode, GraphQLScalarType, parse } from 'graphql';
import { recordSpanError, tracer, tracingEnabled } from '../../kit/tracing';
import { type CachePolicy, readCachePolicy } from '../../kit/cachePolicy';
import { type Clock, systemClock } from '../../kit/clock';
import { type Database, type SyncMode, openDatabase } from './database';
import type { EntityCacheOptions } from './entityCache';
import { type CacheTier, openCacheTier } from './cacheTier';
import { type IngestAuth, type IngestAuthConfig, createIngestAuth } from './ingestAuth';
import { type Logger, createLogger } from '../../kit/logger';
import { type SubgraphMetrics, createSubgraphMetrics } from './subgraphMetrics';

/** What every subgraph opens at start-up, before its own store and resolvers. */
export interface SubgraphBase {
  clock: Clock;
  logger: Logger;
  metrics: SubgraphMetrics;
  /** The subgraph's SDL, parsed. */
  typeDefs: DocumentNode;
  /** The `@cacheControl` declarations of that SDL: the TTLs of the subgraph's caches. */
  policy: CachePolicy;
  db: Database;
  /** Who may write through `POST /ingest/*`: give it to every ingestor of the subgraph. */
  ingestAuth: IngestAuth;
  /** Options shared by every cache of the subgraph; add `name` and `ttlMs` from `policy`. */
  cacheOptions: Omit<EntityCacheOptions, 'name' | 'ttlMs'>;
  /** With `TAILOR_REDIS_URL` (and caches on): the Redis tier under every cache; close it with the subgraph. */
  cacheTier?: CacheTier;
}

/** The settings `openSubgraphBase` reads. */
export interface SubgraphBaseConfig extends IngestAuthConfig {
  dataDir: string;
  dbSync: SyncMode;
  logLevel: string;
  cache: boolean;
  cacheMaxEntries: number;
  redisUrl?: string;
  redisPrefix: string;
}

/**
 * Opens a subgraph's logger, metrics, schema and database (`<dataDir>/<name>.db`, or in memory when
 * `dataDir` is `:memory:`), and the gate of its `POST /ingest/*` routes.
 */
export function openSubgraphBase(
  name: string,
  schemaFile: string,
  config: SubgraphBaseConfig,
  options: { clock?: Clock; logger?: Logger } = {},
): SubgraphBase {
  const clock = options.clock ?? systemClock;
  const metrics = createSubgraphMetrics(name);
  const typeDefs = parse(readFileSync(schemaFile, 'utf8'));
  const file = config.dataDir === ':memory:' ? ':memory:' : join(config.dataDir, `${name}.db`);
  const logger = options.logger ?? createLogger(name, config.logLevel);
  const db = openDatabase(file, metrics.dbStatements, config.dbSync);
  const cacheTier =
    config.redisUrl && config.cache ? openCacheTier({ url: config.redisUrl, prefix: config.redisPrefix, service: name, registry: metrics.registry, logger }) : undefined;
  return {
    clock,
    logger,
    metrics,
    typeDefs,
    policy: readCachePolicy(typeDefs),
    db,
    ingestAuth: createIngestAuth(db, config, logger),
    cacheOptions: { maxEntries: config.cacheMaxEntries, enabled: config.cache, requests: metrics.cacheRequests, clock, tier: cacheTier },
    cacheTier,
  };
}

/** A GraphQL response path: what `info.path` is (graphql-js `Path`). */
interface ResponsePath {
  readonly prev: ResponsePath | undefined;
  readonly key: string | number;
}

/**
 * With tracing on, a span `resolve <Type>.<field>` for each field the subgraph resolves with code of
 * its own (a function in `resolvers`, and `Query._entities`, which runs `__resolveReference`), child
 * of the span of the nearest such field above it, else of the request's span. Fields read off their
 * parent object get none. With tracing off the plugin adds no hook, so Apollo wraps no resolver.
 */
export function resolverSpanPlugin<TContext extends BaseContext>(resolvers: GraphQLResolverMap<TContext>): ApolloServerPlugin<TContext> {
  const traced = new Set<string>(['Query._entities']);
  for (const [type, fields] of Object.entries(resolvers)) {
    if (fields instanceof GraphQLScalarType) continue;
    for (const [field, resolver] of Object.entries(fields)) {
      if (field.startsWith('__')) continue;
      if (typeof resolver === 'function' || (typeof resolver === 'object' && resolver !== null && typeof resolver.resolve === 'function')) traced.add(`${type}.${field}`);
    }
  }
  return {
    async requestDidStart() {
      if (!tracingEnabled()) return;
      return {
        async executionDidStart() {
          /** The span of each traced field, by its response path (graphql-js passes a child field the same path object). */
          const spans = new WeakMap<ResponsePath, Span>();
          return {
            willResolveField({ info }) {
              const name = `${info.parentType.name}.${info.fieldName}`;
              if (!traced.has(name)) return;
              let parent: Span | undefined;
              for (let p: ResponsePath | undefined = info.path.prev; p && !parent; p = p.prev) parent = spans.get(p);
              const keys: (string | number)[] = [];
              for (let p: ResponsePath | undefined = info.path; p; p = p.prev) keys.push(p.key);
              const span = tracer().startSpan(
                `resolve ${name}`,
                { attributes: { 'graphql.field.name': info.fieldName, 'graphql.parent.type': info.parentType.name, 'graphql.field.path': keys.reverse().join('.') } },
                parent ? trace.setSpan(context.active(), parent) : context.active(),
              );
              spans.set(info.path, span);
              return (error) => {
                if (error) recordSpanError(span, error);
                span.end();
              };
            },
          };
        },
      };
    },
  };
}
