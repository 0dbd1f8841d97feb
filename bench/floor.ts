/**
 * The floor of `npm run bench`, for benchmarking only: the answers of the two persisted operations the
 * benchmark sends (`CampaignBatch`, `PersonalizeRecipient`), computed in one process straight from a
 * stack's three SQLite files, with no federation and no GraphQL execution. It applies the subgraphs'
 * own rules (their pure functions: `summarizeEvents`, `buildCandidates`, `recentViews`,
 * `rankRecommendations`, `priceOf`, live link sealing), reads what Tailor reads live on every request
 * (consent, events, stock levels) and caches what Tailor caches (profiles, catalog, co-views, the
 * trending ranking) with the TTLs the subgraph schemas declare. What Tailor spends above it goes to
 * federation: the gateway's planning and GraphQL execution, four processes, and the requests between them.
 *
 * `POST /graphql` takes the body the benchmark sends (a persisted hash and variables) and answers
 * `{ "data": … }`; anything else is a 400 with a JSON error. Two optional headers pin the clock, so that
 * an answer can be compared with Tailor's at an instant Tailor answered at: `tailor-floor-now` (epoch
 * ms: the instant of the signals, the event window and the trending ranking's freshness) and
 * `tailor-floor-link-now` (epoch ms: the instant the live link tokens are sealed at; default the first).
 */
import BetterSqlite3 from 'better-sqlite3';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Counter } from 'prom-client';
import { type CachePolicy, readCachePolicy } from '../kit/cachePolicy';
import { type Clock, systemClock } from '../kit/clock';
import { readManifest } from '../kit/operationManifest';
import type { SubgraphKeyring } from '../kit/subgraphCredential';
import { formatDateTime } from '../subgraphs/kit/dateTime';
import { type EntityCache, createEntityCache } from '../subgraphs/kit/entityCache';
import { CO_VIEWS_PER_SKU } from '../subgraphs/behavior/src/behaviorLoaders';
import { loadBehaviorConfig, signalSettingsOf } from '../subgraphs/behavior/src/config';
import { type BehaviorEvent, type CoView, type SignalSettings, buildCandidates, recentViews, summarizeEvents } from '../subgraphs/behavior/src/signals';
import { MAX_USERS_PER_QUERY, NO_CONSENT } from '../subgraphs/crm/src/crmResolvers';
import type { Consent, UserProfile } from '../subgraphs/crm/src/crmStore';
import { loadStockConfig } from '../subgraphs/stock/src/config';
import { type LinkIssuer, type RecommendationSlot, campaignArgument, createLinkIssuer } from '../subgraphs/stock/src/liveLinks';
import { type Candidate, type RankingInput, type TrendingEntry, rankRecommendations, trendingWindow } from '../subgraphs/stock/src/rankRecommendations';
import { RECENTLY_VIEWED_MAX, priceOf, unlistedProduct } from '../subgraphs/stock/src/stockResolvers';
import type { CatalogProduct, StockLevel, StoredTrendingRanking } from '../subgraphs/stock/src/stockStore';
import { TRENDING_DAYS, TRENDING_DEPTH } from '../subgraphs/stock/src/trendingSource';

const ROOT = join(__dirname, '..');
const DAY_MS = 86_400_000;
/** `limit` of the operations' `recommendations` when the variables give none (`$limit: Int = 4`). */
const DEFAULT_LIMIT = 4;
/** `recentlyViewed(limit: 4)` of `PersonalizeRecipient`. */
const RECENTLY_VIEWED_LIMIT = 4;
/** The largest GraphQL `Int`. */
const MAX_INT = 2 ** 31 - 1;
/** Largest request body the floor reads: a 500-id batch is about 6 kB. */
const MAX_BODY_BYTES = 1024 * 1024;

/** What the floor needs to know of the stack's configuration, to answer as its subgraphs would. */
export interface FloorSettings {
  /** Behavior's signal settings. */
  signals: SignalSettings;
  /** Stock's `TAILOR_IN_STOCK_THRESHOLD`. */
  inStockThreshold: number;
  /** Stock's cap on `recommendations(limit:)`. */
  recommendationsMax: number;
  /** Stock's live link sealing; `undefined` without `TAILOR_LINK_KEYS` (links are then the product's own URLs). */
  links?: { keyring: SubgraphKeyring; baseUrl: string; ttlMs: number };
  /** `TAILOR_CACHE` and `TAILOR_CACHE_MAX_ENTRIES`, which every subgraph reads alike. */
  cache: { enabled: boolean; maxEntries: number };
}

