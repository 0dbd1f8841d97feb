/**
 * The templates of `npm run new-subgraph`: every file of a partner subgraph, in the same shape as the
 * built-in ones (`subgraphs/crm/`), as text. `scripts/newSubgraph.ts` validates the name, writes these
 * files, registers the subgraph and recomposes the supergraph.
 */

/** The spellings of a subgraph's name that its files need, e.g. for `gift-cards`. */
export interface SubgraphNames {
  /** The registry name and folder: `gift-cards`. */
  name: string;
  /** Types and functions: `GiftCards` (`GiftCardsInfo`, `createGiftCardsSubgraph`). */
  pascal: string;
  /** The GraphQL field on `User` and TypeScript variables: `giftCards`. */
  camel: string;
  /** SQL identifiers: `gift_cards`. */
  snake: string;
  /** The default port of its process, also the port of its routing URL. */
  port: number;
}

/** Derives every spelling of `name` (lower-case letters, digits and single hyphens). */
export function subgraphNames(name: string, port: number): SubgraphNames {
  const words = name.split('-').filter(Boolean);
  const pascal = words.map((w) => w[0].toUpperCase() + w.slice(1)).join('');
  return { name, pascal, camel: pascal[0].toLowerCase() + pascal.slice(1), snake: words.join('_'), port };
}

/** Where the generated files go, relative to the repository root. */
export function subgraphPaths(n: SubgraphNames) {
  const dir = `subgraphs/${n.name}`;
  return {
    dir,
    schema: `${dir}/schema.graphql`,
    config: `${dir}/src/config.ts`,
    store: `${dir}/src/${n.camel}Store.ts`,
    sqliteMigration: `${dir}/migrations/sqlite/001_initial.sql`,
    postgresMigration: `${dir}/migrations/postgres/001_initial.sql`,
    loaders: `${dir}/src/${n.camel}Loaders.ts`,
    resolvers: `${dir}/src/${n.camel}Resolvers.ts`,
    create: `${dir}/src/create${n.pascal}Subgraph.ts`,
    main: `${dir}/src/main.ts`,
    test: `tests/subgraphs/${n.name}.test.ts`,
  };
}

/** One line per generated file, saying what it is (the scaffold prints it; the docs say the same). */
export function describeFiles(n: SubgraphNames): [path: string, what: string][] {
  const p = subgraphPaths(n);
  return [
    [p.schema, `the schema: extends User with \`${n.camel}: ${n.pascal}Info\` (federation 2.9, @cacheControl, @requiresScopes)`],
    [p.config, 'its settings: the kit\'s (port, data dir, cache, batching…), default port ' + n.port],
    [p.store, `table ${n.snake}_info on SQLite or PostgreSQL; get${n.pascal}InfosByUserIds reads any number of users in one statement; delete${n.pascal}InfosByUserId erases one`],
    [p.sqliteMigration, 'the table, for SQLite (versioned: add 002_<name>.sql to change it)'],
    [p.postgresMigration, 'the same table, for PostgreSQL (TAILOR_DATABASE_URL)'],
    [p.loaders, 'the per-request DataLoader, read through an LRU cache'],
    [p.resolvers, `User.__resolveReference and User.${n.camel}`],
    [p.create, 'builds the subgraph: database, cache, ingestion (POST /ingest/' + n.name + '), privacy hook (POST /privacy/erase, /privacy/export)'],
    [p.main, `the process entry point (npm run start:${n.name})`],
    [p.test, 'its test: _entities answers the field in one SQL statement per batch'],
  ];
}

/** The contents of every generated file, by path relative to the repository root. */
export function renderSubgraphFiles(n: SubgraphNames): Record<string, string> {
  const p = subgraphPaths(n);
  return {
    [p.schema]: schemaFile(n),
    [p.config]: configFile(n),
    [p.store]: storeFile(n),
    [p.sqliteMigration]: `CREATE TABLE IF NOT EXISTS ${n.snake}_info (
  user_id TEXT PRIMARY KEY,
  note TEXT,
  updated_at INTEGER NOT NULL
);
`,
    [p.postgresMigration]: `CREATE TABLE IF NOT EXISTS ${n.snake}_info (
  user_id TEXT PRIMARY KEY,
  note TEXT,
  updated_at BIGINT NOT NULL
);
`,
    [p.loaders]: loadersFile(n),
    [p.resolvers]: resolversFile(n),
    [p.create]: createFile(n),
    [p.main]: mainFile(n),
    [p.test]: testFile(n),
  };
}

