import type { Clock } from '../../../kit/clock';
import type { DemoProduct } from '../../../demo/demoData';
import type { PgDatabase, PgExecutor } from '../../kit/postgres';
import type { TrendingEntry } from './rankRecommendations';
import type { CatalogProduct, StockLevel, StockLevelInput, StockStore } from './stockStore';

// The stock store on PostgreSQL: the same decisions as the SQLite store, with each batch read in one
// statement (`= ANY($1)`) and written in one multi-row statement (`unnest`).

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
/** BIGINT columns come back from pg as strings. */
interface StockRow {
  sku: string;
  available: number;
  observed_at: string;
}

/** Rows per `unnest` statement when seeding. */
const SEED_CHUNK = 5_000;

/**
 * Writes the final level of each SKU once. The update applies only when the stored observation is
 * not newer, so a concurrent writer's newer observation is never overwritten by an older one.
 */
const UPSERT_LEVELS = `
INSERT INTO stock_levels (sku, available, observed_at)
SELECT l.sku, l.available, l.observed_at FROM unnest($1::text[], $2::integer[], $3::bigint[]) AS l(sku, available, observed_at)
ON CONFLICT (sku) DO UPDATE SET available = excluded.available, observed_at = excluded.observed_at
WHERE stock_levels.observed_at <= excluded.observed_at`;

/** The seed's write: as the SQLite seed's, unconditional. */
const SEED_LEVELS = `
INSERT INTO stock_levels (sku, available, observed_at)
SELECT l.sku, l.available, $3::bigint FROM unnest($1::text[], $2::integer[]) AS l(sku, available)
ON CONFLICT (sku) DO UPDATE SET available = excluded.available, observed_at = excluded.observed_at`;

const INSERT_PRODUCTS = `
INSERT INTO products (sku, name, brand, category, price_cents, currency, image_url, url)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::integer[], $6::text[], $7::text[], $8::text[])`;

/** What a batch of observations decides: the counts, and the final level of each SKU it changes. */
interface StockLevelPlan {
  accepted: number;
  duplicates: number;
  stale: number;
  levels: Map<string, StockLevel>;
}

/**
 * The SQLite store's decisions over a batch, in order, each against the level stored or accepted
 * before it: an older observation is stale; the same moment with the same quantity is a duplicate;
 * anything else (newer, or the same moment with another quantity) is accepted and becomes current.
 */
function planStockLevels(levels: readonly StockLevelInput[], stored: ReadonlyMap<string, StockLevel>): StockLevelPlan {
  const current = new Map(stored);
  const plan: StockLevelPlan = { accepted: 0, duplicates: 0, stale: 0, levels: new Map() };
  for (const level of levels) {
    const before = current.get(level.sku);
    if (before && level.observedAt < before.observedAt) {
      plan.stale++;
    } else if (before && level.observedAt === before.observedAt && level.available === before.available) {
      plan.duplicates++;
    } else {
      const next = { available: level.available, observedAt: level.observedAt };
      current.set(level.sku, next);
      plan.levels.set(level.sku, next);
      plan.accepted++;
    }
  }
  return plan;
}