/**
 * The floor's settings from an environment, through the behavior and stock subgraphs' own configuration
 * loaders: the same variables give the same settings. Throws a `ConfigError` naming every bad one.
 */
export function loadFloorSettings(env: Record<string, string | undefined>): FloorSettings {
  const behavior = loadBehaviorConfig({ env, argv: [] });
  const stock = loadStockConfig({ env, argv: [] });
  return {
    signals: signalSettingsOf(behavior),
    inStockThreshold: stock.inStockThreshold,
    recommendationsMax: stock.recommendationsMax,
    links: stock.linkKeys ? { keyring: stock.linkKeys, baseUrl: stock.linkBaseUrl, ttlMs: stock.linkTtlDays * DAY_MS } : undefined,
    cache: { enabled: stock.cache, maxEntries: stock.cacheMaxEntries },
  };
}

/** The `Money` of a product, as `priceOf` builds it. */
export type FloorMoney = ReturnType<typeof priceOf>;

/** One recommendation of `CampaignBatch`, in the order of its selection set. */
export interface CampaignRecommendation {
  reason: Candidate['reason'];
  score: number;
  product: { sku: string; name: string; brand: string; price: FloorMoney; imageUrl: string; url: string; inStock: boolean };
  clickUrl: string;
  liveImageUrl: string;
}

/** One user of `CampaignBatch`'s `users(ids:)`: the profile but its timezone and segments. */
export interface CampaignUser extends Omit<UserProfile, 'timezone' | 'segments'> {
  consent: { email: boolean; personalization: boolean };
  recommendations: CampaignRecommendation[];
}

/** One recommendation of `PersonalizeRecipient`. */
export interface RecipientRecommendation {
  reason: Candidate['reason'];
  score: number;
  product: { sku: string; name: string; brand: string; category: string; price: FloorMoney; imageUrl: string; url: string; inStock: boolean };
  clickUrl: string;
  liveImageUrl: string;
}

/** `PersonalizeRecipient`'s `user(id:)`: the whole profile, then the rest. */
export interface RecipientUser extends UserProfile {
  consent: { email: boolean; personalization: boolean };
  recentlyViewed: { viewedAt: string; product: { sku: string; name: string; imageUrl: string; url: string } }[];
  recommendations: RecipientRecommendation[];
}

/** The arguments both operations share. */
export interface FloorArgs {
  /** `recommendations(limit:)`, 0 or more (capped like stock caps it). */
  limit: number;
  /** The checked `campaign` of the live links; `null` when none was named. */
  campaign: string | null;
}

/** The floor's computation over one stack's data folder. */
export interface Floor {
  /** `CampaignBatch`'s `data` at `now`, its live links sealed at `linkNow`. */
  campaignBatch(ids: readonly string[], args: FloorArgs, now: number, linkNow?: number): { users: (CampaignUser | null)[] };
  /** `PersonalizeRecipient`'s `data` at `now`, its live links sealed at `linkNow`. */
  personalizeRecipient(id: string, args: FloorArgs, now: number, linkNow?: number): { user: RecipientUser | null };
  /** Statements run so far, by table read (what batching means here: one per table per request). */
  statements(): Record<string, number>;
  close(): void;
}

/** Options of `createFloor`. */
export interface FloorOptions {
  /** The stack's data folder: `crm.db`, `stock.db` and `behavior.db`, opened read-only. */
  dataDir: string;
  settings: FloorSettings;
  /** The caches' clock and the trending refresh's (default the wall clock). */
  clock?: Clock;
}

/** A user's part of one request, before it is shaped into an operation's answer. */
interface Computed {
  profile: UserProfile;
  consent: Consent;
  /** The user's events in the signal window; `[]` without personalization consent (none are read). */
  events: BehaviorEvent[];
  /** Candidates and purchases, as behavior hands them to stock. */
  input: RankingInput;
  picked: Candidate[];
}

/**
 * Opens the floor over `dataDir`. Every request reads consent, events and stock levels afresh, each
 * table in one statement for the whole request (a second one for stock only when a user's trending
 * window runs past what the first read, and one more for the in-stock fill); profiles, catalog entries
 * and co-view lists go through LRU caches with the subgraphs' TTLs.
 */
