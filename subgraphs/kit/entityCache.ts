import { LRUCache } from 'lru-cache';
import type { Counter } from 'prom-client';
import type { Clock } from '../../kit/clock';
import type { CacheTier } from './cacheTier';

/** Options of an entity cache. Both bounds are required: an unbounded cache is refused. */
export interface EntityCacheOptions {
  /** Names the cache in `tailor_cache_requests_total{cache=…}`. */
  name: string;
  /** Most entries kept; the least recently used goes first. */
  maxEntries: number;
  /** Time to live in milliseconds, from the schema's `@cacheControl(maxAge:)`. 0 turns the cache off. */
  ttlMs: number;
  /** `false` turns the cache off (every look-up is a miss), e.g. for a baseline benchmark. */
  enabled: boolean;
  requests: Counter<'cache' | 'result'>;
  clock: Clock;
  /** A shared second tier (Redis) under the LRU, for caches keyed by strings; none by default. */
  tier?: CacheTier;
}

/** The second tier of one cache: what the loaders read after an LRU miss and fill after a store read. */
export interface EntityTier<K, V> {
  /** The entries of `keys` found in the tier; a failure finds none. */
  getMany(keys: readonly K[]): Promise<Map<K, V>>;
  /** Stores entries with the cache's TTL; a failure is counted and ignored. */
  setMany(entries: readonly [K, V][]): Promise<void>;
  /** Resolves once the tier's connections were first tried (reached or not). */
  readonly ready: Promise<void>;
  /** Whether this replica hears the other replicas' invalidations (its LRU is used only then). */
  listening(): boolean;
}

/** A bounded, TTL-limited cache in front of a store, counting hits and misses. */
export interface EntityCache<K, V extends object> {
  readonly name: string;
  readonly ttlMs: number;
  /** Looks up every key; returns what was found and which keys are missing. */
  getMany(keys: readonly K[]): { found: Map<K, V>; missing: K[] };
  set(key: K, value: V): void;
  /** Drops one entry at once, e.g. when its source row changes: here, in the tier, and in every replica's LRU. */
  delete(key: K): void;
  /** The shared second tier, when there is one (and the cache is on). */
  readonly tier?: EntityTier<K, V>;
  clear(): void;
  readonly size: number;
}

/** Creates an entity cache; throws if it would be unbounded. */
export function createEntityCache<K extends {}, V extends object>(options: EntityCacheOptions): EntityCache<K, V> {
  const { name, maxEntries, ttlMs, requests, clock } = options;
  if (!(maxEntries > 0)) throw new Error(`Cache "${name}" needs maxEntries > 0: an unbounded cache is not allowed.`);
  if (!(ttlMs >= 0)) throw new Error(`Cache "${name}" needs a ttlMs of 0 or more.`);
  const active = options.enabled && ttlMs > 0;
  const lru = active ? new LRUCache<K, V>({ max: maxEntries, ttl: ttlMs, perf: clock, ttlAutopurge: false }) : undefined;
  const hits = requests.labels(name, 'hit');
  const misses = requests.labels(name, 'miss');
  const shared = active ? options.tier : undefined;
  shared?.onInvalidate(name, { drop: (key) => void lru?.delete(key as unknown as K), clear: () => lru?.clear() });
  const tier: EntityTier<K, V> | undefined = shared && {
    async getMany(keys) {
      const found = await shared.getMany(name, keys.map(String));
      return new Map(keys.flatMap((key) => (found.has(String(key)) ? [[key, found.get(String(key)) as V]] : [])));
    },
    setMany: (entries) => shared.setMany(name, entries.map(([key, value]) => [String(key), value]), ttlMs),
    ready: shared.ready,
    listening: () => shared.listening(),
  };
  return {
    name,
    ttlMs: active ? ttlMs : 0,
    getMany(keys) {
      const found = new Map<K, V>();
      const missing: K[] = [];
      // With a shared tier, the LRU is used only while this replica hears the other replicas' invalidations.
      const local = shared && !shared.listening() ? undefined : lru;
      for (const key of keys) {
        const value = local?.get(key);
        if (value === undefined) missing.push(key);
        else found.set(key, value);
      }
      if (found.size > 0) hits.inc(found.size);
      if (missing.length > 0) misses.inc(missing.length);
      return { found, missing };
    },
    set: (key, value) => {
      if (shared && !shared.listening()) return;
      lru?.set(key, value);
    },
    delete(key) {
      lru?.delete(key);
      // Sent at once, before any later read of this replica: its next look-up in the tier misses.
      void shared?.invalidate(name, String(key));
    },
    tier,
    clear: () => lru?.clear(),
    get size() {
      return lru?.size ?? 0;
    },
  };
}
