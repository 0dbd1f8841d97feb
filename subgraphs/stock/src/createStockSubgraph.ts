import { join } from 'node:path';
import type { Clock } from '../../../kit/clock';
import { demoCatalog } from '../../../demo/demoData';
import { createEntityCache } from '../../kit/entityCache';
import { createIngestor } from '../../kit/ingest';
import type { Logger } from '../../../kit/logger';
import { DEMO_SCALES } from '../../../demo/demoData';
import { openSubgraphBase } from '../../kit/subgraphBase';
import type { SubgraphDefinition } from '../../kit/subgraphServer';
import type { StockConfig } from './config';
import { createLinkIssuer } from './liveLinks';
import { productImageSvg } from './productImage';
import { createStockLoaders } from './stockLoaders';
import { type StockContext, stockResolvers } from './stockResolvers';
import { type CatalogProduct, type StockStore, createStockStore, stockLevelInputSchema } from './stockStore';
import { TRENDING_DEPTH, type TrendingSource, createTrendingSource } from './trendingSource';

export const STOCK_SCHEMA_FILE = join(__dirname, '..', 'schema.graphql');
export const STOCK_MIGRATIONS = join(__dirname, '..', 'migrations');

/** The stock subgraph, built but not listening, with its store and caches exposed for tests. */
export interface StockSubgraph {
  definition: SubgraphDefinition<StockContext>;
  store: StockStore;
  catalog: ReturnType<typeof createEntityCache<string, CatalogProduct>>;
  trending: TrendingSource;
}

/** Opens (and on first start seeds) the stock database and builds the subgraph definition. */
export async function createStockSubgraph(
  config: StockConfig,
  options: { clock?: Clock; logger?: Logger; trending?: TrendingSource } = {},
): Promise<StockSubgraph> {
  const base = await openSubgraphBase('stock', { schema: STOCK_SCHEMA_FILE, migrations: STOCK_MIGRATIONS }, config, options);
  const { clock, logger, metrics, typeDefs, policy, backend, ingestAuth, cacheOptions } = base;
  const store = createStockStore(backend, clock);
  if (config.seed === 'demo' && (await store.isEmpty())) {
    const started = Date.now();
    const products = demoCatalog(DEMO_SCALES[config.demoScale], config.demoAssetUrl);
    await store.seed(products);
    logger.info({ products: products.length, ms: Date.now() - started }, 'seeded demo catalog');
  }
  const catalog = createEntityCache<string, CatalogProduct>({ name: 'stock_catalog', ttlMs: policy.typeTtlMs('Product'), ...cacheOptions });
  const trending =
    options.trending ??
    createTrendingSource({
      behaviorUrl: config.behaviorUrl,
      depth: TRENDING_DEPTH,
      store,
      requests: metrics.cacheRequests,
      registry: metrics.registry,
      clock,
      logger,
      timeoutMs: config.trendingTimeoutMs,
      waitMs: config.trendingWaitMs,
      subgraphSecret: config.subgraphSecret,
    });
  const ingestStock = createIngestor({
    kind: 'stock',
    itemSchema: stockLevelInputSchema(clock, config.maxClockSkewSeconds * 1000),
    check: (levels) => store.findUnknownSkus(levels),
    apply: (levels) => store.recordStockLevels(levels),
    maxItems: config.ingestMaxItems,
    maxBodyBytes: config.ingestMaxBytes,
    metrics,
    auth: ingestAuth,
  });
  const links = config.linkKeys
    ? createLinkIssuer({ keyring: config.linkKeys, baseUrl: config.linkBaseUrl, ttlMs: config.linkTtlDays * 86_400_000, clock })
    : undefined;
  if (links && config.profile === 'production' && /^https?:\/\/(127\.|localhost|\[::1\])/.test(config.linkBaseUrl)) {
    logger.warn({ linkBaseUrl: config.linkBaseUrl }, 'TAILOR_LINK_BASE_URL points at this machine: live links in emails will not reach the gateway (set it to the gateway\'s public URL)');
  }
  if (!links) logger.warn('TAILOR_LINK_KEYS is not set: Recommendation.clickUrl and liveImageUrl are the product\'s own url and imageUrl, with no live check at the click (npm start sets it)');
  const definition: SubgraphDefinition<StockContext> = {
    name: 'stock',
    typeDefs,
    resolvers: stockResolvers,
    createContext: () => ({
      loaders: createStockLoaders(store, catalog, { batching: config.batching }),
      store,
      trending,
      ingestStock,
      inStockThreshold: config.inStockThreshold,
      recommendationsMax: config.recommendationsMax,
      links,
    }),
    ingestors: [ingestStock],
    extraRoutes: [
      {
        prefix: '/images/',
        handle: async (_req, res, path) => {
          let sku: string;
          try {
            sku = decodeURIComponent(path.slice('/images/'.length)).replace(/\.svg$/, '');
          } catch {
            return false; // a bad percent escape names no product: 404
          }
          const product = (await store.getProductsBySkus([sku])).get(sku);
          if (!product) return false;
          const svg = productImageSvg(product);
          res.writeHead(200, { 'content-type': 'image/svg+xml', 'cache-control': 'public, max-age=86400', 'content-length': Buffer.byteLength(svg) });
          res.end(svg);
          return true;
        },
      },
    ],
    metrics,
    logger,
    maxBodyBytes: config.maxBodyBytes,
    // No privacy hook: stock keeps products, stock levels and the trending ranking (counts by product),
    // nothing keyed to a user, so the kit answers the gateway's erasure and export with holdsPersonalData false.
    clock,
    onClose: () => {
      trending.close();
      return base.close();
    },
  };
  return { definition, store, catalog, trending };
}
