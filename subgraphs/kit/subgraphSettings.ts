import { z } from 'zod';
import { type Settings, commonSettings, settingTypes } from '../../kit/config';
import { ingestSettingTypes } from './ingestAuth';
import { subgraphSecretSchema } from '../../kit/subgraphCredential';
import { redisSettings } from '../../kit/redis';

/** Settings every subgraph process reads; each subgraph adds its own. */
export function subgraphSettings(defaultPort: number) {
  return {
    ...commonSettings,
    port: { env: 'TAILOR_PORT', flag: 'port', schema: settingTypes.port(defaultPort), doc: `Port to listen on (0 picks a free one).` },
    dataDir: { env: 'TAILOR_DATA_DIR', flag: 'data-dir', schema: settingTypes.string('data'), doc: 'Folder of the SQLite databases (unless `TAILOR_DATABASE_URL` is set).' },
    databaseUrl: {
      env: 'TAILOR_DATABASE_URL',
      schema: z.url({ protocol: /^postgres(ql)?$/, message: 'must be a postgres:// or postgresql:// URL' }).optional(),
      doc: 'PostgreSQL the subgraph keeps its data in, `postgres://user[:password]@host:port/database`, each subgraph in its own schema (`TAILOR_DATABASE_SCHEMA`); replicas of a subgraph share it. Unset: an embedded SQLite file under `TAILOR_DATA_DIR`.',
    },
    databaseSchema: {
      env: 'TAILOR_DATABASE_SCHEMA',
      schema: z
        .string()
        .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case SQL name: letters, digits and _')
        .optional(),
      doc: 'The PostgreSQL schema of the subgraph\'s tables, created if missing. Default: the subgraph\'s name, `-` written `_` (`crm`, `stock`, `behavior`).',
    },
    databasePoolSize: {
      env: 'TAILOR_DATABASE_POOL_SIZE',
      schema: settingTypes.positiveInt(10, 200),
      doc: 'Most PostgreSQL connections one subgraph process holds; a request waits for a free one. Size it so every replica together stays under the server\'s `max_connections`.',
    },
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
    ...redisSettings,
    batching: { env: 'TAILOR_BATCHING', schema: settingTypes.boolean(true), doc: 'DataLoader batching on or off.' },
    dbSync: {
      env: 'TAILOR_DB_SYNC',
      schema: z.enum(['FULL', 'NORMAL'], { message: 'must be FULL or NORMAL' }).default('FULL'),
      doc: 'SQLite `synchronous`: FULL survives power loss, NORMAL a killed process.',
    },
    ingestMaxItems: { env: 'TAILOR_INGEST_MAX_ITEMS', schema: settingTypes.positiveInt(5_000), doc: 'Most items in one ingest batch (413 / BATCH_TOO_LARGE above).' },
    ingestMaxBytes: { env: 'TAILOR_INGEST_MAX_BYTES', schema: settingTypes.positiveInt(4 * 1024 * 1024), doc: 'Largest `/ingest/*` body in bytes (413 above).' },
    ingestWebhookSecrets: {
      env: 'TAILOR_INGEST_WEBHOOK_SECRET',
      schema: ingestSettingTypes.webhookSecrets(),
      requiredInProduction: { why: '/ingest/* must accept only signed batches or an ingest key', or: 'ingestKeys' },
      doc: 'Standard Webhooks secret(s) `/ingest/*` batches are signed with, `whsec_<base64>` (at least 24 bytes: `echo "whsec_$(openssl rand -base64 32)"`); several, comma-separated, while one is rotated out. Set (or `TAILOR_INGEST_KEYS`): unsigned batches get 401 `UNAUTHENTICATED`. Neither set: every batch is accepted, with a warning at start-up.',
    },
    ingestKeys: {
      env: 'TAILOR_INGEST_KEYS',
      schema: ingestSettingTypes.keyHashes(),
      doc: 'The sha256 (64 hex digits) of each ingest key a sender may give as `Authorization: Bearer <key>` instead of signing, comma-separated; never the key itself. Make a key with `openssl rand -hex 32`, its hash with `sha256sum` (see Ingestion).',
    },
    ingestToleranceSeconds: {
      env: 'TAILOR_INGEST_TOLERANCE_SECONDS',
      schema: ingestSettingTypes.tolerance(),
      doc: 'How far a signed batch\'s `webhook-timestamp` may be from this process\'s clock, either way (1..300 s; 401 outside it). Each `webhook-id` is applied once within it; a replay is answered as all duplicates.',
    },
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
    subgraphSecret: {
      env: 'TAILOR_SUBGRAPH_SECRET',
      schema: subgraphSecretSchema(),
      requiredInProduction: { why: '/graphql must answer the gateway only' },
      doc: 'Shared secret of the gateway credential (at least 32 characters), or `kid=secret,kid2=secret2` to rotate keys (the first signs, any is accepted). Set: `/graphql` answers only requests signed with it (401 `UNAUTHENTICATED` otherwise). Unset: unsigned requests are accepted, with a warning at start-up. `npm start` sets it for every process.',
    },
    credentialToleranceSeconds: {
      env: 'TAILOR_SUBGRAPH_CREDENTIAL_TOLERANCE_SECONDS',
      schema: settingTypes.positiveInt(30, 3600),
      doc: 'How far a gateway credential\'s timestamp may be from this process\'s clock, either way, in seconds; each credential is accepted once within it.',
    },
  } satisfies Settings;
}