export function createFloor(options: FloorOptions): Floor {
  const { settings } = options;
  const clock = options.clock ?? systemClock;
  const open = (name: string) => new BetterSqlite3(join(options.dataDir, `${name}.db`), { readonly: true, fileMustExist: true });
  const crm = open('crm');
  const stock = open('stock');
  const behavior = open('behavior');
  const counts: Record<string, number> = {};
  const statement = <Row>(db: BetterSqlite3.Database, name: string, sql: string) => {
    const prepared = db.prepare(sql);
    counts[name] = 0;
    return {
      all: (...params: unknown[]) => {
        counts[name]++;
        return prepared.all(...params) as Row[];
      },
      get: (...params: unknown[]) => {
        counts[name]++;
        return prepared.get(...params) as Row | undefined;
      },
    };
  };
  // The stores' own statements (subgraphs/*/src/*Store.ts), on the migrations' tables.
  const usersByIds = statement<{ id: string; email: string; first_name: string | null; last_name: string | null; locale: string; timezone: string | null; loyalty_tier: UserProfile['loyaltyTier']; segments: string }>(
    crm,
    'users',
    'SELECT id, email, first_name, last_name, locale, timezone, loyalty_tier, segments FROM users WHERE id IN (SELECT value FROM json_each(?))',
  );
  const consentsByIds = statement<{ user_id: string; email: number; personalization: number; updated_at: number }>(
    crm,
    'consents',
    'SELECT user_id, email, personalization, updated_at FROM consents WHERE user_id IN (SELECT value FROM json_each(?))',
  );
  const eventsByUsers = statement<{ user_id: string; sku: string; type: BehaviorEvent['type']; occurred_at: number }>(
    behavior,
    'events',
    'SELECT user_id, sku, type, occurred_at FROM events WHERE user_id IN (SELECT value FROM json_each(?)) AND occurred_at BETWEEN ? AND ?',
  );
  const coViewsBySkus = statement<{ sku_a: string; sku_b: string; n: number }>(
    behavior,
    'coviews',
    'SELECT sku_a, sku_b, n FROM coviews WHERE sku_a IN (SELECT value FROM json_each(?)) ORDER BY sku_a, n DESC, sku_b',
  );
  const trendingRanking = statement<TrendingEntry>(
    behavior,
    'trending',
    `SELECT sku, COUNT(*) AS views FROM events WHERE type = 'VIEW' AND occurred_at BETWEEN ? AND ? GROUP BY sku ORDER BY views DESC, sku LIMIT ?`,
  );
  const productsBySkus = statement<{ sku: string; name: string; brand: string; category: string; price_cents: number; currency: string; image_url: string; url: string }>(
    stock,
    'products',
    'SELECT sku, name, brand, category, price_cents, currency, image_url, url FROM products WHERE sku IN (SELECT value FROM json_each(?))',
  );
  const levelsBySkus = statement<{ sku: string; available: number; observed_at: number }>(
    stock,
    'stock_levels',
    'SELECT sku, available, observed_at FROM stock_levels WHERE sku IN (SELECT value FROM json_each(?))',
  );
  // Stock's fill reads `… AND sku NOT IN (exclude) ORDER BY sku LIMIT n` per user; one read of the first
  // `n + |exclude|` in-stock SKUs holds every such answer, so one statement serves a whole batch.
  const inStockSkus = statement<{ sku: string; available: number; observed_at: number }>(
    stock,
    'stock_fill',
    'SELECT sku, available, observed_at FROM stock_levels WHERE available >= ? ORDER BY sku LIMIT ?',
  );
  const savedTrending = statement<{ entries: string; fetched_at: number; max_age_ms: number }>(
    stock,
    'trending_saved',
    'SELECT entries, fetched_at, max_age_ms FROM trending_ranking WHERE id = 1',
  );

  const policy = (name: string): CachePolicy => readCachePolicy(readFileSync(join(ROOT, 'subgraphs', name, 'schema.graphql'), 'utf8'));
  const crmPolicy = policy('crm');
  const stockPolicy = policy('stock');
  const behaviorPolicy = policy('behavior');
  const requests = new Counter({ name: 'floor_cache_requests_total', help: 'Floor cache look-ups', labelNames: ['cache', 'result'], registers: [] });
  const cacheOptions = { maxEntries: settings.cache.maxEntries, enabled: settings.cache.enabled, requests, clock };
  const profiles = createEntityCache<string, UserProfile>({ name: 'profiles', ttlMs: crmPolicy.typeTtlMs('User'), ...cacheOptions });
  const catalog = createEntityCache<string, CatalogProduct>({ name: 'catalog', ttlMs: stockPolicy.typeTtlMs('Product'), ...cacheOptions });
  const coViews = createEntityCache<string, { list: CoView[] }>({ name: 'coviews', ttlMs: behaviorPolicy.fieldTtlMs('Product', 'coViewedSkus'), ...cacheOptions });
  const trending = createFloorTrending({
    saved: () => {
      const row = savedTrending.get();
      return row && { entries: JSON.parse(row.entries) as TrendingEntry[], fetchedAt: row.fetched_at, maxAgeMs: row.max_age_ms };
    },
    compute: (now) => trendingRanking.all(now - TRENDING_DAYS * DAY_MS, now, TRENDING_DEPTH),
    // What behavior's `Cache-Control: max-age` says of `trendingRanking`, which stock keeps the ranking for.
    maxAgeMs: Math.max(behaviorPolicy.fieldTtlMs('Query', 'trendingRanking'), 1),
    clock,
  });
  // One issuer for the floor, its clock set per request: a request is computed synchronously, start to end.
  let sealAt = 0;
  const links: LinkIssuer | undefined = settings.links && createLinkIssuer({ ...settings.links, clock: { now: () => sealAt } });

  /** Looks `keys` up in `cache` and reads the misses with `read` (one statement), caching what it finds. */
  function cached<V extends object>(cache: EntityCache<string, V>, keys: readonly string[], read: (missing: string[]) => Map<string, V>): Map<string, V> {
    const { found, missing } = cache.getMany(keys);
    if (missing.length > 0) {
      for (const [key, value] of read(missing)) {
        cache.set(key, value);
        found.set(key, value);
      }
    }
    return found;
  }

  const readProfiles = (ids: string[]) =>
    new Map(
      usersByIds.all(JSON.stringify(ids)).map((r) => [
        r.id,
        { id: r.id, email: r.email, firstName: r.first_name, lastName: r.last_name, locale: r.locale, timezone: r.timezone, loyaltyTier: r.loyalty_tier, segments: JSON.parse(r.segments) as string[] },
      ]),
    );
  const readProducts = (skus: string[]) =>
    new Map(
      productsBySkus.all(JSON.stringify(skus)).map((r) => [
        r.sku,
        { sku: r.sku, name: r.name, brand: r.brand, category: r.category, priceCents: r.price_cents, currency: r.currency, imageUrl: r.image_url, url: r.url },
      ]),
    );
  const readCoViews = (skus: string[]) => {
    const bySku = new Map<string, { list: CoView[] }>(skus.map((sku) => [sku, { list: [] }]));
    for (const row of coViewsBySkus.all(JSON.stringify(skus))) {
      const entry = bySku.get(row.sku_a)!;
      if (entry.list.length < CO_VIEWS_PER_SKU) entry.list.push({ sku: row.sku_b, count: row.n });
    }
    // Products without co-views are cached too, as behavior caches them: an empty list is an answer.
    return bySku;
  };

  /** Every known user of `ids` (once each), with consent, signals and in-stock recommendations at `now`. */
  function compute(ids: readonly string[], limit: number, now: number): { users: Map<string, Computed>; levels: Map<string, StockLevel | null>; products: (skus: Iterable<string>) => Map<string, CatalogProduct> } {
    const unique = [...new Set(ids)];
    const found = cached(profiles, unique, readProfiles);
    const known = unique.filter((id) => found.has(id));
    const consents = new Map<string, Consent>();
    if (known.length > 0) {
      for (const r of consentsByIds.all(JSON.stringify(known))) consents.set(r.user_id, { email: r.email === 1, personalization: r.personalization === 1, updatedAt: r.updated_at });
    }
    const users = new Map<string, Computed>();
    for (const id of known) {
      users.set(id, { profile: found.get(id)!, consent: consents.get(id) ?? NO_CONSENT, events: [], input: { candidates: [], purchasedSkus: [], limit }, picked: [] });
    }
    // Without personalization consent no behavioural signal is read at all, purchases included.
    const personalized = known.filter((id) => users.get(id)!.consent.personalization === true);
    if (personalized.length > 0) {
      for (const r of eventsByUsers.all(JSON.stringify(personalized), now - settings.signals.windowMs, now)) {
        users.get(r.user_id)?.events.push({ sku: r.sku, type: r.type, occurredAt: r.occurred_at });
      }
    }
    const summaries = new Map(personalized.map((id) => [id, summarizeEvents(users.get(id)!.events, now, settings.signals)]));
    const seeds = [...new Set([...summaries.values()].flatMap((s) => s.seeds))];
    const lists = seeds.length > 0 ? cached(coViews, seeds, readCoViews) : new Map<string, { list: CoView[] }>();
    for (const [id, summary] of summaries) {
      const byseed = new Map(summary.seeds.flatMap((sku) => (lists.has(sku) ? [[sku, lists.get(sku)!.list] as const] : [])));
      users.get(id)!.input = { candidates: buildCandidates(summary, byseed, settings.signals), purchasedSkus: [...summary.purchased].sort(), limit };
    }

    const levels = new Map<string, StockLevel | null>();
    const loadLevels = (skus: Iterable<string>) => {
      const wanted = [...new Set(skus)].filter((sku) => !levels.has(sku));
      if (wanted.length === 0) return;
      for (const sku of wanted) levels.set(sku, null);
      for (const r of levelsBySkus.all(JSON.stringify(wanted))) levels.set(r.sku, { available: r.available, observedAt: r.observed_at });
    };
    const inStock = (sku: string) => {
      if (!levels.has(sku)) return undefined;
      const level = levels.get(sku);
      return level !== null && level !== undefined && level.available >= settings.inStockThreshold;
    };
    let pending = limit > 0 ? [...users.values()] : [];
    if (pending.length > 0) {
      const ranking = trending.ranking(now);
      const mostPurchased = Math.max(0, ...pending.map((u) => u.input.purchasedSkus.length));
      // Every user's candidates and the head of the trending ranking that fills short lists, in one read.
      loadLevels([...pending.flatMap((u) => u.input.candidates.map((c) => c.sku)), ...ranking.slice(0, trendingWindow(limit) + mostPurchased).map((e) => e.sku)]);
      while (pending.length > 0) {
        const missing: string[] = [];
        const again: Computed[] = [];
        for (const user of pending) {
          const ranked = rankRecommendations(user.input, ranking, inStock);
          if (ranked.missing.length > 0) {
            missing.push(...ranked.missing);
            again.push(user);
          } else {
            user.picked = ranked.picked;
          }
        }
        if (again.length > 0) loadLevels(missing);
        pending = again;
      }
      // The ranking ran out: fill from the rest of the in-stock catalog, in SKU order, still live.
      const short = [...users.values()].filter((u) => u.picked.length < limit);
      if (short.length > 0) {
        const excludeOf = (u: Computed) => new Set([...u.picked.map((p) => p.sku), ...u.input.purchasedSkus]);
        const rows = inStockSkus.all(settings.inStockThreshold, Math.max(...short.map((u) => limit - u.picked.length + excludeOf(u).size)));
        for (const r of rows) if (!levels.get(r.sku)) levels.set(r.sku, { available: r.available, observedAt: r.observed_at });
        for (const user of short) {
          const exclude = excludeOf(user);
          const needed = limit - user.picked.length;
          const fill = rows.filter((r) => !exclude.has(r.sku)).slice(0, needed);
          user.picked = [...user.picked, ...fill.map((r): Candidate => ({ sku: r.sku, reason: 'TRENDING', score: 0 }))];
        }
      }
    }
    const products = (skus: Iterable<string>) => {
      const wanted = [...new Set(skus)];
      return wanted.length > 0 ? cached(catalog, wanted, readProducts) : new Map<string, CatalogProduct>();
    };
    return { users, levels, products };
  }

  /** The live links of a user's list: one token per slot, shared by `clickUrl` and `liveImageUrl`. */
  function linksOf(userId: string, picked: Candidate[], campaign: string | null, productOf: (sku: string) => CatalogProduct) {
    const listed = picked.map((p) => p.sku);
    return picked.map((p, slot) => {
      if (!links) {
        const product = productOf(p.sku);
        return { clickUrl: product.url, liveImageUrl: product.imageUrl };
      }
      const token = links.token({ sku: p.sku, reason: p.reason, score: p.score, userId, slot, skus: listed } satisfies RecommendationSlot, campaign);
      return { clickUrl: `${links.baseUrl}/r/${token}`, liveImageUrl: `${links.baseUrl}/i/${token}.png` };
    });
  }

  const cap = (limit: number) => Math.min(limit, settings.recommendationsMax);
  const inStockOf = (levels: Map<string, StockLevel | null>, sku: string) => (levels.get(sku)?.available ?? 0) >= settings.inStockThreshold;

  return {
    campaignBatch(ids, args, now, linkNow = now) {
      if (ids.length > MAX_USERS_PER_QUERY) throw new FloorRequestError(`variables.ids: at most ${MAX_USERS_PER_QUERY} ids per request, got ${ids.length}`);
      const { users, levels, products } = compute(ids, cap(args.limit), now);
      const catalogOf = products([...users.values()].flatMap((u) => u.picked.map((p) => p.sku)));
      const productOf = (sku: string) => catalogOf.get(sku) ?? unlistedProduct(sku);
      sealAt = linkNow;
      const shaped = new Map<string, CampaignUser>();
      for (const [id, user] of users) {
        const { profile, consent, picked } = user;
        const urls = linksOf(id, picked, args.campaign, productOf);
        shaped.set(id, {
          id: profile.id,
          email: profile.email,
          firstName: profile.firstName,
          lastName: profile.lastName,
          locale: profile.locale,
          loyaltyTier: profile.loyaltyTier,
          consent: { email: consent.email, personalization: consent.personalization },
          recommendations: picked.map((p, slot) => {
            const product = productOf(p.sku);
            return {
              reason: p.reason,
              score: p.score,
              product: { sku: product.sku, name: product.name, brand: product.brand, price: priceOf(product), imageUrl: product.imageUrl, url: product.url, inStock: inStockOf(levels, p.sku) },
              ...urls[slot],
            };
          }),
        });
      }
      return { users: ids.map((id) => shaped.get(id) ?? null) };
    },
    personalizeRecipient(id, args, now, linkNow = now) {
      const { users, levels, products } = compute([id], cap(args.limit), now);
      const user = users.get(id);
      if (!user) return { user: null };
      const { profile, consent, picked, events } = user;
      const views = consent.personalization === true ? recentViews(events, Math.min(RECENTLY_VIEWED_LIMIT, RECENTLY_VIEWED_MAX)) : [];
      const catalogOf = products([...picked.map((p) => p.sku), ...views.map((v) => v.sku)]);
      const productOf = (sku: string) => catalogOf.get(sku) ?? unlistedProduct(sku);
      sealAt = linkNow;
      const urls = linksOf(id, picked, args.campaign, productOf);
      return {
        user: {
          id: profile.id,
          email: profile.email,
          firstName: profile.firstName,
          lastName: profile.lastName,
          locale: profile.locale,
          timezone: profile.timezone,
          loyaltyTier: profile.loyaltyTier,
          segments: profile.segments,
          consent: { email: consent.email, personalization: consent.personalization },
          recentlyViewed: views.map(({ sku, viewedAt }) => {
            const product = productOf(sku);
            return { viewedAt: formatDateTime(viewedAt), product: { sku: product.sku, name: product.name, imageUrl: product.imageUrl, url: product.url } };
          }),
          recommendations: picked.map((p, slot) => {
            const product = productOf(p.sku);
            return {
              reason: p.reason,
              score: p.score,
              product: {
                sku: product.sku,
                name: product.name,
                brand: product.brand,
                category: product.category,
                price: priceOf(product),
                imageUrl: product.imageUrl,
                url: product.url,
                inStock: inStockOf(levels, p.sku),
              },
              ...urls[slot],
            };
          }),
        },
      };
    },
    statements: () => ({ ...counts }),
    close() {
      trending.close();
      for (const db of [crm, stock, behavior]) db.close();
    },
  };
}

