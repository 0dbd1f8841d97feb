import { LRUCache } from 'lru-cache';
import type { OperationManifest } from '../../kit/operationManifest';

/**
 * The gateway's APQ store: every operation of the manifest is known from the start, so a request that
 * carries only its hash is answered on the first try, over POST or GET. Other hashes registered by
 * clients through the usual APQ round trip are kept in a bounded LRU.
 */
export function createPersistedQueryCache(manifest: OperationManifest, maxAdHocBytes = 8 * 1024 * 1024) {
  const shipped = new Map(manifest.operations.map((op) => [op.id, op.body]));
  const adHoc = new LRUCache<string, string>({ maxSize: maxAdHocBytes, sizeCalculation: (value) => value.length || 1 });
  // Apollo Server prefixes APQ keys with `apq:`.
  const hashOf = (key: string) => (key.startsWith('apq:') ? key.slice(4) : key);
  return {
    /** The text of an operation by its sha256, shipped or registered, without touching LRU order. */
    textOf(hash: string): string | undefined {
      return shipped.get(hash) ?? adHoc.peek(`apq:${hash}`);
    },
    async get(key: string): Promise<string | undefined> {
      return shipped.get(hashOf(key)) ?? adHoc.get(key);
    },
    async set(key: string, value: string, options?: { ttl?: number | null }): Promise<void> {
      if (!shipped.has(hashOf(key))) adHoc.set(key, value, options?.ttl ? { ttl: options.ttl * 1000 } : undefined);
    },
    async delete(key: string): Promise<boolean | void> {
      if (!shipped.has(hashOf(key))) adHoc.delete(key);
    },
  };
}