/** The stock store on PostgreSQL (`db`'s schema migrated with `migrations/postgres/`). */
export function createPostgresStockStore(db: PgDatabase, clock: Clock): StockStore {
  async function stockLevelsBySkus(on: PgExecutor, skus: readonly string[], forUpdate = false): Promise<Map<string, StockLevel>> {
    // In a write, the rows are locked (in SKU order, so two batches cannot deadlock on them) until the
    // commit: a concurrent batch on the same SKUs waits and then decides on what this one wrote.
    const rows = await on.rows<StockRow>(
      'getStockLevelsBySkus',
      `SELECT sku, available, observed_at FROM stock_levels WHERE sku = ANY($1::text[])${forUpdate ? ' ORDER BY sku COLLATE "C" FOR UPDATE' : ''}`,
      [skus],
    );
    return new Map(rows.map((r) => [r.sku, { available: r.available, observedAt: Number(r.observed_at) }]));
  }

  return {
    async getProductsBySkus(skus) {
      const rows = await db.rows<ProductRow>(
        'getProductsBySkus',
        'SELECT sku, name, brand, category, price_cents, currency, image_url, url FROM products WHERE sku = ANY($1::text[])',
        [skus],
      );
      return new Map<string, CatalogProduct>(
        rows.map((r) => [
          r.sku,
          { sku: r.sku, name: r.name, brand: r.brand, category: r.category, priceCents: r.price_cents, currency: r.currency, imageUrl: r.image_url, url: r.url },
        ]),
      );
    },
    getStockLevelsBySkus: (skus) => stockLevelsBySkus(db, skus),
    async getInStockSkus(threshold, exclude, limit) {
      const rows = await db.rows<{ sku: string }>(
        'getInStockSkus',
        'SELECT sku FROM stock_levels WHERE available >= $1 AND sku <> ALL($2::text[]) ORDER BY sku COLLATE "C" LIMIT $3',
        [threshold, exclude, limit],
      );
      return rows.map((r) => r.sku);
    },
    async findUnknownSkus(levels) {
      const rows = await db.rows<{ sku: string }>('getKnownSkus', 'SELECT sku FROM products WHERE sku = ANY($1::text[])', [[...new Set(levels.map((l) => l.item.sku))]]);
      const known = new Set(rows.map((r) => r.sku));
      return levels
        .filter(({ item }) => !known.has(item.sku))
        .map(({ index, item }) => ({ index, field: 'sku', reason: `no product has sku ${JSON.stringify(item.sku)}` }));
    },
    recordStockLevels(levels) {
      return db.transaction(async (tx) => {
        const skus = [...new Set(levels.map((l) => l.sku))];
        const plan = planStockLevels(levels, await stockLevelsBySkus(tx, skus, true));
        if (plan.levels.size > 0) {
          const writes = [...plan.levels].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
          await tx.run('upsertStockLevel', UPSERT_LEVELS, [writes.map(([sku]) => sku), writes.map(([, l]) => l.available), writes.map(([, l]) => l.observedAt)]);
        }
        return { accepted: plan.accepted, duplicates: plan.duplicates, stale: plan.stale };
      });
    },
    async isEmpty() {
      const [row] = await db.rows<{ n: string }>('countProducts', 'SELECT COUNT(*) AS n FROM (SELECT 1 FROM products LIMIT 1) AS any_product');
      return Number(row.n) === 0;
    },
    async seed(products: DemoProduct[]) {
      const now = clock.now();
      await db.transaction(async (tx) => {
        for (let start = 0; start < products.length; start += SEED_CHUNK) {
          const chunk = products.slice(start, start + SEED_CHUNK);
          // Products first: a stock level references its product.
          await tx.run('insertProduct', INSERT_PRODUCTS, [
            chunk.map((p) => p.sku),
            chunk.map((p) => p.name),
            chunk.map((p) => p.brand),
            chunk.map((p) => p.category),
            chunk.map((p) => p.priceCents),
            chunk.map((p) => p.currency),
            chunk.map((p) => p.imageUrl),
            chunk.map((p) => p.url),
          ]);
          await tx.run('upsertStockLevel', SEED_LEVELS, [chunk.map((p) => p.sku), chunk.map((p) => p.available), now]);
        }
      });
    },
    async getTrendingRanking() {
      const [row] = await db.rows<{ entries: TrendingEntry[]; fetched_at: string; max_age_ms: string }>(
        'getLastTrendingRanking',
        'SELECT entries, fetched_at, max_age_ms FROM trending_ranking WHERE id = 1',
      );
      return row && { entries: row.entries, fetchedAt: Number(row.fetched_at), maxAgeMs: Number(row.max_age_ms) };
    },
    async saveTrendingRanking(ranking) {
      // One statement: atomic by itself.
      await db.run(
        'saveTrendingRanking',
        `INSERT INTO trending_ranking (id, entries, fetched_at, max_age_ms) VALUES (1, $1::jsonb, $2, $3)
         ON CONFLICT (id) DO UPDATE SET entries = excluded.entries, fetched_at = excluded.fetched_at, max_age_ms = excluded.max_age_ms`,
        [JSON.stringify(ranking.entries), ranking.fetchedAt, ranking.maxAgeMs],
      );
    },
  };
}
