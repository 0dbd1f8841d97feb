import { join, resolve } from 'node:path';
import { z } from 'zod';
import { type ConfigOf, type ConfigSource, commonSettings, loadConfig, settingTypes } from '../../kit/config';

/** The persisted operations built by `npm run operations`. */
export const DEFAULT_MANIFEST = join(__dirname, '..', '..', 'schema', 'operations', 'manifest.json');

/** The supergraph composed by `npm run compose`. */
export const DEFAULT_SUPERGRAPH = join(__dirname, '..', '..', 'schema', 'supergraph.graphql');

/** The REST route table read at start-up. */
export const DEFAULT_REST_ROUTES = join(__dirname, '..', '..', 'schema', 'operations', 'rest-routes.yaml');

/** What the sandbox and the landing page open with. */
export const DEFAULT_SANDBOX_EXAMPLE = join(__dirname, '..', '..', 'schema', 'sandbox.yaml');

/** Every setting of the gateway. */
export const gatewaySettings = {
  ...commonSettings,
  port: { env: 'TAILOR_PORT', flag: 'port', schema: settingTypes.port(4000), doc: 'Port to listen on (0 picks a free one).' },
  supergraph: {
    env: 'TAILOR_SUPERGRAPH',
    flag: 'supergraph',
    schema: z.string().min(1).default(DEFAULT_SUPERGRAPH).transform((p) => resolve(p)),
    doc: 'Supergraph SDL file to serve (any composed supergraph, not only Tailor\'s).',
  },
  watchSupergraph: {
    env: 'TAILOR_WATCH_SUPERGRAPH',
    schema: settingTypes.boolean(true),
    doc: 'Swap to a new supergraph when the file changes, without a restart; a file that does not load is refused.',
  },
  subgraphUrls: {
    env: 'TAILOR_SUBGRAPH_URLS',
    flag: 'subgraph-urls',
    schema: settingTypes.subgraphUrls(),
    doc: 'Overrides of the supergraph\'s routing URLs, by subgraph name: `name=http://host:port/graphql,…`.',
  },
  maxBodyBytes: { env: 'TAILOR_MAX_BODY_BYTES', schema: settingTypes.positiveInt(1024 * 1024), doc: 'Largest request body in bytes (413 above).' },
  maxQueryDepth: { env: 'TAILOR_MAX_QUERY_DEPTH', schema: settingTypes.positiveInt(12, 100), doc: 'Deepest field nesting an operation may have (fragments are not a level; introspection is not counted).' },
  maxAliases: { env: 'TAILOR_MAX_ALIASES', schema: settingTypes.positiveInt(30, 1000), doc: 'Most aliases one query may use.' },
  maxDirectives: { env: 'TAILOR_MAX_DIRECTIVES', schema: settingTypes.positiveInt(50, 1000), doc: 'Most directives one operation may use.' },
  maxTokens: {
    env: 'TAILOR_MAX_TOKENS',
    schema: settingTypes.positiveInt(2000, 100_000),
    doc: 'Most tokens one GraphQL document may have; the parser stops there (the largest shipped operation has 82).',
  },
  maxOperationCost: {
    env: 'TAILOR_MAX_OPERATION_COST',
    schema: settingTypes.positiveInt(10_000),
    doc: 'Most one operation may cost, from the `@cost`/`@listSize` of the schema (a 500-recipient campaign batch with 4 recommendations costs 7,000); COST_LIMIT_EXCEEDED above.',
  },
  maxRequestCost: {
    env: 'TAILOR_MAX_REQUEST_COST',
    schema: settingTypes.positiveInt(20_000),
    doc: 'Most the operations of one HTTP request may cost together (an HTTP batch); COST_LIMIT_EXCEEDED above.',
  },
  subgraphTimeoutMs: {
    env: 'TAILOR_SUBGRAPH_TIMEOUT_MS',
    schema: settingTypes.positiveInt(5000),
    doc: 'A subgraph fetch slower than this fails with SUBGRAPH_UNAVAILABLE (a 500-recipient batch under load needs seconds).',
  },
  maxInFlight: {
    env: 'TAILOR_MAX_IN_FLIGHT',
    schema: settingTypes.positiveInt(64, 100_000),
    doc: 'Most operations (requests to `/graphql` or a REST route) running at once; more wait for a slot.',
  },
  queueTimeoutMs: {
    env: 'TAILOR_QUEUE_TIMEOUT_MS',
    schema: settingTypes.positiveInt(1000, 60_000),
    doc: 'Longest a request waits for a slot before it is shed with 503 and `Retry-After` (`tailor_requests_shed_total`).',
  },
  maxQueued: {
    env: 'TAILOR_MAX_QUEUED',
    schema: settingTypes.nonNegativeInt(256),
    doc: 'Most requests waiting for a slot at once; one more is shed at once.',
  },
  maxBatchOperations: {
    env: 'TAILOR_MAX_BATCH_OPERATIONS',
    schema: settingTypes.positiveInt(25, 500),
    doc: 'Most operations in one HTTP-batched request (a JSON array); 413 above.',
  },
  operationManifest: {
    env: 'TAILOR_OPERATION_MANIFEST',
    flag: 'operation-manifest',
    schema: z.string().min(1).default(DEFAULT_MANIFEST).transform((p) => resolve(p)),
    doc: 'Persisted operations answered by hash alone (`npm run operations` builds it).',
  },
  adHocQueries: {
    env: 'TAILOR_AD_HOC_QUERIES',
    schema: settingTypes.boolean(true),
    doc: 'Accept operations that are not in the manifest. `false` accepts persisted operations only.',
  },
  introspection: { env: 'TAILOR_INTROSPECTION', schema: settingTypes.boolean(true), doc: 'Allow schema introspection (sandboxes and codegen need it).' },
  restRoutes: {
    env: 'TAILOR_REST_ROUTES',
    flag: 'rest-routes',
    schema: z.string().min(1).default(DEFAULT_REST_ROUTES).transform((p) => resolve(p)),
    doc: 'The REST route table (YAML): GET paths that each run one persisted operation.',
  },
  sandboxExample: {
    env: 'TAILOR_SANDBOX_EXAMPLE',
    flag: 'sandbox-example',
    schema: z.string().min(1).default(DEFAULT_SANDBOX_EXAMPLE).transform((p) => resolve(p)),
    doc: 'What the sandbox and the landing page open with (YAML): a persisted operation\'s name and its variables.',
  },
  sandboxVariables: {
    env: 'TAILOR_SANDBOX_VARIABLES',
    schema: settingTypes.jsonObject(),
    doc: 'Variables of the sandbox\'s example as a JSON object, instead of those of `TAILOR_SANDBOX_EXAMPLE`.',
  },
  sandbox: {
    env: 'TAILOR_SANDBOX',
    schema: settingTypes.boolean(true),
    doc: 'Serve the GraphiQL sandbox at `/` (and at `GET /graphql` for a browser), from bundled assets that need no internet. `false` serves a plain landing page.',
  },
};

export type GatewayConfig = ConfigOf<typeof gatewaySettings>;

/** Reads and validates the gateway's configuration; throws a `ConfigError` naming every bad setting. */
export const loadGatewayConfig = (source: ConfigSource): GatewayConfig => loadConfig(gatewaySettings, source);
