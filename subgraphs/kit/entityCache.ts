import { LRUCache } from 'lru-cache';
import type { Counter } from 'prom-client';
import type { Clock } from '../../kit/clock';

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
}

/** A bounded, TTL-limited cache in front of a store, counting hits and misses. */
export interface EntityCache<K, V extends object> {
  readonly name: string;
  readonly ttlMs: number;
  /** Looks up every key; returns what was found and which keys are missing. */
  getMany(keys: readonly K[]): { found: Map<K, V>; missing: K[] };
  set(key: K, value: V): void;
  /** Drops one entry at once, e.g. when its source row changes. */
  delete(key: K): void;
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
  return {
    name,
    ttlMs: active ? ttlMs : 0,
    getMany(keys) {
      const found = new Map<K, V>();
      const missing: K[] = [];
      for (const key of keys) {
        const value = lru?.get(key);
        if (value === undefined) missing.push(key);
        else found.set(key, value);
      }
      if (found.size > 0) hits.inc(found.size);
      if (missing.length > 0) misses.inc(missing.length);
      return { found, missing };
    },
    set: (key, value) => void lru?.set(key, value),
    delete: (key) => void lru?.delete(key),
    clear: () => lru?.clear(),
    get size() {
      return lru?.size ?? 0;
    },
  };
}
