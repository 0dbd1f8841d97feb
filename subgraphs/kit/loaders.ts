import DataLoader from 'dataloader';
import type { EntityCache } from './entityCache';

/**
 * Creates a per-request DataLoader. With `batching` on, every key asked for in one tick goes to the
 * store in one call; off, each key is its own call (the baseline the benchmark compares against).
 */
export function createLoader<K, V>(
  batch: (keys: readonly K[]) => Promise<(V | null)[]>,
  options: { batching: boolean },
): DataLoader<K, V | null> {
  return new DataLoader<K, V | null>(async (keys) => batch(keys), { batch: options.batching });
}

/**
 * Answers `keys` from `cache`, asks `fetchMissing` (one store read) for the rest, and caches what it
 * returns. Keys the store does not know come back as `null` and are not cached. With a second tier,
 * LRU misses are looked up there first (one round trip) and store reads are written to both.
 */
export async function readThroughCache<K extends {}, V extends object>(
  cache: EntityCache<K, V>,
  keys: readonly K[],
  fetchMissing: (missing: K[]) => Promise<Map<K, V>>,
): Promise<(V | null)[]> {
  const { found, missing } = cache.getMany(keys);
  const answer = () => keys.map((key) => found.get(key) ?? null);
  const fromStore = async (wanted: K[]): Promise<[K, V][]> => {
    const read = [...(await fetchMissing(wanted))];
    for (const [key, value] of read) {
      cache.set(key, value);
      found.set(key, value);
    }
    return read;
  };
  const { tier } = cache;
  if (missing.length === 0) return answer();
  if (!tier) {
    await fromStore(missing);
    return answer();
  }
  for (const [key, value] of await tier.getMany(missing)) {
    cache.set(key, value);
    found.set(key, value);
  }
  const still = missing.filter((key) => !found.has(key));
  if (still.length > 0) await tier.setMany(await fromStore(still));
  return answer();
}
