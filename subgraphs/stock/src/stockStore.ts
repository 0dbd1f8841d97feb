import { z } from 'zod';
import type { Clock } from '../../../kit/clock';
import type { Database } from '../../kit/database';
import { type StoreBackend, type Synchronous, asAsync } from '../../kit/storeBackend';
import { createPostgresStockStore } from './stockStorePostgres';
import { zPastDateTime } from '../../kit/dateTime';
import type { DemoProduct } from '../../../demo/demoData';
import type { ItemProblem } from '../../../kit/errors';
import type { IndexedItem, IngestResult } from '../../kit/ingest';
import type { TrendingEntry } from './rankRecommendations';

/** A product's catalog fields: non-critical, safe to cache for minutes. */
export interface CatalogProduct {
  sku: string;
  name: string;
  brand: string;
  category: string;
  priceCents: number;
  currency: string;
  imageUrl: string;
  url: string;
}

/** A live stock level. Never cached. */
export interface StockLevel {
  available: number;
  observedAt: number;
}

/** The trending ranking as last fetched from behavior: when, and for how long it counts as fresh. */
export interface StoredTrendingRanking {
  entries: TrendingEntry[];
  /** When it was fetched, in ms since the epoch (the service clock). */
  fetchedAt: number;
  /** Behavior's `Cache-Control: max-age` for it, in ms. */
  maxAgeMs: number;
}

/** One item of a `recordStockLevels` batch, validated. */
export function stockLevelInputSchema(clock: Clock, maxClockSkewMs: number) {
  return z.strictObject({
    sku: z.string().trim().min(1, 'sku must not be empty').max(64, 'sku must be at most 64 characters'),
    available: z.number({ message: 'available must be a number' }).int('available must be a whole number').min(0, 'available must be 0 or more').max(1e9, 'available is implausibly large'),
    observedAt: zPastDateTime('observedAt', clock, maxClockSkewMs),
  });
}
export type StockLevelInput = z.output<ReturnType<typeof stockLevelInputSchema>>;


interface ProductRow {
  sku: string;
  name: string;
  brand: string;
  category: string;
  price_cents: number;
  currency: string;
  image_url: string;
  url: string;
}

/** The stock service's store: catalog and live stock levels, in SQLite or PostgreSQL. */
export interface StockStore {
  getProductsBySkus(skus: readonly string[]): Promise<Map<string, CatalogProduct>>;
  getStockLevelsBySkus(skus: readonly string[]): Promise<Map<string, StockLevel>>;
  /** In-stock SKUs in SKU order, skipping `exclude`: the last resort to fill a list. */
  getInStockSkus(threshold: number, exclude: readonly string[], limit: number): Promise<string[]>;
  /** Items whose SKU is not in the catalog. */
  findUnknownSkus(levels: IndexedItem<StockLevelInput>[]): Promise<ItemProblem[]>;
  /** Applies a checked batch atomically, in order; an observation older than the stored one is stale. */
  recordStockLevels(levels: StockLevelInput[]): Promise<IngestResult>;
  isEmpty(): Promise<boolean>;
  seed(products: DemoProduct[]): Promise<void>;
  /** The last trending ranking saved, if any (one JSON row): what stock serves while behavior is away. */
  getTrendingRanking(): Promise<StoredTrendingRanking | undefined>;
  /** Replaces the saved trending ranking, in one transaction. */
  saveTrendingRanking(ranking: StoredTrendingRanking): Promise<void>;
}

/** Creates the stock store on its backend, whose migrations have run. */
export function createStockStore(backend: StoreBackend, clock: Clock): StockStore {
  return backend.kind === 'postgres' ? createPostgresStockStore(backend.db, clock) : asAsync<StockStore>(createSqliteStockStore(backend.db, clock));
}