/**
 * The trending ranking as stock serves it (`subgraphs/stock/src/trendingSource.ts`): the ranking stock
 * saved in its database is read once, at start; a ranking older than its max-age is still served while
 * one refresh runs after the request (stale-while-revalidate). A refresh counts views over the last
 * `TRENDING_DAYS` days, `TRENDING_DEPTH` deep, as behavior's `trendingRanking` does. Behavior's own
 * one-minute cache of that ranking, which can make the one stock fetches up to a minute older, is not
 * modelled. With none saved, the first request computes one at once.
 */
function createFloorTrending(options: {
  saved: () => StoredTrendingRanking | undefined;
  compute: (now: number) => TrendingEntry[];
  maxAgeMs: number;
  clock: Clock;
}): { ranking(now: number): TrendingEntry[]; close(): void } {
  let current = options.saved();
  let refresh: NodeJS.Immediate | undefined;
  const computeAt = (now: number): StoredTrendingRanking => ({ entries: options.compute(now), fetchedAt: now, maxAgeMs: options.maxAgeMs });
  return {
    ranking(now) {
      if (!current) {
        current = computeAt(now);
        return current.entries;
      }
      const age = now - current.fetchedAt;
      // A ranking from the future (a clock that was wrong when it was saved) is stale, as stock treats it.
      if (!(age >= 0 && age < current.maxAgeMs) && !refresh) {
        refresh = setImmediate(() => {
          refresh = undefined;
          try {
            current = computeAt(options.clock.now());
          } catch {
            // Kept: the last ranking is served until a later refresh succeeds, as stock serves it.
          }
        });
      }
      return current.entries;
    },
    close() {
      if (refresh) clearImmediate(refresh);
      refresh = undefined;
    },
  };
}