/** The `package.json` script that starts the subgraph, as the built-in subgraphs' scripts do. */
export const startScript = (n: SubgraphNames): string => `node --max-semi-space-size=64 --import tsx ${subgraphPaths(n).main}`;

function schemaFile(n: SubgraphNames): string {
  return `extend schema
  @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key", "@shareable", "@composeDirective", "@requiresScopes"])
  @link(url: "https://tailor.dev/cache-control/v1.0", import: ["@cacheControl"])
  @link(url: "https://tailor.dev/fallback/v1.0", import: ["@fallback"])
  @composeDirective(name: "@cacheControl")
  @composeDirective(name: "@fallback")

"""
How long a field's value may be cached, in seconds. Declared once here; the subgraph's LRU cache and
the gateway's HTTP \`Cache-Control\` both read it. \`maxAge: 0\` means live: never served from a cache.
"""
directive @cacheControl(maxAge: Int, scope: CacheControlScope) on FIELD_DEFINITION | OBJECT

"""
What a field answers when the subgraph that resolves it, or one it depends on, cannot answer in time:
a JSON value of the field's type. The gateway puts it in place, adds an error with code
\`SUBGRAPH_UNAVAILABLE\` at the field, and lists the service in \`extensions.degraded\`.
"""
directive @fallback(json: String!) on FIELD_DEFINITION

"Who may cache a response: PUBLIC for shared caches, PRIVATE for one recipient only."
enum CacheControlScope {
  PUBLIC
  PRIVATE
}

"An ISO-8601 date and time in UTC, e.g. \`2026-11-28T09:30:00.000Z\`."
scalar DateTime

# User is owned by crm; this subgraph adds a field to it. The gateway sends { __typename, id } here.
# While this subgraph is down, a non-null field of it without a fallback would null the whole recipient:
# give each field you add a nullable type (as here) or a fallback, e.g. \`tags: [String!]! @fallback(json: "[]")\`.
# Declare who may read each field: @requiresScopes(scopes: [["<scope>"]]) or @authenticated; the gateway
# enforces it field by field.
type User @key(fields: "id") {
  id: ID!
  """
  What the ${n.name} subgraph knows about the user: its fields are null when nothing is recorded, and
  it is null only while the ${n.name} subgraph cannot answer. Scope \`recipients:read\`.
  """
  ${n.camel}: ${n.pascal}Info @requiresScopes(scopes: [["recipients:read"]])
}

"An example type of the ${n.name} subgraph: replace its fields with your own. Cached for a minute, per recipient."
type ${n.pascal}Info @cacheControl(maxAge: 60, scope: PRIVATE) {
  "The user this is about."
  userId: ID!
  "An example value, loaded with \`POST /ingest/${n.name}\`; null when nothing is recorded."
  note: String
  "When this record was last written; null when nothing is recorded."
  updatedAt: DateTime
}
`;
}

function configFile(n: SubgraphNames): string {
  return `import { type ConfigOf, type ConfigSource, loadConfig } from '../../../kit/config';
import { subgraphSettings } from '../../kit/subgraphSettings';

/** Every setting of the ${n.name} subgraph: the kit's, with its own default port. Add its own here. */
export const ${n.camel}Settings = {
  ...subgraphSettings(${n.port}),
};

/** The ${n.name} subgraph's validated configuration. */
export type ${n.pascal}Config = ConfigOf<typeof ${n.camel}Settings>;

/** Reads and validates the ${n.name} subgraph's configuration; throws a \`ConfigError\` naming every bad setting. */
export const load${n.pascal}Config = (source: ConfigSource): ${n.pascal}Config => loadConfig(${n.camel}Settings, source);
`;
}

