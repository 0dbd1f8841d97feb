import type DataLoader from 'dataloader';
import type { EntityCache } from '../../kit/entityCache';
import { createLoader, readThroughCache } from '../../kit/loaders';
import type { BehaviorStore } from './behaviorStore';
import type { BehaviorEvent, CoView } from './signals';

/** Most co-viewed products kept per product. */
export const CO_VIEWS_PER_SKU = 50;

/** The behaviour service's per-request loaders. */
export interface BehaviorLoaders {
  /** A user's events in the signal window, always from the store: one statement per batch. */
  eventsByUserId: DataLoader<string, BehaviorEvent[] | null>;
  /** Co-view lists, through the co-view cache: one statement per batch of misses. */
  coViewsBySku: DataLoader<string, { list: CoView[] } | null>;
}

/** Creates one request's loaders; `window` is fixed per request, so one request sees one clock. */
export function createBehaviorLoaders(
  store: BehaviorStore,
  coViews: EntityCache<string, { list: CoView[] }>,
  window: { since: number; until: number },
  options: { batching: boolean },
): BehaviorLoaders {
  return {
    eventsByUserId: createLoader(async (userIds) => {
      const events = await store.getEventsByUserIds(userIds, window.since, window.until);
      return userIds.map((id) => events.get(id) ?? []);
    }, options),
    coViewsBySku: createLoader(
      (skus) =>
        readThroughCache(coViews, skus, async (missing) => {
          const found = await store.getCoViewsBySkus(missing, CO_VIEWS_PER_SKU);
          // Products without co-views are cached too: an empty list is an answer.
          return new Map(missing.map((sku) => [sku, { list: found.get(sku) ?? [] }]));
        }),
      options,
    ),
  };
}
