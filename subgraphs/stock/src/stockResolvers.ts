import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper';
import { DateTimeScalar, formatDateTime } from '../../kit/dateTime';
import { badArgumentError } from '../../../kit/errors';
import type { Ingestor } from '../../kit/ingest';
import { type LinkIssuer, type RecommendationSlot, campaignArgument } from './liveLinks';
import { type Candidate, type RankingInput, rankRecommendations, trendingWindow } from './rankRecommendations';
import type { StockLoaders } from './stockLoaders';
import type { CatalogProduct, StockLevel, StockLevelInput, StockStore } from './stockStore';
import type { TrendingSource } from './trendingSource';

/** Most SKUs one `products(skus:)` query may ask for. */
export const MAX_PRODUCTS_PER_QUERY = 500;

/** What stock resolvers see on each request. */
export interface StockContext {
  loaders: StockLoaders;
  store: StockStore;
  trending: TrendingSource;
  ingestStock: Ingestor<StockLevelInput>;
  inStockThreshold: number;
  recommendationsMax: number;
  /** Seals live links; `undefined` without `TAILOR_LINK_KEYS` (links are then the product's own). */
  links: LinkIssuer | undefined;
}

/** A slot of a list as `User.recommendations` returns it: with its product's catalog entry, read for the whole request at once. */
interface ListedSlot extends RecommendationSlot {
  product: CatalogProduct;
}

/** A user as the gateway hands it over, with the signals this subgraph `@requires`. */
interface UserWithSignals {
  id: string;
  recommendationSignals: { skus: string[]; reasons: Candidate['reason'][]; scores: number[]; purchasedSkus: string[] };
}

/** A user as the gateway hands it over for `recentlyViewed`, with behavior's recent views. */
interface UserWithRecentViews {
  id: string;
  recentViews: { skus: string[]; viewedAt: string[] };
}

/** Cap on `recentlyViewed(limit:)`; behavior hands over as many recent views. */
export const RECENTLY_VIEWED_MAX = 50;

const formatters = new Map<string, Intl.NumberFormat>();
function formatMoney(cents: number, currency: string): string {
  let formatter = formatters.get(currency);
  if (!formatter) {
    formatter = new Intl.NumberFormat('en-GB', { style: 'currency', currency });
    formatters.set(currency, formatter);
  }
  return formatter.format(cents / 100);
}

// Catalog entries are shared through the cache, so each one's Money is built once, not per query.
const prices = new WeakMap<CatalogProduct, { amount: string; currency: string; formatted: string }>();
/** A catalog product's `Money`: the exact decimal amount, the currency, and the amount formatted for print. */
export function priceOf(product: CatalogProduct) {
  let price = prices.get(product);
  if (!price) {
    price = { amount: (product.priceCents / 100).toFixed(2), currency: product.currency, formatted: formatMoney(product.priceCents, product.currency) };
    prices.set(product, price);
  }
  return price;
}

/**
 * A product the catalog does not know, referenced by another service (an analytics event for a SKU that
 * was never listed). It keeps the user's history readable and is never in stock, so never recommended.
 */
export function unlistedProduct(sku: string): CatalogProduct {
  return { sku, name: 'Unavailable product', brand: '', category: '', priceCents: 0, currency: 'GBP', imageUrl: '', url: '' };
}

function cappedLimit(limit: number, max: number): number {
  if (!Number.isInteger(limit) || limit < 0) throw badArgumentError('limit', `must be 0 or more, got ${limit}.`);
  return Math.min(limit, max);
}

/**
 * Ranks one list against live stock. Stock levels go through the request's `stockBySku` loader, so
 * the lists of every user in one request are checked with one statement per round.
 */
async function pickInStock(ctx: StockContext, input: RankingInput): Promise<Candidate[]> {
  if (input.limit === 0) return [];
  const ranking = await ctx.trending.ranking();
  const inStock = new Map<string, boolean>();
  // Most users have enough candidates to fill their list: only those without read trending stock up front.
  const trendingLikely = input.candidates.length < input.limit * 2;
  let toLoad = [
    ...input.candidates.map((c) => c.sku),
    ...(trendingLikely ? ranking.slice(0, trendingWindow(input.limit) + input.purchasedSkus.length).map((e) => e.sku) : []),
  ];
  for (;;) {
    const levels = await ctx.loaders.stockBySku.loadMany(toLoad);
    toLoad.forEach((sku, i) => {
      const level = levels[i];
      inStock.set(sku, level !== null && !(level instanceof Error) && level.available >= ctx.inStockThreshold);
    });
    const { picked, missing } = rankRecommendations(input, ranking, (sku) => inStock.get(sku));
    if (missing.length > 0) {
      toLoad = missing;
      continue;
    }
    if (picked.length < input.limit) {
      // The ranking ran out: fill from the rest of the in-stock catalog, still live.
      const exclude = [...picked.map((p) => p.sku), ...input.purchasedSkus];
      for (const sku of await ctx.store.getInStockSkus(ctx.inStockThreshold, exclude, input.limit - picked.length)) {
        picked.push({ sku, reason: 'TRENDING', score: 0 });
      }
    }
    return picked;
  }
}

