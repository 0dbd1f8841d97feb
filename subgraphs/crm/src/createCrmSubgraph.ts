import { join } from 'node:path';
import type { Clock } from '../../../kit/clock';
import { demoUsers } from '../../../demo/demoData';
import { createEntityCache } from '../../kit/entityCache';
import { createIngestor } from '../../kit/ingest';
import type { Logger } from '../../../kit/logger';
import { DEMO_SCALES } from '../../../demo/demoData';
import { checkpointAfterErasure, openSubgraphBase } from '../../kit/subgraphBase';
import type { SubgraphDefinition } from '../../kit/subgraphServer';
import type { CrmConfig } from './config';
import { createCrmLoaders } from './crmLoaders';
import { type CrmContext, crmResolvers } from './crmResolvers';
import { type CrmStore, type UserProfile, createCrmStore, userInputSchema } from './crmStore';

export const CRM_SCHEMA_FILE = join(__dirname, '..', 'schema.graphql');
export const CRM_MIGRATIONS = join(__dirname, '..', 'migrations');

/** The CRM subgraph, built but not listening, with its store and cache exposed for tests. */
export interface CrmSubgraph {
  definition: SubgraphDefinition<CrmContext>;
  store: CrmStore;
  profiles: ReturnType<typeof createEntityCache<string, UserProfile>>;
}

/** Opens (and on first start seeds) the CRM database and builds the subgraph definition. */
export async function createCrmSubgraph(config: CrmConfig, options: { clock?: Clock; logger?: Logger } = {}): Promise<CrmSubgraph> {
  const base = await openSubgraphBase('crm', { schema: CRM_SCHEMA_FILE, migrations: CRM_MIGRATIONS }, config, options);
  const { clock, logger, metrics, typeDefs, policy, backend, ingestAuth, cacheOptions } = base;
  const store = createCrmStore(backend, clock);
  if (config.seed === 'demo' && (await store.isEmpty())) {
    const started = Date.now();
    const users = demoUsers(DEMO_SCALES[config.demoScale]);
    await store.seed(users);
    logger.info({ users: users.length, ms: Date.now() - started }, 'seeded demo users');
  }
  const profiles = createEntityCache<string, UserProfile>({ name: 'crm_user_profile', ttlMs: policy.typeTtlMs('User'), ...cacheOptions });
  const ingestUsers = createIngestor({
    kind: 'users',
    itemSchema: userInputSchema,
    check: (users) => store.findUserConflicts(users),
    apply: async (users) => {
      const result = await store.upsertUsers(users);
      // Dropped after the commit: the very next read sees the new profile.
      for (const user of users) profiles.delete(user.id);
      return result;
    },
    maxItems: config.ingestMaxItems,
    maxBodyBytes: config.ingestMaxBytes,
    metrics,
    auth: ingestAuth,
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
    privacy: {
      erase: async (userId) => {
        const deleted = await store.eraseUser(userId);
        // The profile cache is the CRM's only cache of a user (userByEmail reads the table each time).
        profiles.delete(userId);
        checkpointAfterErasure(backend, logger);
        return deleted;
      },
      export: async (userId) => ({ ...(await store.exportUser(userId)) }),
    },
    clock,
    onClose: () => base.close(),
  };
  return { definition, store, profiles };
}
