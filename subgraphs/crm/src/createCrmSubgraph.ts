import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'graphql';
import { readCachePolicy } from '../../../schema/cachePolicy';
import { type Clock, systemClock } from '../../kit/clock';
import { openDatabase } from '../../kit/database';
import { demoUsers } from '../../kit/demoData';
import { createEntityCache } from '../../kit/entityCache';
import { createIngestor } from '../../kit/ingest';
import { createLogger, type Logger } from '../../kit/logger';
import { createSubgraphMetrics } from '../../kit/metrics';
import { DEMO_SCALES } from '../../kit/settings';
import type { SubgraphDefinition } from '../../kit/subgraphServer';
import type { CrmConfig } from './config';
import { createCrmLoaders } from './crmLoaders';
import { type CrmContext, crmResolvers } from './crmResolvers';
import { type CrmStore, type UserProfile, createCrmStore, userInputSchema } from './crmStore';

export const CRM_SCHEMA_FILE = join(__dirname, '..', 'schema.graphql');

/** The CRM subgraph, built but not listening, with its store and cache exposed for tests. */
export interface CrmSubgraph {
  definition: SubgraphDefinition<CrmContext>;
  store: CrmStore;
  profiles: ReturnType<typeof createEntityCache<string, UserProfile>>;
}

/** Opens (and on first start seeds) the CRM database and builds the subgraph definition. */
export function createCrmSubgraph(config: CrmConfig, options: { clock?: Clock; logger?: Logger } = {}): CrmSubgraph {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger('crm', config.logLevel);
  const metrics = createSubgraphMetrics('crm');
  const typeDefs = parse(readFileSync(CRM_SCHEMA_FILE, 'utf8'));
  const policy = readCachePolicy(typeDefs);
  const db = openDatabase(config.dataDir === ':memory:' ? ':memory:' : join(config.dataDir, 'crm.db'), metrics.dbStatements, config.dbSync);
  const store = createCrmStore(db, clock);
  if (config.seed === 'demo' && store.isEmpty()) {
    const started = Date.now();
    const users = demoUsers(DEMO_SCALES[config.demoScale]);
    store.seed(users);
    logger.info({ users: users.length, ms: Date.now() - started }, 'seeded demo users');
  }
  const profiles = createEntityCache<string, UserProfile>({
    name: 'crm_user_profile',
    maxEntries: config.cacheMaxEntries,
    ttlMs: policy.typeTtlMs('User'),
    enabled: config.cache,
    requests: metrics.cacheRequests,
    clock,
  });
  const ingestUsers = createIngestor({
    kind: 'users',
    itemSchema: userInputSchema,
    check: (users) => store.findUserConflicts(users),
    apply: (users) => {
      const result = store.upsertUsers(users);
      // Dropped after the commit: the very next read sees the new profile.
      for (const user of users) profiles.delete(user.id);
      return result;
    },
    maxItems: config.ingestMaxItems,
    maxBodyBytes: config.ingestMaxBytes,
    metrics,
  });
  const definition: SubgraphDefinition<CrmContext> = {
    name: 'crm',
    typeDefs,
    resolvers: crmResolvers,
    createContext: () => ({
      loaders: createCrmLoaders(store, profiles, { batching: config.batching }),
      store,
      ingestUsers,
    }),
    ingestors: [ingestUsers],
    metrics,
    logger,
    maxBodyBytes: config.maxBodyBytes,
    onClose: () => db.close(),
  };
  return { definition, store, profiles };
}