/** `answer` of the live stock level of `sku`: at once when this request has read it, else once the loader has. */
function withLevel<T>(loaders: StockLoaders, sku: string, answer: (level: StockLevel | null) => T): T | Promise<T> {
  const read = loaders.levelsRead.get(sku);
  return read !== undefined ? answer(read) : loaders.stockBySku.load(sku).then(answer);
}

/** The stock service's resolvers: catalog, live stock, and in-stock recommendations. */
export const stockResolvers: GraphQLResolverMap<StockContext> = {
  DateTime: DateTimeScalar,
  Query: {
    product: (_: unknown, { sku }: { sku: string }, { loaders }: StockContext) => loaders.productBySku.load(sku),
    products: (_: unknown, { skus }: { skus: string[] }, { loaders }: StockContext) => {
      if (skus.length > MAX_PRODUCTS_PER_QUERY) {
        throw badArgumentError('skus', `at most ${MAX_PRODUCTS_PER_QUERY} SKUs per query, got ${skus.length}.`);
      }
      return loaders.productBySku.loadMany(skus);
    },
    trendingProducts: async (_: unknown, { limit }: { limit: number }, ctx: StockContext) => {
      const picked = await pickInStock(ctx, { candidates: [], purchasedSkus: [], limit: cappedLimit(limit, ctx.recommendationsMax) });
      const products = await ctx.loaders.productBySku.loadMany(picked.map((p) => p.sku));
      return products.filter((p) => p !== null && !(p instanceof Error));
    },
  },
  Mutation: {
    recordStockLevels: (_: unknown, { levels }: { levels: unknown[] }, { ingestStock }: StockContext) => ingestStock.ingest(levels),
  },
  Product: {
    __resolveReference: async (ref: { sku: string }, { loaders }: StockContext) => (await loaders.productBySku.load(ref.sku)) ?? unlistedProduct(ref.sku),
    price: (product: CatalogProduct) => priceOf(product),
    // A level this request has read already (a recommended product's, read live by its ranking) answers
    // without a promise; any other is read live through the loader.
    stock: (product: CatalogProduct, _: unknown, { loaders }: StockContext) =>
      withLevel(loaders, product.sku, (level) => ({ available: level?.available ?? 0, updatedAt: formatDateTime(level?.observedAt ?? 0) })),
    inStock: (product: CatalogProduct, _: unknown, { loaders, inStockThreshold }: StockContext) =>
      withLevel(loaders, product.sku, (level) => (level?.available ?? 0) >= inStockThreshold),
  },
  User: {
    recentlyViewed: async (user: UserWithRecentViews, { limit }: { limit: number }, { loaders }: StockContext) => {
      const capped = cappedLimit(limit, RECENTLY_VIEWED_MAX);
      const skus = user.recentViews.skus.slice(0, capped);
      if (skus.length === 0) return [];
      // With every other user's of the request in one batch; a product the catalog no longer holds
      // keeps its SKU, as a reference to it would.
      const products = await loaders.productBySku.loadMany(skus);
      return skus.map((sku, i) => {
        const product = products[i];
        return { product: product && !(product instanceof Error) ? product : unlistedProduct(sku), viewedAt: user.recentViews.viewedAt[i] };
      });
    },
    recommendations: async (user: UserWithSignals, { limit }: { limit: number }, ctx: StockContext) => {
      const { skus, reasons, scores, purchasedSkus } = user.recommendationSignals;
      const candidates = skus.map((sku, i) => ({ sku, reason: reasons[i], score: scores[i] }));
      const picked = await pickInStock(ctx, { candidates, purchasedSkus, limit: cappedLimit(limit, ctx.recommendationsMax) });
      const listed = picked.map((p) => p.sku);
      // The list's catalog entries are read here, with every other user's of the request in one batch,
      // so that the fields below answer synchronously: no promise per recommendation or product.
      const products = await ctx.loaders.productBySku.loadMany(listed);
      return picked.map((p, slot): ListedSlot => {
        const product = products[slot];
        return {
          sku: p.sku,
          reason: p.reason,
          score: p.score,
          userId: user.id,
          slot,
          skus: listed,
          product: product && !(product instanceof Error) ? product : unlistedProduct(p.sku),
        };
      });
    },
  },
  Recommendation: {
    product: (rec: ListedSlot) => rec.product,
    clickUrl: (rec: ListedSlot, { campaign }: { campaign?: string | null }, { links }: StockContext) => {
      const named = campaignArgument(campaign);
      return links ? `${links.baseUrl}/r/${links.token(rec, named)}` : rec.product.url;
    },
    liveImageUrl: (rec: ListedSlot, { campaign }: { campaign?: string | null }, { links }: StockContext) => {
      const named = campaignArgument(campaign);
      return links ? `${links.baseUrl}/i/${links.token(rec, named)}.png` : rec.product.imageUrl;
    },
  },
};
