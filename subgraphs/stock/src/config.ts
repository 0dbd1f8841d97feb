import { z } from 'zod';
import { type ConfigOf, type ConfigSource, loadConfig, settingTypes } from '../../../kit/config';
import { linkKeysSchema } from '../../../kit/linkToken';
import { subgraphSettings } from '../../kit/subgraphSettings';

const DEFAULT_BEHAVIOR_URL = 'http://127.0.0.1:4003/graphql';

/** Every setting of the stock subgraph. */
export const stockSettings = {
  ...subgraphSettings(4002),
  inStockThreshold: {
    env: 'TAILOR_IN_STOCK_THRESHOLD',
    schema: settingTypes.positiveInt(1),
    doc: 'A product is in stock when `stock.available` is at least this.',
  },
  behaviorUrl: {
    env: 'TAILOR_BEHAVIOR_URL',
    flag: 'behavior-url',
    schema: z.url({ protocol: /^https?$/, message: 'must be an absolute http(s) URL' }).optional(),
    doc: `GraphQL endpoint of the behavior subgraph, for the trending ranking. Unset: behavior's URL in \`TAILOR_SUBGRAPH_URLS\`, else \`${DEFAULT_BEHAVIOR_URL}\`.`,
  },
  trendingTimeoutMs: {
    env: 'TAILOR_TRENDING_TIMEOUT_MS',
    schema: settingTypes.positiveInt(1000, 60_000),
    doc: 'Deadline of one fetch of the trending ranking from behavior, answer body included; a slower or failed one keeps the last ranking (`tailor_trending_refresh_total{result="error"}`).',
  },
  trendingWaitMs: {
    env: 'TAILOR_TRENDING_WAIT_MS',
    schema: settingTypes.nonNegativeInt(250),
    doc: 'Longest a query waits for the trending ranking while stock has never had one (a new database); past it the query goes on without one. A known ranking is served at once, however old, and refreshed in the background.',
  },
  subgraphUrls: {
    env: 'TAILOR_SUBGRAPH_URLS',
    schema: settingTypes.subgraphUrls(),
    doc: 'The stack\'s routing table, `name=http://host:port/graphql,…` (`npm start` sets it for every process).',
  },
  demoAssetUrl: {
    env: 'TAILOR_DEMO_ASSET_URL',
    schema: settingTypes.url('http://127.0.0.1:4002'),
    doc: 'Base URL of demo product images (`<url>/images/<sku>.svg`, served by this service), written at seeding.',
  },
  linkKeys: {
    env: 'TAILOR_LINK_KEYS',
    schema: linkKeysSchema(),
    doc: 'Keys of live link tokens (`Recommendation.clickUrl`, `liveImageUrl`), in the form of `TAILOR_SUBGRAPH_SECRET`: the first seals, the gateway opens with any (give both the same value). Unset: `clickUrl` is the product\'s `url` and `liveImageUrl` its `imageUrl`. `npm start` sets it for every process.',
  },
  linkBaseUrl: {
    env: 'TAILOR_LINK_BASE_URL',
    schema: settingTypes.url('http://127.0.0.1:4000'),
    doc: 'Public URL of the gateway that live links point at (`<url>/r/<token>`, `<url>/i/<token>.png`). `npm start` sets it to its gateway.',
  },
  linkTtlDays: {
    env: 'TAILOR_LINK_TTL_DAYS',
    schema: settingTypes.positiveInt(30, 3650),
    doc: 'Days a live link holds; after that a click goes to the gateway\'s fallback page (`TAILOR_LINK_FALLBACK_URL`). Retire a link key only after this long.',
  },
  recommendationsMax: {
    env: 'TAILOR_RECOMMENDATIONS_MAX',
    schema: settingTypes.positiveInt(50, 200),
    doc: 'Cap on `limit` of `recommendations` and `trendingProducts`.',
  },
};

/** The stock subgraph's validated configuration, with the behavior URL settled. */
export type StockConfig = Omit<ConfigOf<typeof stockSettings>, 'behaviorUrl'> & { behaviorUrl: string };

/** Reads and validates the stock subgraph's configuration; throws a `ConfigError` naming every bad setting. */
export function loadStockConfig(source: ConfigSource): StockConfig {
  const config = loadConfig(stockSettings, source);
  // With replicas of behavior listed, the trending fetch goes to the first (a failed fetch keeps the saved ranking).
  return { ...config, behaviorUrl: config.behaviorUrl ?? config.subgraphUrls.behavior?.[0] ?? DEFAULT_BEHAVIOR_URL };
}