/** A request the floor does not answer: the message says what is wrong (HTTP 400). */
export class FloorRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FloorRequestError';
  }
}

/** A request the floor answers: one of the two persisted operations, its variables checked. */
export type FloorRequest =
  | { operation: 'CampaignBatch'; ids: string[]; args: FloorArgs }
  | { operation: 'PersonalizeRecipient'; id: string; args: FloorArgs };

/** The persisted operations the floor answers, by their manifest hash. */
const OPERATIONS = (() => {
  const byName = new Map(readManifest().operations.map((o) => [o.name, o.id]));
  const hashes = new Map<string, FloorRequest['operation']>();
  for (const name of ['CampaignBatch', 'PersonalizeRecipient'] as const) {
    const id = byName.get(name);
    if (id) hashes.set(id, name);
  }
  return hashes;
})();

const VARIABLES: Record<FloorRequest['operation'], string[]> = { CampaignBatch: ['ids', 'limit', 'campaign'], PersonalizeRecipient: ['id', 'limit', 'campaign'] };

/** A GraphQL `ID` variable: a string, or an integer (which `ID` takes as its decimal string). */
function idOf(value: unknown, name: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  throw new FloorRequestError(`${name}: must be an ID (a string), got ${JSON.stringify(value) ?? typeof value}`);
}