/** The stock store on SQLite. */
function createSqliteStockStore(db: Database, clock: Clock): Synchronous<StockStore> {
  const productsBySkus = db.statement<ProductRow>(
    'getProductsBySkus',
    'SELECT sku, name, brand, category, price_cents, currency, image_url, url FROM products WHERE sku IN (SELECT value FROM json_each(?))',
  );
  const stockBySkus = db.statement<{ sku: string; available: number; observed_at: number }>(
    'getStockLevelsBySkus',
    'SELECT sku, available, observed_at FROM stock_levels WHERE sku IN (SELECT value FROM json_each(?))',
  );
  const inStockSkus = db.statement<{ sku: string }>(
    'getInStockSkus',
    'SELECT sku FROM stock_levels WHERE available >= ? AND sku NOT IN (SELECT value FROM json_each(?)) ORDER BY sku LIMIT ?',
  );
  const knownSkus = db.statement<{ sku: string }>('getKnownSkus', 'SELECT sku FROM products WHERE sku IN (SELECT value FROM json_each(?))');
  const upsertLevel = db.statement(
    'upsertStockLevel',
    `INSERT INTO stock_levels (sku, available, observed_at) VALUES (?, ?, ?)
     ON CONFLICT(sku) DO UPDATE SET available = excluded.available, observed_at = excluded.observed_at`,
  );
  const insertProduct = db.statement(
    'insertProduct',
    `INSERT INTO products (sku, name, brand, category, price_cents, currency, image_url, url)
     VALUES (@sku, @name, @brand, @category, @priceCents, @currency, @imageUrl, @url)`,
  );
  const anyProduct = db.statement<{ n: number }>('countProducts', 'SELECT COUNT(*) AS n FROM (SELECT 1 FROM products LIMIT 1)');
  const lastTrending = db.statement<{ entries: string; fetched_at: number; max_age_ms: number }>(
    'getLastTrendingRanking',
    'SELECT entries, fetched_at, max_age_ms FROM trending_ranking WHERE id = 1',
  );
  const saveTrending = db.statement(
    'saveTrendingRanking',
    `INSERT INTO trending_ranking (id, entries, fetched_at, max_age_ms) VALUES (1, ?, ?, ?)
     ON CONFLICT(id) DO UPDATE SET entries = excluded.entries, fetched_at = excluded.fetched_at, max_age_ms = excluded.max_age_ms`,
  );

  const store: Synchronous<StockStore> = {
    getProductsBySkus(skus) {
      return new Map(
        productsBySkus.all(JSON.stringify(skus)).map((r) => [
          r.sku,
          { sku: r.sku, name: r.name, brand: r.brand, category: r.category, priceCents: r.price_cents, currency: r.currency, imageUrl: r.image_url, url: r.url },
        ]),
      );
    },
    getStockLevelsBySkus(skus) {
      return new Map(stockBySkus.all(JSON.stringify(skus)).map((r) => [r.sku, { available: r.available, observedAt: r.observed_at }]));
    },
    getInStockSkus(threshold, exclude, limit) {
      return inStockSkus.all(threshold, JSON.stringify(exclude), limit).map((r) => r.sku);
    },
    findUnknownSkus(levels) {
      const known = new Set(knownSkus.all(JSON.stringify([...new Set(levels.map((l) => l.item.sku))])).map((r) => r.sku));
      return levels
        .filter(({ item }) => !known.has(item.sku))
        .map(({ index, item }) => ({ index, field: 'sku', reason: `no product has sku ${JSON.stringify(item.sku)}` }));
    },
    recordStockLevels(levels) {
      return db.transaction(() => {
        const skus = [...new Set(levels.map((l) => l.sku))];
        const current = store.getStockLevelsBySkus(skus);
        let accepted = 0;
        let duplicates = 0;
        let stale = 0;
        for (const level of levels) {
          const stored = current.get(level.sku);
          if (stored && level.observedAt < stored.observedAt) {
            stale++;
          } else if (stored && level.observedAt === stored.observedAt && level.available === stored.available) {
            duplicates++;
          } else {
            upsertLevel.run(level.sku, level.available, level.observedAt);
            current.set(level.sku, { available: level.available, observedAt: level.observedAt });
            accepted++;
          }
        }
        return { accepted, duplicates, stale };
      });
    },
    isEmpty: () => anyProduct.get()!.n === 0,
    seed(products) {
      const now = clock.now();
      db.transaction(() => {
        for (const p of products) {
          insertProduct.run(p);
          upsertLevel.run(p.sku, p.available, now);
        }
      });
    },
    getTrendingRanking() {
      const row = lastTrending.get();
      return row && { entries: JSON.parse(row.entries) as TrendingEntry[], fetchedAt: row.fetched_at, maxAgeMs: row.max_age_ms };
    },
    saveTrendingRanking(ranking) {
      db.transaction(() => saveTrending.run(JSON.stringify(ranking.entries), ranking.fetchedAt, ranking.maxAgeMs));
    },
  };
  return store;
}