function storeFile(n: SubgraphNames): string {
  return `import { z } from 'zod';
import type { Clock } from '../../../kit/clock';
import type { Database } from '../../kit/database';
import type { IngestResult } from '../../kit/ingest';
import type { PgDatabase } from '../../kit/postgres';
import { type StoreBackend, type Synchronous, asAsync } from '../../kit/storeBackend';

/** What the ${n.name} subgraph stores about one user. */
export interface ${n.pascal}Info {
  userId: string;
  note: string | null;
  /** Epoch milliseconds of the last write; null when nothing is recorded. */
  updatedAt: number | null;
}

/** One item of a \`POST /ingest/${n.name}\` batch, validated. */
export const ${n.camel}InputSchema = z.strictObject({
  userId: z.string().trim().min(1, 'userId must not be empty').max(128, 'userId must be at most 128 characters'),
  note: z.string().max(1000, 'note must be at most 1000 characters').nullish(),
});

/** A validated ingest item. */
export type ${n.pascal}Input = z.output<typeof ${n.camel}InputSchema>;

interface ${n.pascal}Row {
  user_id: string;
  note: string | null;
  updated_at: number | string;
}

/**
 * The ${n.name} store, on SQLite or PostgreSQL (its tables come from \`migrations/\`). Every read of
 * many keys is one statement.
 */
export interface ${n.pascal}Store {
  /** The records of these users (absent ones are missing from the map), in one statement. */
  get${n.pascal}InfosByUserIds(userIds: readonly string[]): Promise<Map<string, ${n.pascal}Info>>;
  /** Creates or replaces records atomically; an unchanged record counts as a duplicate. */
  upsert${n.pascal}Infos(items: ${n.pascal}Input[]): Promise<IngestResult>;
  /** Deletes the user's record; how many rows went (0 when there was none, e.g. on a second erasure). */
  delete${n.pascal}InfosByUserId(userId: string): Promise<number>;
}

const toInfo = (row: ${n.pascal}Row): ${n.pascal}Info => ({ userId: row.user_id, note: row.note, updatedAt: Number(row.updated_at) });

/** What a batch changes, item by item: the last item of each user wins; an unchanged record is a duplicate. */
function changesOf(items: ${n.pascal}Input[], current: Map<string, ${n.pascal}Info>): { changed: Map<string, string | null>; result: IngestResult } {
  const changed = new Map<string, string | null>();
  const notes = new Map([...current].map(([userId, info]) => [userId, info.note]));
  const result = { accepted: 0, duplicates: 0, stale: 0 };
  for (const item of items) {
    const note = item.note ?? null;
    if (notes.has(item.userId) && notes.get(item.userId) === note) {
      result.duplicates++;
      continue;
    }
    notes.set(item.userId, note);
    changed.set(item.userId, note);
    result.accepted++;
  }
  return { changed, result };
}

/** Creates the ${n.name} store on its backend, whose migrations have run. */
export function create${n.pascal}Store(backend: StoreBackend, clock: Clock): ${n.pascal}Store {
  return backend.kind === 'postgres' ? postgresStore(backend.db, clock) : asAsync<${n.pascal}Store>(sqliteStore(backend.db, clock));
}

function sqliteStore(db: Database, clock: Clock): Synchronous<${n.pascal}Store> {
  const byUserIds = db.statement<${n.pascal}Row>(
    'get${n.pascal}InfosByUserIds',
    'SELECT user_id, note, updated_at FROM ${n.snake}_info WHERE user_id IN (SELECT value FROM json_each(?))',
  );
  const upsert = db.statement(
    'upsert${n.pascal}Info',
    \`INSERT INTO ${n.snake}_info (user_id, note, updated_at) VALUES (?, ?, ?)
     ON CONFLICT(user_id) DO UPDATE SET note = excluded.note, updated_at = excluded.updated_at\`,
  );
  const deleteByUserId = db.statement('delete${n.pascal}InfosByUserId', 'DELETE FROM ${n.snake}_info WHERE user_id = ?');

  const store: Synchronous<${n.pascal}Store> = {
    get${n.pascal}InfosByUserIds(userIds) {
      return new Map(byUserIds.all(JSON.stringify(userIds)).map((row) => [row.user_id, toInfo(row)]));
    },
    upsert${n.pascal}Infos(items) {
      return db.transaction(() => {
        const { changed, result } = changesOf(items, store.get${n.pascal}InfosByUserIds(items.map((item) => item.userId)));
        const now = clock.now();
        for (const [userId, note] of changed) upsert.run(userId, note, now);
        return result;
      });
    },
    delete${n.pascal}InfosByUserId(userId) {
      return deleteByUserId.run(userId).changes;
    },
  };
  return store;
}

function postgresStore(db: PgDatabase, clock: Clock): ${n.pascal}Store {
  const read = async (tx: Pick<PgDatabase, 'rows'>, userIds: readonly string[]) =>
    new Map(
      (await tx.rows<${n.pascal}Row>('get${n.pascal}InfosByUserIds', 'SELECT user_id, note, updated_at FROM ${n.snake}_info WHERE user_id = ANY($1::text[])', [userIds])).map(
        (row) => [row.user_id, toInfo(row)],
      ),
    );
  return {
    get${n.pascal}InfosByUserIds: (userIds) => read(db, userIds),
    upsert${n.pascal}Infos: (items) =>
      db.transaction(async (tx) => {
        const { changed, result } = changesOf(items, await read(tx, items.map((item) => item.userId)));
        if (changed.size > 0) {
          // One statement for the whole batch.
          await tx.run(
            'upsert${n.pascal}Info',
            \`INSERT INTO ${n.snake}_info (user_id, note, updated_at) SELECT u, n, $3 FROM unnest($1::text[], $2::text[]) AS t(u, n)
             ON CONFLICT (user_id) DO UPDATE SET note = excluded.note, updated_at = excluded.updated_at\`,
            [[...changed.keys()], [...changed.values()], clock.now()],
          );
        }
        return result;
      }),
    delete${n.pascal}InfosByUserId: (userId) => db.run('delete${n.pascal}InfosByUserId', 'DELETE FROM ${n.snake}_info WHERE user_id = $1', [userId]),
  };
}
`;
}