/** Reads a request body the benchmark sends: `{ variables, extensions: { persistedQuery: { version: 1, sha256Hash } } }`. */
export function parseFloorRequest(text: string): FloorRequest {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new FloorRequestError('the body is not JSON: send {"variables": {…}, "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "…"}}}');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new FloorRequestError('the body must be a JSON object (batched requests are not taken)');
  const { query, variables, extensions, operationName } = body as Record<string, unknown>;
  if (query !== undefined) throw new FloorRequestError('the floor answers persisted operations by hash only: send no query text');
  const persisted = (extensions as { persistedQuery?: { version?: unknown; sha256Hash?: unknown } } | null | undefined)?.persistedQuery;
  const hash = persisted?.sha256Hash;
  if (typeof hash !== 'string') throw new FloorRequestError('extensions.persistedQuery.sha256Hash is missing: send the hash of CampaignBatch or PersonalizeRecipient');
  if (persisted?.version !== undefined && persisted.version !== 1) throw new FloorRequestError('extensions.persistedQuery.version must be 1');
  const operation = OPERATIONS.get(hash);
  if (!operation) throw new FloorRequestError(`unknown persisted operation ${JSON.stringify(hash.slice(0, 80))}: the floor answers CampaignBatch and PersonalizeRecipient only`);
  if (operationName !== undefined && operationName !== null && operationName !== operation) throw new FloorRequestError(`operationName ${JSON.stringify(operationName)} is not ${operation}, the operation of that hash`);
  if (variables !== undefined && variables !== null && (typeof variables !== 'object' || Array.isArray(variables))) throw new FloorRequestError('variables must be a JSON object');
  const vars = (variables ?? {}) as Record<string, unknown>;
  const unknown = Object.keys(vars).filter((k) => !VARIABLES[operation].includes(k));
  if (unknown.length > 0) throw new FloorRequestError(`${operation} has no variable ${unknown.map((k) => JSON.stringify(k)).join(', ')} (it takes ${VARIABLES[operation].join(', ')})`);
  const limit = vars.limit === undefined ? DEFAULT_LIMIT : vars.limit;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 0 || limit > MAX_INT) throw new FloorRequestError(`variables.limit: must be a whole number from 0 to ${MAX_INT}, got ${JSON.stringify(limit)}`);
  let campaign: string | null;
  try {
    campaign = campaignArgument(vars.campaign);
  } catch (error) {
    throw new FloorRequestError(`variables.campaign: ${(error as Error).message}`);
  }
  const args = { limit, campaign };
  if (operation === 'CampaignBatch') {
    if (!Array.isArray(vars.ids)) throw new FloorRequestError('variables.ids: must be a list of IDs');
    if (vars.ids.length > MAX_USERS_PER_QUERY) throw new FloorRequestError(`variables.ids: at most ${MAX_USERS_PER_QUERY} ids per request, got ${vars.ids.length}`);
    return { operation, ids: vars.ids.map((id, i) => idOf(id, `variables.ids[${i}]`)), args };
  }
  if (vars.id === undefined || vars.id === null) throw new FloorRequestError('variables.id: required');
  return { operation, id: idOf(vars.id, 'variables.id'), args };
}

