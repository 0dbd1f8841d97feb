import { z } from 'zod';
import { type Settings, commonSettings, settingTypes } from '../../kit/config';

/** Settings every subgraph process reads; each subgraph adds its own. */
export function subgraphSettings(defaultPort: number) {
  return {
    ...commonSettings,
    port: { env: 'TAILOR_PORT', flag: 'port', schema: settingTypes.port(defaultPort), doc: `Port to listen on (0 picks a free one).` },
    dataDir: { env: 'TAILOR_DATA_DIR', flag: 'data-dir', schema: settingTypes.string('data'), doc: 'Folder of the SQLite databases.' },
    seed: {
      env: 'TAILOR_SEED',
      flag: 'seed',
      schema: z.enum(['demo', 'none'], { message: 'must be demo or none' }).default('demo'),
      doc: 'Seed an empty database with the demo data set (`demo`) or leave it empty (`none`).',
    },
    demoScale: {
      env: 'TAILOR_DEMO_SCALE',
      schema: z.enum(['full', 'small'], { message: 'must be full or small' }).default('full'),
      doc: '`full`: 3,000 products, 20,000 users, a month of events. `small`: a quick one for tests.',
    },
    cache: { env: 'TAILOR_CACHE', schema: settingTypes.boolean(true), doc: 'LRU caches of non-critical fields on or off.' },
    cacheMaxEntries: { env: 'TAILOR_CACHE_MAX_ENTRIES', schema: settingTypes.positiveInt(50_000), doc: 'Entries per LRU cache.' },
    batching: { env: 'TAILOR_BATCHING', schema: settingTypes.boolean(true), doc: 'DataLoader batching on or off.' },
    dbSync: {
      env: 'TAILOR_DB_SYNC',
      schema: z.enum(['FULL', 'NORMAL'], { message: 'must be FULL or NORMAL' }).default('FULL'),
      doc: 'SQLite `synchronous`: FULL survives power loss, NORMAL a killed process.',
    },
    ingestMaxItems: { env: 'TAILOR_INGEST_MAX_ITEMS', schema: settingTypes.positiveInt(5_000), doc: 'Most items in one ingest batch (413 / BATCH_TOO_LARGE above).' },
    ingestMaxBytes: { env: 'TAILOR_INGEST_MAX_BYTES', schema: settingTypes.positiveInt(4 * 1024 * 1024), doc: 'Largest `/ingest/*` body in bytes (413 above).' },
    maxClockSkewSeconds: {
      env: 'TAILOR_MAX_CLOCK_SKEW_SECONDS',
      schema: settingTypes.nonNegativeInt(300),
      doc: 'How far in the future an ingested timestamp (`observedAt`, `occurredAt`) may be, for other systems\' clock skew; later ones are refused.',
    },
    maxBodyBytes: {
      env: 'TAILOR_SUBGRAPH_MAX_BODY_BYTES',
      schema: settingTypes.positiveInt(4 * 1024 * 1024),
      doc: 'Largest `/graphql` body in bytes (413 above). The gateway\'s largest, for a 500-recipient campaign batch, is about 0.4 MB.',
    },
  } satisfies Settings;
}