function loadersFile(n: SubgraphNames): string {
  return `import type DataLoader from 'dataloader';
import type { EntityCache } from '../../kit/entityCache';
import { createLoader, readThroughCache } from '../../kit/loaders';
import type { ${n.pascal}Info, ${n.pascal}Store } from './${n.camel}Store';

/** The ${n.name} subgraph's per-request loaders. */
export interface ${n.pascal}Loaders {
  /** Records by user id, through the cache: one statement per batch of misses. */
  infoByUserId: DataLoader<string, ${n.pascal}Info | null>;
}

/** Creates one request's loaders. */
export function create${n.pascal}Loaders(
  store: ${n.pascal}Store,
  infos: EntityCache<string, ${n.pascal}Info>,
  options: { batching: boolean },
): ${n.pascal}Loaders {
  return {
    infoByUserId: createLoader((ids) => readThroughCache(infos, ids, (missing) => store.get${n.pascal}InfosByUserIds(missing)), options),
  };
}
`;
}

function resolversFile(n: SubgraphNames): string {
  return `import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper';
import { DateTimeScalar } from '../../kit/dateTime';
import type { ${n.pascal}Loaders } from './${n.camel}Loaders';
import type { ${n.pascal}Info } from './${n.camel}Store';

/** What the ${n.name} resolvers see on each request. */
export interface ${n.pascal}Context {
  loaders: ${n.pascal}Loaders;
}

/** The ${n.name} subgraph's resolvers: \`User.${n.camel}\`. */
export const ${n.camel}Resolvers: GraphQLResolverMap<${n.pascal}Context> = {
  DateTime: DateTimeScalar,
  User: {
    // The gateway sends { __typename: "User", id }; crm knows whether the user exists.
    __resolveReference: (ref: { id: string }) => ({ id: ref.id }),
    ${n.camel}: async (user: { id: string }, _: unknown, { loaders }: ${n.pascal}Context): Promise<${n.pascal}Info> =>
      (await loaders.infoByUserId.load(user.id)) ?? { userId: user.id, note: null, updatedAt: null },
  },
};
`;
}