/** An instant header (`tailor-floor-now`, `tailor-floor-link-now`): epoch milliseconds, or absent. */
function instantOf(headers: IncomingMessage['headers'], name: string): number | undefined {
  const raw = headers[name];
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || !/^\d{1,15}$/.test(raw.trim())) throw new FloorRequestError(`${name}: must be epoch milliseconds (digits only)`);
  return Number(raw.trim());
}

/** The floor's answer to one request body: its status and JSON body. Never throws. */
export function answerFloorRequest(floor: Floor, text: string, instants: { now: number; linkNow?: number }): { status: number; body: string } {
  try {
    const request = parseFloorRequest(text);
    const data =
      request.operation === 'CampaignBatch'
        ? floor.campaignBatch(request.ids, request.args, instants.now, instants.linkNow)
        : floor.personalizeRecipient(request.id, request.args, instants.now, instants.linkNow);
    return { status: 200, body: JSON.stringify({ data }) };
  } catch (error) {
    if (error instanceof FloorRequestError) return errorBody(400, error.message);
    return errorBody(500, 'the floor could not compute this answer');
  }
}

const errorBody = (status: number, message: string) => ({ status, body: JSON.stringify({ errors: [{ message, extensions: { code: status === 400 ? 'BAD_REQUEST' : 'INTERNAL_SERVER_ERROR' } }] }) });

