import { join, resolve } from 'node:path';
import { z } from 'zod';
import { type ConfigOf, type ConfigSource, ConfigError, commonSettings, loadConfig, settingTypes } from '../../kit/config';
import { linkKeysSchema } from '../../kit/linkToken';
import { LIVE_LINK_OPERATIONS_FILE } from './links/liveLinks';
import { subgraphSecretSchema } from '../../kit/subgraphCredential';
import { redisSettings } from '../../kit/redis';

/** The persisted operations built by `npm run operations`. */
export const DEFAULT_MANIFEST = join(__dirname, '..', '..', 'schema', 'operations', 'manifest.json');

/** The supergraph composed by `npm run compose`. */
export const DEFAULT_SUPERGRAPH = join(__dirname, '..', '..', 'schema', 'supergraph.graphql');

/** The REST route table read at start-up. */
export const DEFAULT_REST_ROUTES = join(__dirname, '..', '..', 'schema', 'operations', 'rest-routes.yaml');

/** What the sandbox and the landing page open with. */
export const DEFAULT_SANDBOX_EXAMPLE = join(__dirname, '..', '..', 'schema', 'sandbox.yaml');

/** A number in ms, or a default and overrides by subgraph name: `1000,reviews=400`. */
function perSubgraph(fallback: number) {
  return z
    .string()
    .default(String(fallback))
    .transform((raw, ctx) => {
      const byName: Record<string, number> = {};
      let value = fallback;
      for (const part of raw.split(',').map((p) => p.trim()).filter(Boolean)) {
        const match = part.match(/^(?:([A-Za-z][\w-]*)=)?(\d{1,7})$/);
        if (!match || Number(match[2]) < 1) {
          ctx.addIssue({ code: 'custom', message: `"${part}" is not a positive whole number of ms or name=ms` });
          continue;
        }
        if (match[1]) byName[match[1]] = Number(match[2]);
        else value = Number(match[2]);
      }
      return { default: value, byName, of: (name: string) => byName[name] ?? value };
    });
}