function createFile(n: SubgraphNames): string {
  return `import { join } from 'node:path';
import type { Clock } from '../../../kit/clock';
import { formatDateTime } from '../../kit/dateTime';
import { type EntityCache, createEntityCache } from '../../kit/entityCache';
import { createIngestor } from '../../kit/ingest';
import type { Logger } from '../../../kit/logger';
import { checkpointAfterErasure, openSubgraphBase } from '../../kit/subgraphBase';
import type { SubgraphDefinition } from '../../kit/subgraphServer';
import type { ${n.pascal}Config } from './config';
import { create${n.pascal}Loaders } from './${n.camel}Loaders';
import { type ${n.pascal}Context, ${n.camel}Resolvers } from './${n.camel}Resolvers';
import { type ${n.pascal}Info, type ${n.pascal}Store, create${n.pascal}Store, ${n.camel}InputSchema } from './${n.camel}Store';

/** The subgraph's SDL: the file \`schema/supergraph.yaml\` registers. */
export const ${n.snake.toUpperCase()}_SCHEMA_FILE = join(__dirname, '..', 'schema.graphql');
/** Its versioned migrations: \`sqlite/\` and \`postgres/\`, applied at start-up. */
export const ${n.snake.toUpperCase()}_MIGRATIONS = join(__dirname, '..', 'migrations');

/** The ${n.name} subgraph, built but not listening, with its store and cache exposed for tests. */
export interface ${n.pascal}Subgraph {
  definition: SubgraphDefinition<${n.pascal}Context>;
  store: ${n.pascal}Store;
  infos: EntityCache<string, ${n.pascal}Info>;
}

/**
 * Opens the ${n.name} database (\`<dataDir>/${n.name}.db\`, or PostgreSQL with \`TAILOR_DATABASE_URL\`),
 * applies its migrations and builds the subgraph definition. It has no
 * demo data: load records with \`POST /ingest/${n.name}\` (a JSON array of { userId, note }).
 */
export async function create${n.pascal}Subgraph(config: ${n.pascal}Config, options: { clock?: Clock; logger?: Logger } = {}): Promise<${n.pascal}Subgraph> {
  const files = { schema: ${n.snake.toUpperCase()}_SCHEMA_FILE, migrations: ${n.snake.toUpperCase()}_MIGRATIONS };
  const base = await openSubgraphBase('${n.name}', files, config, options);
  const { clock, logger, metrics, typeDefs, policy, backend, ingestAuth, cacheOptions } = base;
  const store = create${n.pascal}Store(backend, clock);
  // The TTL comes from @cacheControl on ${n.pascal}Info in schema.graphql, like the gateway's Cache-Control.
  const infos = createEntityCache<string, ${n.pascal}Info>({ name: '${n.snake}_info', ttlMs: policy.typeTtlMs('${n.pascal}Info'), ...cacheOptions });
  const ingest = createIngestor({
    kind: '${n.name}',
    itemSchema: ${n.camel}InputSchema,
    apply: async (items) => {
      const result = await store.upsert${n.pascal}Infos(items);
      // Dropped after the commit: the very next read sees the new record.
      for (const item of items) infos.delete(item.userId);
      return result;
    },
    maxItems: config.ingestMaxItems,
    maxBodyBytes: config.ingestMaxBytes,
    metrics,
    auth: ingestAuth,
  });
  const definition: SubgraphDefinition<${n.pascal}Context> = {
    name: '${n.name}',
    typeDefs,
    resolvers: ${n.camel}Resolvers,
    createContext: () => ({ loaders: create${n.pascal}Loaders(store, infos, { batching: config.batching }) }),
    ingestors: [ingest],
    metrics,
    logger,
    maxBodyBytes: config.maxBodyBytes,
    // The gateway's eraseUser and exportUser call these (POST /privacy/erase and /privacy/export) on every
    // subgraph. Keep them in step with your tables: every row keyed to a user is erased and exported.
    privacy: {
      erase: async (userId) => {
        const deleted = { ${n.camel}Infos: await store.delete${n.pascal}InfosByUserId(userId) };
        // Delete the user's rows of every other table of yours here, adding a count for each kind.
        infos.delete(userId);
        // On SQLite, empties the WAL, which would otherwise keep older images of the pages that held the rows.
        checkpointAfterErasure(backend, logger);
        return deleted;
      },
      export: async (userId) => {
        const info = (await store.get${n.pascal}InfosByUserIds([userId])).get(userId);
        return info ? { ${n.camel}Info: { note: info.note, updatedAt: info.updatedAt === null ? null : formatDateTime(info.updatedAt) } } : {};
      },
    },
    clock,
    onClose: () => base.close(),
  };
  return { definition, store, infos };
}
`;
}