/** A listening floor. */
export interface RunningFloor {
  /** `http://host:port`. */
  url: string;
  /** Its one endpoint, `<url>/graphql`. */
  graphqlUrl: string;
  port: number;
  close(): Promise<void>;
}

/** Serves `floor` on `POST /graphql` at `host:port` (0 picks a free one); `clock` is its "now" unless a request pins one. */
export function startFloorServer(floor: Floor, options: { host: string; port: number; clock?: Clock }): Promise<RunningFloor> {
  const clock = options.clock ?? systemClock;
  const send = (res: ServerResponse, answer: { status: number; body: string }) => {
    res.writeHead(answer.status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(answer.body) });
    res.end(answer.body);
  };
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/graphql' || req.method !== 'POST') {
      req.resume();
      return send(res, errorBody(400, `the floor answers POST /graphql only (got ${req.method} ${path.slice(0, 200)})`));
    }
    const chunks: Buffer[] = [];
    let size = 0;
    // A body over the limit is read to its end but not kept, so that the client gets its 400.
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('error', () => res.destroy());
    req.on('end', () => {
      if (size > MAX_BODY_BYTES) return send(res, errorBody(400, `the body is larger than ${MAX_BODY_BYTES} bytes`));
      let instants: { now: number; linkNow?: number };
      try {
        const now = instantOf(req.headers, 'tailor-floor-now') ?? clock.now();
        instants = { now, linkNow: instantOf(req.headers, 'tailor-floor-link-now') ?? now };
      } catch (error) {
        return send(res, errorBody(400, (error as Error).message));
      }
      send(res, answerFloorRequest(floor, Buffer.concat(chunks).toString('utf8'), instants));
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : options.port;
      const host = options.host.includes(':') ? `[${options.host}]` : options.host;
      const url = `http://${host}:${port}`;
      resolve({
        url,
        graphqlUrl: `${url}/graphql`,
        port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => {
              floor.close();
              done();
            });
            server.closeAllConnections();
          }),
      });
    });
  });
}
