import { join } from 'node:path';
import type { Clock } from '../../../kit/clock';
import { ConfigError } from '../../../kit/config';
import { demoEvents } from '../../../demo/demoData';
import { formatDateTime } from '../../kit/dateTime';
import { createEntityCache } from '../../kit/entityCache';
import { createIngestor } from '../../kit/ingest';
import type { Logger } from '../../../kit/logger';
import { DEMO_SCALES } from '../../../demo/demoData';
import { checkpointAfterErasure, openSubgraphBase } from '../../kit/subgraphBase';
import type { SubgraphDefinition } from '../../kit/subgraphServer';
import { createBehaviorLoaders } from './behaviorLoaders';
import { type BehaviorContext, behaviorResolvers } from './behaviorResolvers';
import { type BehaviorStore, createBehaviorStore, eventInputSchema } from './behaviorStore';
import { type BehaviorConfig, signalSettingsOf } from './config';
import { type EventStream, type EventStreamOptions, createEventStreamMetrics, startEventStream } from './eventStream';
import type { CoView, SignalSettings } from './signals';

export const BEHAVIOR_SCHEMA_FILE = join(__dirname, '..', 'schema.graphql');
export const BEHAVIOR_MIGRATIONS = join(__dirname, '..', 'migrations');

/** The behavior subgraph, built but not listening, with its store and caches exposed for tests. */
export interface BehaviorSubgraph {
  definition: SubgraphDefinition<BehaviorContext>;
  store: BehaviorStore;
  coViews: ReturnType<typeof createEntityCache<string, { list: CoView[] }>>;
  /**
   * Starts consuming the NATS JetStream events (`TAILOR_NATS_*`); `undefined` when `TAILOR_NATS_URL`
   * is unset. Closing the subgraph closes every consumer started, before the database.
   */
  startEventStream(options?: Pick<EventStreamOptions, 'lagRefreshMs' | 'retryDelayMs'>): Promise<EventStream | undefined>;
}

/** Opens (and on first start seeds) the behaviour database and builds the subgraph definition. */
export async function createBehaviorSubgraph(config: BehaviorConfig, options: { clock?: Clock; logger?: Logger } = {}): Promise<BehaviorSubgraph> {
  const base = await openSubgraphBase('behavior', { schema: BEHAVIOR_SCHEMA_FILE, migrations: BEHAVIOR_MIGRATIONS }, config, options);
  const { clock, logger, metrics, typeDefs, policy, backend, ingestAuth, cacheOptions } = base;
  const store = createBehaviorStore(backend, { sessionMs: config.sessionMinutes * 60_000 });
  if (config.seed === 'demo' && (await store.isEmpty())) {
    const started = Date.now();
    const count = await store.seed(demoEvents(DEMO_SCALES[config.demoScale], clock.now()));
    logger.info({ events: count, ms: Date.now() - started }, 'seeded demo events');
  }
  const signals: SignalSettings = signalSettingsOf(config);
  const coViews = createEntityCache<string, { list: CoView[] }>({ name: 'behavior_coviews', ttlMs: policy.fieldTtlMs('Product', 'coViewedSkus'), ...cacheOptions });
  const trendingCache = createEntityCache<string, { ranking: { sku: string; views: number }[] }>({
    name: 'behavior_trending',
    ttlMs: policy.fieldTtlMs('Query', 'trendingRanking'),
    ...cacheOptions,
  });
  const ingestEvents = createIngestor({
    kind: 'events',
    itemSchema: eventInputSchema(clock, config.maxClockSkewSeconds * 1000),
    apply: (events) => store.trackEvents(events),
    applyGroup: (batches) => store.trackEventBatches(batches),
    maxItems: config.ingestMaxItems,
    maxBodyBytes: config.ingestMaxBytes,
    metrics,
    auth: ingestAuth,
  });
  const streamMetrics = createEventStreamMetrics(metrics.registry);
  const eventStreams = new Set<EventStream>();
  async function startBehaviorEventStream(options: Pick<EventStreamOptions, 'lagRefreshMs' | 'retryDelayMs'> = {}) {
    if (!config.natsUrl) return undefined;
    if (config.natsBatchSize > config.ingestMaxItems) {
      throw new ConfigError([`TAILOR_NATS_BATCH_SIZE=${config.natsBatchSize}: must be at most TAILOR_INGEST_MAX_ITEMS (${config.ingestMaxItems})`]);
    }
    const stream = await startEventStream({
      servers: config.natsUrl,
      stream: config.natsStream,
      subject: config.natsSubject,
      consumer: config.natsConsumer,
      deadLetterSubject: config.natsDeadLetterSubject,
      batchSize: config.natsBatchSize,
      maxAckPending: config.natsMaxAckPending,
      ingestor: ingestEvents,
      metrics: streamMetrics,
      logger,
      ...options,
    });
    eventStreams.add(stream);
    return stream;
  }
  const definition: SubgraphDefinition<BehaviorContext> = {
    name: 'behavior',
    typeDefs,
    resolvers: behaviorResolvers,
    createContext: () => {
      const now = clock.now();
      return {
        loaders: createBehaviorLoaders(store, coViews, { since: now - signals.windowMs, until: now }, { batching: config.batching }),
        store,
        now,
        signals,
        trendingCache,
        ingestEvents,
      };
    },
    ingestors: [ingestEvents],
    metrics,
    logger,
    maxBodyBytes: config.maxBodyBytes,
    privacy: {
      erase: async (userId) => {
        // Behavior caches nothing per user: co-view lists and the trending ranking are aggregates
        // over all users, keyed by product, and name no one.
        const deleted = await store.eraseUser(userId);
        checkpointAfterErasure(backend, logger);
        return deleted;
      },
      export: async (userId) => {
        const events = await store.getAllEventsByUserId(userId);
        return events.length === 0 ? {} : { events: events.map((e) => ({ ...e, occurredAt: formatDateTime(e.occurredAt) })) };
      },
    },
    clock,
    onClose: async () => {
      // The consumers apply what they were delivered, and flush its acks, while the database is open.
      await Promise.all([...eventStreams].map((s) => s.close()));
      await base.close();
    },
  };
  return { definition, store, coViews, startEventStream: startBehaviorEventStream };
}
