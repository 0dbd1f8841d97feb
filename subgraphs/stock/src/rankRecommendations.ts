import { byScoreThenSku } from '../../kit/ranking';

/** Why a product is recommended, strongest first. */
export type RecommendationReason = 'ADDED_TO_CART' | 'RECENTLY_VIEWED' | 'SIMILAR' | 'TRENDING';

/** A candidate from the behaviour service: a product, why, and a score (higher is better). */
export interface Candidate {
  sku: string;
  reason: RecommendationReason;
  score: number;
}

/** A product ranked by recent views across all users. */
export interface TrendingEntry {
  sku: string;
  views: number;
}

/** What ranking needs to know about one user. */
export interface RankingInput {
  candidates: readonly Candidate[];
  /** Bought in the signal window: never recommended. */
  purchasedSkus: readonly string[];
  limit: number;
}

/**
 * Scores of TRENDING items lie in [0, 1), below every behavioural reason (SIMILAR starts at 1), so that
 * sorting by score keeps the order of reasons. More views give a higher score.
 */
export function trendingScore(entry: TrendingEntry, mostViews: number): number {
  return Math.round((entry.views / (mostViews + 1)) * 1e6) / 1e6;
}

/**
 * Picks a user's recommendations: their candidates first, then the trending ranking, keeping only
 * products that `inStock` says are in stock now. The list has no duplicates and no purchased
 * products, is sorted by score (descending, then SKU), and holds `limit` items whenever enough
 * qualify. Where `inStock` does not know a SKU yet, it answers `undefined`; ranking then stops and
 * returns those SKUs in `missing` (at most a window's worth from the trending ranking), so that the
 * caller can load them in one read and rank again.
 */
export function rankRecommendations(
  input: RankingInput,
  trending: readonly TrendingEntry[],
  inStock: (sku: string) => boolean | undefined,
): { picked: Candidate[]; missing: string[] } {
  const excluded = new Set(input.purchasedSkus);
  const seen = new Set<string>();
  const picked: Candidate[] = [];
  const missing: string[] = [];
  for (const candidate of [...input.candidates].sort(byScoreThenSku)) {
    if (seen.has(candidate.sku) || excluded.has(candidate.sku)) continue;
    const known = inStock(candidate.sku);
    if (known === undefined) missing.push(candidate.sku);
    else if (known) {
      seen.add(candidate.sku);
      picked.push(candidate);
    }
  }
  if (missing.length > 0) return { picked: [], missing };
  const window = trendingWindow(input.limit - picked.length);
  const mostViews = trending[0]?.views ?? 0;
  for (const entry of trending) {
    if (picked.length >= input.limit || missing.length >= window) break;
    if (seen.has(entry.sku) || excluded.has(entry.sku)) continue;
    const known = inStock(entry.sku);
    if (known === undefined) missing.push(entry.sku);
    else if (known && missing.length === 0) {
      seen.add(entry.sku);
      picked.push({ sku: entry.sku, reason: 'TRENDING', score: trendingScore(entry, mostViews) });
    }
  }
  if (missing.length > 0) return { picked: [], missing };
  return { picked: picked.sort(byScoreThenSku).slice(0, input.limit), missing };
}

/** How many trending SKUs to load at once to fill `needed` places, with room for some out of stock. */
export function trendingWindow(needed: number): number {
  return Math.max(needed, 0) * 2 + 8;
}