/** Every setting of the gateway. */
export const gatewaySettings = {
  ...commonSettings,
  port: { env: 'TAILOR_PORT', flag: 'port', schema: settingTypes.port(4000), doc: 'Port to listen on (0 picks a free one).' },
  workers: {
    env: 'TAILOR_GATEWAY_WORKERS',
    flag: 'workers',
    schema: settingTypes.positiveInt(1, 256),
    doc: 'Gateway worker processes on this host, all on one port (node:cluster hands each connection to the next). Above 1, the workers share the client quotas, the dropping of kept REST answers and a summed `/metrics` through the primary process, or through Redis with `TAILOR_REDIS_URL`. Up to one per core.',
  },
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
    doc: 'Overrides of the supergraph\'s routing URLs, by subgraph name: `name=http://host:port/graphql,…`. Several replicas of one subgraph: `name=http://a:4001/graphql|http://b:4001/graphql`; each attempt goes to the next replica that is up, a retry to another one.',
  },
  subgraphHealthIntervalMs: {
    env: 'TAILOR_SUBGRAPH_HEALTH_INTERVAL_MS',
    schema: settingTypes.positiveInt(2_000, 600_000),
    doc: 'With several replicas of a subgraph, how often the gateway asks each one\'s `/health` (1 s to answer). A replica that fails it, or refuses a connection, leaves the rotation until it answers 200 again.',
  },
  subgraphSecret: {
    env: 'TAILOR_SUBGRAPH_SECRET',
    schema: subgraphSecretSchema(),
    requiredInProduction: { why: 'subgraphs answer only requests the gateway signs with it' },
    doc: 'Shared secret the gateway signs every subgraph request with (`Tailor-Gateway-Signature`; at least 32 characters), or `kid=secret,kid2=secret2` (it signs with the first). Unset: requests go unsigned. `npm start` sets it for every process.',
  },
  dataDir: {
    env: 'TAILOR_DATA_DIR',
    flag: 'data-dir',
    schema: settingTypes.string('data'),
    doc: 'Folder of the gateway\'s database `gateway.db` (client keys, stored hashed, and the audit log) and of the development key `dev-key`.',
  },
  devKey: {
    env: 'TAILOR_DEV_KEY',
    schema: settingTypes.boolean(true),
    productionDefault: false,
    doc: 'Development profile: on first start, make a client key with every scope of the schema, write it to `<data dir>/dev-key` (mode 0600) and give it to the sandbox for requests from this machine. Never made in production.',
  },
  jwks: {
    env: 'TAILOR_JWKS',
    schema: z.string().min(1).optional(),
    doc: 'JSON Web Key Set that client JWTs are verified with: a file (read again when it changes) or an http(s) URL (fetched and cached). Set: `Authorization: Bearer <JWT>` is accepted besides API keys, and `TAILOR_JWT_ISSUER` and `TAILOR_JWT_AUDIENCE` are required. With `TAILOR_PROFILE=production` the gateway refuses to start with neither this nor a live API key.',
  },
  urlCredentials: {
    env: 'TAILOR_URL_CREDENTIALS',
    schema: settingTypes.boolean(false),
    doc: 'Also accept the client key as `?access_token=<key>` on GET REST routes (`/api/*`), for ESPs whose URL fetch cannot set a header. URLs end up in proxy and ESP logs: give such a client a key of its own with the fewest scopes.',
  },
  jwtIssuer: { env: 'TAILOR_JWT_ISSUER', schema: z.string().min(1).optional(), doc: 'The `iss` every client JWT must carry.' },
  jwtAudience: { env: 'TAILOR_JWT_AUDIENCE', schema: z.string().min(1).optional(), doc: 'The `aud` every client JWT must carry (this gateway\'s identifier at the identity provider).' },
  jwtClockToleranceSeconds: {
    env: 'TAILOR_JWT_CLOCK_TOLERANCE_SECONDS',
    schema: settingTypes.nonNegativeInt(30),
    doc: 'Seconds a JWT\'s `exp`/`nbf` may be off, for clock differences with the identity provider.',
  },
  clientRatePerMinute: {
    env: 'TAILOR_CLIENT_RATE_PER_MINUTE',
    schema: settingTypes.positiveInt(60_000),
    doc: 'Operations a client may run per minute, a `users(ids:)` batch counting one per recipient (a key\'s own `--rate-per-minute` wins); 429 `RATE_LIMITED` above.',
  },
  clientDailyQuota: {
    env: 'TAILOR_CLIENT_DAILY_QUOTA',
    schema: settingTypes.positiveInt(10_000_000),
    doc: 'Operations a client may run per UTC day, counted as for the rate limit (a key\'s own `--daily-quota` wins); 429 `RATE_LIMITED` above.',
  },
  ...redisSettings,
  quotaFailureMode: {
    env: 'TAILOR_QUOTA_FAILURE_MODE',
    schema: z.enum(['open', 'closed'], { message: 'must be open or closed' }).default('open'),
    doc: 'With `TAILOR_REDIS_URL`: what a request gets while Redis cannot be reached. `open`: it runs, uncounted and without RateLimit headers. `closed`: 503 `QUOTA_UNAVAILABLE` with `Retry-After`. Either way `tailor_quota_store_errors_total{mode}` counts it.',
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
  requestDeadlineMs: {
    env: 'TAILOR_REQUEST_DEADLINE_MS',
    schema: settingTypes.positiveInt(1500, 600_000),
    doc: 'Time from a request\'s arrival by which its answer must be ready (under an ESP\'s 2 s); every subgraph fetch gets at most half of what is left, so that what depends on it still has time.',
  },
  maxRequestDeadlineMs: {
    env: 'TAILOR_MAX_REQUEST_DEADLINE_MS',
    schema: settingTypes.positiveInt(30_000, 600_000),
    doc: 'Longest deadline a client may ask for with the `Tailor-Deadline-Ms` request header (a campaign batch can wait longer than an ESP\'s 2 s); a longer one is cut to this.',
  },
  subgraphTimeoutMs: {
    env: 'TAILOR_SUBGRAPH_TIMEOUT_MS',
    schema: perSubgraph(1000),
    doc: 'Longest one fetch attempt may take, connection to last byte, in ms: `1000`, or a default and overrides by subgraph, `1000,reviews=400`. A request with a longer `Tailor-Deadline-Ms` gets proportionally longer attempts.',
  },
  subgraphRetries: {
    env: 'TAILOR_SUBGRAPH_RETRIES',
    schema: settingTypes.nonNegativeInt(1),
    doc: 'How many times a failed or timed-out query fetch is tried again, within the deadline, after a random delay (mutations never are).',
  },
  retryDelayMs: {
    env: 'TAILOR_RETRY_DELAY_MS',
    schema: settingTypes.positiveInt(25, 10_000),
    doc: 'Upper bound of the first retry\'s random delay in ms ("full jitter"); it doubles with each retry.',
  },
  breakerFailures: {
    env: 'TAILOR_BREAKER_FAILURES',
    schema: settingTypes.positiveInt(5, 1000),
    doc: 'Consecutive failed attempts to one subgraph that open its circuit: it then fails fast, and its fields take their fallbacks.',
  },
  breakerCooldownMs: {
    env: 'TAILOR_BREAKER_COOLDOWN_MS',
    schema: settingTypes.positiveInt(500, 600_000),
    doc: 'How long an open circuit fails fast before one probe request is let through; its success closes the circuit.',
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
    productionDefault: false,
    doc: 'Accept operations that are not in the manifest. `false` (the production default) accepts persisted operations only.',
  },
  introspection: {
    env: 'TAILOR_INTROSPECTION',
    schema: settingTypes.boolean(true),
    productionDefault: false,
    doc: 'Allow schema introspection (sandboxes and codegen need it); off by default in production.',
  },
  errorHints: {
    env: 'TAILOR_ERROR_HINTS',
    schema: settingTypes.boolean(true),
    productionDefault: false,
    doc: 'Keep graphql-js\'s "Did you mean …?" suggestions of schema names in client errors; off by default in production.',
  },
  errorServiceNames: {
    env: 'TAILOR_ERROR_SERVICE_NAMES',
    schema: settingTypes.boolean(true),
    productionDefault: false,
    doc: 'Keep `extensions.serviceName` (the subgraph an error came from) in client errors; off by default in production (`extensions.service` of SUBGRAPH_UNAVAILABLE stays).',
  },
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
  linkKeys: {
    env: 'TAILOR_LINK_KEYS',
    schema: linkKeysSchema(),
    doc: 'Keys of live link tokens, in the form of `TAILOR_SUBGRAPH_SECRET`; the same value as the subgraph that seals them (the one answering `Recommendation.clickUrl`). Set: the gateway answers `/r/<token>` (live links) and `/i/<token>.png` (live images); any key listed opens a token, so an old key stays listed until its links expire (`TAILOR_LINK_TTL_DAYS`). Unset: those paths answer 404. `npm start` sets it for every process.',
  },
  liveLinkOperations: {
    env: 'TAILOR_LIVE_LINK_OPERATIONS',
    schema: z.string().min(1).default(LIVE_LINK_OPERATIONS_FILE).transform((p) => resolve(p)),
    doc: 'The operations live links run (GraphQL): `LiveLinkTarget`, read at each click and open, and `LiveLinkClick`, which records a click; their aliases are what the gateway reads.',
  },
  linkFallbackUrl: {
    env: 'TAILOR_LINK_FALLBACK_URL',
    schema: settingTypes.url('https://shop.tailor.example/'),
    doc: 'Where a live link leads when nothing the recipient could want is orderable, when it has expired, or when its recipient is unknown or erased (a category or home page). The query string of the click is kept.',
  },
  lowStockBadge: {
    env: 'TAILOR_LOW_STOCK_BADGE',
    schema: settingTypes.nonNegativeInt(5),
    doc: 'A live image shows "Only N left" when the product has this many units or fewer left (`left` of `schema/live-links.graphql`); 0: never.',
  },
  liveImageMaxAgeSeconds: {
    env: 'TAILOR_LIVE_IMAGE_MAX_AGE_SECONDS',
    schema: settingTypes.nonNegativeInt(60),
    doc: '`Cache-Control: private, max-age=N` of a live image: how long a mail client or image proxy may show it before asking again.',
  },
  liveImageFallbackText: {
    env: 'TAILOR_LIVE_IMAGE_FALLBACK_TEXT',
    schema: z.string().trim().min(1).max(80).default("See what's new"),
    doc: 'What a live image shows when its link would lead to the fallback page (1-80 characters).',
  },
  liveImageCacheEntries: {
    env: 'TAILOR_LIVE_IMAGE_CACHE_ENTRIES',
    schema: settingTypes.positiveInt(2_000),
    doc: 'Rendered cards kept, keyed by what the card shows: product, price, picture and badge (so a product that runs low is a new entry). Product pictures are kept in a cache of their own, of at most 64 MB.',
  },
  restAnswerTtlSeconds: {
    env: 'TAILOR_REST_ANSWER_TTL_SECONDS',
    schema: settingTypes.nonNegativeInt(60),
    doc: 'How long a REST answer for a request with a `campaign` parameter is kept for the same client and URL, so that the HTML, text, AMP and validation renders of one recipient cost one computation; 0: never kept. Every mutation a client runs through the gateway drops them all; the live links in a kept answer still check the product again at the click.',
  },
  sandbox: {
    env: 'TAILOR_SANDBOX',
    schema: settingTypes.boolean(true),
    productionDefault: false,
    doc: 'Off by default in production. Serve the GraphiQL sandbox at `/` (and at `GET /graphql` for a browser), from bundled assets that need no internet. `false` serves a plain landing page.',
  },
};

export type GatewayConfig = ConfigOf<typeof gatewaySettings>;

/** Reads and validates the gateway's configuration; throws a `ConfigError` naming every bad setting. */
export function loadGatewayConfig(source: ConfigSource): GatewayConfig {
  const config = loadConfig(gatewaySettings, source);
  const problems: string[] = [];
  if (config.jwks && !config.jwtIssuer) problems.push('TAILOR_JWT_ISSUER: required with TAILOR_JWKS: a JWT is accepted from one issuer');
  if (config.jwks && !config.jwtAudience) problems.push('TAILOR_JWT_AUDIENCE: required with TAILOR_JWKS: a JWT is accepted for this gateway only');
  if (config.jwks && !/^https?:\/\//.test(config.jwks) && /^[a-z][a-z0-9+.-]*:\/\//i.test(config.jwks)) problems.push(`TAILOR_JWKS=${JSON.stringify(config.jwks)}: must be a file path or an http(s) URL`);
  if (config.profile === 'production' && config.devKey) problems.push('TAILOR_DEV_KEY: a development key is never made with TAILOR_PROFILE=production');
  if (problems.length) throw new ConfigError(problems);
  return config;
}
