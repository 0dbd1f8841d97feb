import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type DocumentNode, parse } from 'graphql';
import { type CachePolicy, readCachePolicy } from '../../kit/cachePolicy';
import { type Clock, systemClock } from '../../kit/clock';
import { type Database, type SyncMode, openDatabase } from './database';
import type { EntityCacheOptions } from './entityCache';
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
  /** Options shared by every cache of the subgraph; add `name` and `ttlMs` from `policy`. */
  cacheOptions: Omit<EntityCacheOptions, 'name' | 'ttlMs'>;
}

/** The settings `openSubgraphBase` reads. */
export interface SubgraphBaseConfig {
  dataDir: string;
  dbSync: SyncMode;
  logLevel: string;
  cache: boolean;
  cacheMaxEntries: number;
}

/**
 * Opens a subgraph's logger, metrics, schema and database (`<dataDir>/<name>.db`, or in memory when
 * `dataDir` is `:memory:`).
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
  return {
    clock,
    logger: options.logger ?? createLogger(name, config.logLevel),
    metrics,
    typeDefs,
    policy: readCachePolicy(typeDefs),
    db: openDatabase(file, metrics.dbStatements, config.dbSync),
    cacheOptions: { maxEntries: config.cacheMaxEntries, enabled: config.cache, requests: metrics.cacheRequests, clock },
  };
}
