import { type ConfigOf, type ConfigSource, loadConfig, settingTypes } from '../../kit/config';
import { subgraphSettings } from '../../kit/settings';

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
    schema: settingTypes.url('http://127.0.0.1:4003/graphql'),
    doc: 'GraphQL endpoint of the behavior subgraph, for the trending ranking.',
  },
  demoAssetUrl: {
    env: 'TAILOR_DEMO_ASSET_URL',
    schema: settingTypes.url('http://127.0.0.1:4002'),
    doc: 'Base URL of demo product images (`<url>/images/<sku>.svg`, served by this service), written at seeding.',
  },
  recommendationsMax: {
    env: 'TAILOR_RECOMMENDATIONS_MAX',
    schema: settingTypes.positiveInt(50, 200),
    doc: 'Cap on `limit` of `recommendations` and `trendingProducts`.',
  },
};

export type StockConfig = ConfigOf<typeof stockSettings>;

/** Reads and validates the stock subgraph's configuration; throws a `ConfigError` naming every bad setting. */
export const loadStockConfig = (source: ConfigSource): StockConfig => loadConfig(stockSettings, source);
