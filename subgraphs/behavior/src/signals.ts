import { byScoreThenSku } from '../../kit/ranking';

/** A browsing event as the signals read it. */
export interface BehaviorEvent {
  sku: string;
  type: 'VIEW' | 'ADD_TO_CART' | 'PURCHASE' | 'CLICK';
  occurredAt: number;
}

/** A product co-viewed with another, and how often. */
export interface CoView {
  sku: string;
  count: number;
}

/** How behaviour turns into candidates. Each has a setting in the behavior subgraph's configuration. */
export interface SignalSettings {
  /** Events older than this are ignored. */
  windowMs: number;
  /** An event's weight halves every `halfLifeMs`. */
  halfLifeMs: number;
  viewWeight: number;
  /** Weight of a product clicked in an email; by default more than a view's, less than a cart's. */
  clickWeight: number;
  cartWeight: number;
  /** Products the user acted on that are kept as candidates, strongest first. */
  maxActed: number;
  /** Co-viewed products kept as SIMILAR candidates, strongest first. */
  maxSimilar: number;
  /** How many of the user's strongest products seed the co-view look-up. */
  seeds: number;
}

export type CandidateReason = 'ADDED_TO_CART' | 'RECENTLY_VIEWED' | 'SIMILAR';

export interface Candidate {
  sku: string;
  reason: CandidateReason;
  score: number;
}

/** One user's events in the window, summed up per product. */
export interface EventSummary {
  /** Decayed weight per product viewed, clicked or carted, and whether it was carted. */
  acted: Map<string, { weight: number; carted: boolean }>;
  purchased: Set<string>;
  /** The products whose co-views seed SIMILAR, strongest first (bought ones included). */
  seeds: string[];
}

// Score bands keep the order of reasons when sorting by score: cart > viewed > similar > trending.
const BAND: Record<CandidateReason, number> = { ADDED_TO_CART: 3, RECENTLY_VIEWED: 2, SIMILAR: 1 };
const squash = (x: number) => x / (1 + x);
const round = (x: number) => Math.round(x * 1e6) / 1e6;
/** The setting that weighs each event type short of a purchase, which sets the product apart instead. */
const WEIGHT: Record<Exclude<BehaviorEvent['type'], 'PURCHASE'>, 'viewWeight' | 'clickWeight' | 'cartWeight'> = {
  VIEW: 'viewWeight',
  CLICK: 'clickWeight',
  ADD_TO_CART: 'cartWeight',
};

/** Sums a user's events in the window at `now`: weights decay with age; purchases are set apart. */
export function summarizeEvents(events: readonly BehaviorEvent[], now: number, settings: SignalSettings): EventSummary {
  const acted = new Map<string, { weight: number; carted: boolean }>();
  const purchased = new Set<string>();
  const seedWeight = new Map<string, number>();
  for (const event of events) {
    const age = now - event.occurredAt;
    if (age < 0 || age > settings.windowMs) continue;
    if (event.type === 'PURCHASE') {
      purchased.add(event.sku);
      continue;
    }
    const weight = settings[WEIGHT[event.type]] * Math.pow(0.5, age / settings.halfLifeMs);
    const entry = acted.get(event.sku) ?? { weight: 0, carted: false };
    entry.weight += weight;
    entry.carted ||= event.type === 'ADD_TO_CART';
    acted.set(event.sku, entry);
    seedWeight.set(event.sku, (seedWeight.get(event.sku) ?? 0) + weight);
  }
  for (const sku of purchased) acted.delete(sku);
  const seeds = [...seedWeight.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, settings.seeds)
    .map(([sku]) => sku);
  return { acted, purchased, seeds };
}

/**
 * Ranks a user's candidates: products they acted on (ADDED_TO_CART if carted in the window, else
 * RECENTLY_VIEWED), then products co-viewed with their strongest products (SIMILAR). Purchased
 * products are never candidates. Scores fall in bands so that sorting by score keeps that order.
 */
export function buildCandidates(summary: EventSummary, coViews: ReadonlyMap<string, readonly CoView[]>, settings: SignalSettings): Candidate[] {
  const acted: Candidate[] = [...summary.acted.entries()].map(([sku, { weight, carted }]) => {
    const reason: CandidateReason = carted ? 'ADDED_TO_CART' : 'RECENTLY_VIEWED';
    return { sku, reason, score: round(BAND[reason] + squash(weight)) };
  });
  const similarity = new Map<string, number>();
  summary.seeds.forEach((seed, rank) => {
    const list = coViews.get(seed) ?? [];
    const top = list[0]?.count ?? 0;
    // Stronger seeds count more: the first seed fully, later ones less.
    const seedFactor = 1 / (rank + 1);
    for (const { sku, count } of list) {
      if (summary.acted.has(sku) || summary.purchased.has(sku)) continue;
      similarity.set(sku, (similarity.get(sku) ?? 0) + (seedFactor * count) / top);
    }
  });
  const similar: Candidate[] = [...similarity.entries()].map(([sku, s]) => ({ sku, reason: 'SIMILAR', score: round(BAND.SIMILAR + squash(s)) }));
  return [...acted.sort(byScoreThenSku).slice(0, settings.maxActed), ...similar.sort(byScoreThenSku).slice(0, settings.maxSimilar)];
}

/**
 * The products a user viewed, newest first, one entry per product. A product clicked in an email
 * counts as viewed: the shopper looked at it there.
 */
export function recentViews(events: readonly BehaviorEvent[], limit: number): { sku: string; viewedAt: number }[] {
  const latest = new Map<string, number>();
  for (const event of events) {
    if ((event.type === 'VIEW' || event.type === 'CLICK') && event.occurredAt > (latest.get(event.sku) ?? -Infinity)) latest.set(event.sku, event.occurredAt);
  }
  return [...latest.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, limit)
    .map(([sku, viewedAt]) => ({ sku, viewedAt }));
}
