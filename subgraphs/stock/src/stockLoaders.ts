import type DataLoader from 'dataloader';
import type { EntityCache } from '../../kit/entityCache';
import { createLoader, readThroughCache } from '../../kit/loaders';
import type { CatalogProduct, StockLevel, StockStore } from './stockStore';

/** The stock service's per-request loaders. */
export interface StockLoaders {
  /** Catalog fields, through the catalog cache: one statement per batch of misses. */
  productBySku: DataLoader<string, CatalogProduct | null>;
  /** Live stock levels, always from the store: one statement per batch. */
  stockBySku: DataLoader<string, StockLevel | null>;
  /**
   * The levels `stockBySku` has read in this request, by SKU (`null`: no level recorded), so that a
   * field of an already-loaded product answers without a promise. The same answers as the loader's own
   * per-request cache, which holds the same reads.
   */
  levelsRead: Map<string, StockLevel | null>;
}

/** Creates one request's loaders. */
export function createStockLoaders(store: StockStore, catalog: EntityCache<string, CatalogProduct>, options: { batching: boolean }): StockLoaders {
  const levelsRead = new Map<string, StockLevel | null>();
  return {
    productBySku: createLoader((skus) => readThroughCache(catalog, skus, (missing) => store.getProductsBySkus(missing)), options),
    stockBySku: createLoader(async (skus) => {
      const levels = await store.getStockLevelsBySkus(skus);
      return skus.map((sku) => {
        const level = levels.get(sku) ?? null;
        levelsRead.set(sku, level);
        return level;
      });
    }, options),
    levelsRead,
  };
}
