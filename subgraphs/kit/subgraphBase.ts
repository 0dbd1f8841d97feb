import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper';
import { type Span, context, trace } from '@opentelemetry/api';
import { type DocumentNode, GraphQLScalarType, parse } from 'graphql';
import { recordSpanError, tracer, tracingEnabled } from '../../kit/tracing';
import { type CachePolicy, readCachePolicy } from '../../kit/cachePolicy';
import { type Clock, systemClock } from '../../kit/clock';
import { type SyncMode, openDatabase } from './database';
import { migratePostgres, migrateSqlite, readMigrations } from './migrations';
import { openPostgres, redactUrl } from './postgres';
import type { StoreBackend } from './storeBackend';
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
  /** Its database, migrated: SQLite under `dataDir`, or PostgreSQL with `TAILOR_DATABASE_URL`. */
  backend: StoreBackend;
  /** Who may write through `POST /ingest/*`: give it to every ingestor of the subgraph. */
  ingestAuth: IngestAuth;
  /** Options shared by every cache of the subgraph; add `name` and `ttlMs` from `policy`. */
  cacheOptions: Omit<EntityCacheOptions, 'name' | 'ttlMs'>;
  /** With `TAILOR_REDIS_URL` (and caches on): the Redis tier under every cache; close it with the subgraph. */
  cacheTier?: CacheTier;
  /** Closes the database and the cache tier: call it from the definition's `onClose`. */
  close(): Promise<void>;
}

/** The settings `openSubgraphBase` reads. */
export interface SubgraphBaseConfig extends IngestAuthConfig {
  dataDir: string;
  dbSync: SyncMode;
  databaseUrl?: string;
  databaseSchema?: string;
  databasePoolSize: number;
  logLevel: string;
  cache: boolean;
  cacheMaxEntries: number;
  redisUrl?: string;
  redisPrefix: string;
}

/** The kit's own tables (the `webhook-id`s of signed batches), migrated beside each subgraph's. */
const KIT_MIGRATIONS = join(__dirname, 'migrations');

/**
 * Opens a subgraph's logger, metrics, schema and database, and the gate of its `POST /ingest/*`
 * routes. The database is PostgreSQL when `databaseUrl` is set (schema `databaseSchema`, default the
 * subgraph's name with `_` for `-`), else SQLite at `<dataDir>/<name>.db` (in memory when `dataDir` is `:memory:`).
 * The kit's migrations and the subgraph's (`<migrations>/sqlite/` or `<migrations>/postgres/`) are
 * applied first; a database migrated by a newer build, or one that cannot be reached, throws, and the
 * process exits non-zero.
 */
export async function openSubgraphBase(
  name: string,
  files: { schema: string; migrations: string },
  config: SubgraphBaseConfig,
  options: { clock?: Clock; logger?: Logger } = {},
): Promise<SubgraphBase> {
  const clock = options.clock ?? systemClock;
  const metrics = createSubgraphMetrics(name);
  const typeDefs = parse(readFileSync(files.schema, 'utf8'));
  const logger = options.logger ?? createLogger(name, config.logLevel);
  const backend = await openBackend(name, files.migrations, config, metrics, logger);
  const cacheTier =
    config.redisUrl && config.cache ? openCacheTier({ url: config.redisUrl, prefix: config.redisPrefix, service: name, errors: metrics.cacheTierErrors, logger }) : undefined;
  return {
    clock,
    logger,
    metrics,
    typeDefs,
    policy: readCachePolicy(typeDefs),
    backend,
    ingestAuth: createIngestAuth(backend, config, logger),
    cacheOptions: { maxEntries: config.cacheMaxEntries, enabled: config.cache, requests: metrics.cacheRequests, clock, tier: cacheTier },
    cacheTier,
    async close() {
      if (backend.kind === 'postgres') await backend.db.close();
      else backend.db.close();
      await cacheTier?.close();
    },
  };
}

/**
 * After an erasure on SQLite, empties the WAL into the database file (`wal_checkpoint(TRUNCATE)`), so no
 * older image of a page holds the erased rows. On PostgreSQL the deleted rows' space is reclaimed by
 * autovacuum, as for any delete.
 */
export function checkpointAfterErasure(backend: StoreBackend, logger: Logger): void {
  if (backend.kind !== 'sqlite') return;
  if (!backend.db.checkpoint()) logger.warn("an erased user's old pages stay in the WAL until the next checkpoint: another connection reads the database");
}

/** Opens and migrates the subgraph's database. */
async function openBackend(name: string, migrations: string, config: SubgraphBaseConfig, metrics: SubgraphMetrics, logger: Logger): Promise<StoreBackend> {
  if (config.databaseUrl) {
    const db = await openPostgres({ url: config.databaseUrl, schema: config.databaseSchema ?? name.replace(/-/g, '_'), poolSize: config.databasePoolSize, statements: metrics.dbStatements, seconds: metrics.dbSeconds, logger });
    try {
      for (const [scope, root] of [['kit', KIT_MIGRATIONS], [name, migrations]] as const) {
        const report = await migratePostgres(db, scope, readMigrations(root, 'postgres'));
        if (report.applied.length > 0) logger.info({ scope, applied: report.applied, version: report.version, schema: db.schema }, 'database migrated');
      }
    } catch (error) {
      await db.close();
      throw error;
    }
    logger.info({ backend: 'postgres', database: redactUrl(config.databaseUrl), schema: db.schema, poolSize: config.databasePoolSize }, 'database open');
    return { kind: 'postgres', db };
  }
  const file = config.dataDir === ':memory:' ? ':memory:' : join(config.dataDir, `${name}.db`);
  const db = openDatabase(file, metrics.dbStatements, config.dbSync, metrics.dbSeconds);
  try {
    for (const [scope, root] of [['kit', KIT_MIGRATIONS], [name, migrations]] as const) {
      const report = migrateSqlite(db, scope, readMigrations(root, 'sqlite'));
      if (report.applied.length > 0 && file !== ':memory:') logger.info({ scope, applied: report.applied, version: report.version, file }, 'database migrated');
    }
  } catch (error) {
    db.close();
    throw error;
  }
  return { kind: 'sqlite', db };
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