function mainFile(n: SubgraphNames): string {
  return `import { runService } from '../../../kit/runService';
import { startSubgraph } from '../../kit/subgraphServer';
import { load${n.pascal}Config } from './config';
import { create${n.pascal}Subgraph } from './create${n.pascal}Subgraph';

runService('${n.name}', async () => {
  const config = load${n.pascal}Config({ env: process.env, argv: process.argv.slice(2) });
  const { definition } = await create${n.pascal}Subgraph(config);
  return startSubgraph(definition, config);
});
`;
}

function testFile(n: SubgraphNames): string {
  return `import { createLogger } from '../../kit/logger';
import { counterTotal } from '../../kit/metrics';
import type { RunningService } from '../../kit/runService';
import { startSubgraph } from '../../subgraphs/kit/subgraphServer';
import { load${n.pascal}Config } from '../../subgraphs/${n.name}/src/config';
import { type ${n.pascal}Subgraph, create${n.pascal}Subgraph } from '../../subgraphs/${n.name}/src/create${n.pascal}Subgraph';

// What the gateway sends this subgraph for \`{ users(ids: …) { ${n.camel} { … } } }\`: one _entities fetch.
const ENTITIES = \`query Entities($representations: [_Any!]!) {
  _entities(representations: $representations) { ... on User { id ${n.camel} { __typename userId note updatedAt } } }
}\`;

describe('the ${n.name} subgraph', () => {
  let subgraph: ${n.pascal}Subgraph;
  let service: RunningService;

  beforeAll(async () => {
    const env = { TAILOR_DATA_DIR: ':memory:', TAILOR_DB_SYNC: 'NORMAL' };
    subgraph = await create${n.pascal}Subgraph(load${n.pascal}Config({ env, argv: [] }), { logger: createLogger('${n.name}', 'silent') });
    service = await startSubgraph(subgraph.definition, { host: '127.0.0.1', port: 0 });
  });
  afterAll(() => service?.close());

  const post = async (path: string, body: unknown) => {
    const response = await fetch(service.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: response.status, body: (await response.json()) as any };
  };
  const statements = () => counterTotal(subgraph.definition.metrics.dbStatements, { statement: 'get${n.pascal}InfosByUserIds' });

  it('takes records in at POST /ingest/${n.name}', async () => {
    const res = await post('/ingest/${n.name}', [{ userId: 'u1', note: 'first' }, { userId: 'u2', note: 'second' }]);
    expect(res).toEqual({ status: 200, body: { accepted: 2, duplicates: 0, stale: 0 } });
  });

  it('answers _entities with User.${n.camel}, in one SQL statement per batch', async () => {
    const before = await statements();
    const representations = ['u1', 'u2', 'u-unknown'].map((id) => ({ __typename: 'User', id }));
    const res = await post('/graphql', { query: ENTITIES, variables: { representations } });
    expect(res.status).toBe(200);
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data._entities).toEqual([
      { id: 'u1', ${n.camel}: { __typename: '${n.pascal}Info', userId: 'u1', note: 'first', updatedAt: expect.any(String) } },
      { id: 'u2', ${n.camel}: { __typename: '${n.pascal}Info', userId: 'u2', note: 'second', updatedAt: expect.any(String) } },
      { id: 'u-unknown', ${n.camel}: { __typename: '${n.pascal}Info', userId: 'u-unknown', note: null, updatedAt: null } },
    ]);
    expect((await statements()) - before).toBe(1);
  });

  it('serves /health and /metrics from the kit', async () => {
    const health = await fetch(service.url + '/health');
    expect(await health.json()).toEqual({ status: 'ok', service: '${n.name}' });
    const metrics = await (await fetch(service.url + '/metrics')).text();
    expect(metrics).toContain('tailor_db_statements_total');
  });
});
`;
}
