import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper';
import { DateTimeScalar, formatDateTime } from '../../kit/dateTime';
import { badArgumentError } from '../../../kit/errors';
import type { EntityCache } from '../../kit/entityCache';
import type { Ingestor } from '../../kit/ingest';
import type { BehaviorLoaders } from './behaviorLoaders';
import type { BehaviorStore, EventInput } from './behaviorStore';
import { type CoView, type SignalSettings, buildCandidates, recentViews, summarizeEvents } from './signals';

/** Recent views `User.recentViews` hands stock: as many as `recentlyViewed(limit:)` may ask for. */
export const RECENT_VIEWS_MAX = 50;
const DAY_MS = 86_400_000;

/** What behaviour resolvers see on each request. */
export interface BehaviorContext {
  loaders: BehaviorLoaders;
  store: BehaviorStore;
  /** "Now" for this request: every signal of one request is computed at the same instant. */
  now: number;
  signals: SignalSettings;
  trendingCache: EntityCache<string, { ranking: { sku: string; views: number }[] }>;
  ingestEvents: Ingestor<EventInput>;
}

/** A user as the gateway hands it over, with the consent this subgraph `@requires`. */
interface UserReference {
  id: string;
  consent?: { personalization?: boolean };
}

const personalized = (user: UserReference) => user.consent?.personalization === true;

function checkLimit(name: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 0) throw badArgumentError(name, `must be 0 or more, got ${value}.`);
  return Math.min(value, max);
}

/** The behaviour service's resolvers: recent views and recommendation signals (both internal), and the trending ranking. */
export const behaviorResolvers: GraphQLResolverMap<BehaviorContext> = {
  DateTime: DateTimeScalar,
  Query: {
    trendingRanking: async (_: unknown, { days, limit }: { days: number; limit: number }, ctx: BehaviorContext) => {
      if (!Number.isInteger(days) || days < 1 || days > 30) throw badArgumentError('days', `must be 1 to 30, got ${days}.`);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw badArgumentError('limit', `must be 1 to 1000, got ${limit}.`);
      const key = `${days}:${limit}`;
      const cached = ctx.trendingCache.getMany([key]).found.get(key);
      if (cached) return cached.ranking;
      const ranking = await ctx.store.getTrendingRanking(ctx.now - days * DAY_MS, ctx.now, limit);
      ctx.trendingCache.set(key, { ranking });
      return ranking;
    },
  },
  Mutation: {
    trackEvents: (_: unknown, { events }: { events: unknown[] }, { ingestEvents }: BehaviorContext) => ingestEvents.ingest(events),
  },
  User: {
    __resolveReference: (ref: UserReference) => ref,
    recentViews: async (user: UserReference, _: unknown, { loaders }: BehaviorContext) => {
      if (!personalized(user)) return { skus: [], viewedAt: [] };
      const views = recentViews((await loaders.eventsByUserId.load(user.id)) ?? [], RECENT_VIEWS_MAX);
      return { skus: views.map((v) => v.sku), viewedAt: views.map((v) => formatDateTime(v.viewedAt)) };
    },
    recommendationSignals: async (user: UserReference, _: unknown, { loaders, now, signals }: BehaviorContext) => {
      // Without personalization consent no behavioural signal is read at all, purchases included.
      if (!personalized(user)) return { skus: [], reasons: [], scores: [], purchasedSkus: [] };
      const events = (await loaders.eventsByUserId.load(user.id)) ?? [];
      const summary = summarizeEvents(events, now, signals);
      const lists = await loaders.coViewsBySku.loadMany(summary.seeds);
      const coViews = new Map<string, CoView[]>();
      summary.seeds.forEach((sku, i) => {
        const entry = lists[i];
        if (entry && !(entry instanceof Error)) coViews.set(sku, entry.list);
      });
      const candidates = buildCandidates(summary, coViews, signals);
      return {
        skus: candidates.map((c) => c.sku),
        reasons: candidates.map((c) => c.reason),
        scores: candidates.map((c) => c.score),
        purchasedSkus: [...summary.purchased].sort(),
      };
    },
  },
  Product: {
    __resolveReference: (ref: { sku: string }) => ref,
    coViewedSkus: async (product: { sku: string }, { limit }: { limit: number }, { loaders }: BehaviorContext) => {
      const capped = checkLimit('limit', limit, 50);
      const entry = await loaders.coViewsBySku.load(product.sku);
      return (entry?.list ?? []).slice(0, capped).map((c) => c.sku);
    },
  },
};
