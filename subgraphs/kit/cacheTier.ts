import { randomUUID } from 'node:crypto';
import type { Counter } from 'prom-client';
import type { Logger } from '../../kit/logger';
import { closeRedis, openRedis } from '../../kit/redis';

/**
 * A second cache tier in Redis, shared by every replica of a subgraph, under its entity caches' LRUs.
 * Entries are JSON under `<prefix><cache>:<key>` with the cache's TTL; an invalidation deletes the
 * entry and is published on `<prefix>invalidate`, so that every replica drops it from its LRU at once.
 * Every failure is counted in `tailor_cache_tier_errors_total` and answered as a miss (or ignored, for
 * writes): without Redis the caches fall back to the store, slower but as correct.
 *
 * An invalidation that failed while Redis was away would leave its entry behind, stale. So every
 * entry carries the tier's epoch (`<prefix>epoch`), each read fetches the epoch with the entries (the
 * same MGET) and ignores entries of another, and a replica whose connection comes back bumps the epoch
 * before it reads again: whatever was written before an outage is never served after it.
 */
export interface CacheTier {
  /** The entries of `keys` in Redis (one MGET); a failure is an empty map. */
  getMany(cache: string, keys: readonly string[]): Promise<Map<string, unknown>>;
  /** Stores entries for `ttlMs` (SET PX each, in one pipeline); a failure is counted and ignored. */
  setMany(cache: string, entries: Iterable<[string, unknown]>, ttlMs: number): Promise<void>;
  /** Deletes an entry in Redis and tells the other replicas to drop it; a failure is counted and ignored. */
  invalidate(cache: string, key: string): Promise<void>;
  /**
   * Calls `drop` with each key another replica invalidates in `cache`, and `clear` when the
   * subscription comes back after an outage, during which invalidations may have been missed.
   */
  onInvalidate(cache: string, listener: { drop: (key: string) => void; clear: () => void }): void;
  /**
   * True while this replica is subscribed to the invalidation channel. Otherwise it cannot hear
   * another replica's invalidations, so its LRUs are cleared and not used until it is again.
   */
  listening(): boolean;
  /** Resolves once the invalidation channel is subscribed (or the attempt failed). */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

/** Opens the tier's two connections: commands, and the subscription to the invalidation channel. */
export function openCacheTier(options: { url: string; prefix: string; service: string; errors: Counter<'operation'>; logger: Logger }): CacheTier {
  const { prefix, logger, errors } = options;
  const commands = openRedis(options.url, logger, { role: `${options.service}-cache` });
  const subscriber = openRedis(options.url, logger, { role: `${options.service}-cache-invalidation` });
  const channel = `${prefix}invalidate`;
  /** This replica's id: its own invalidations come back on the channel and are skipped. */
  const origin = randomUUID();
  const listeners = new Map<string, { drop: (key: string) => void; clear: () => void }>();
  const keyOf = (cache: string, key: string) => `${prefix}${cache}:${key}`;
  const epochKey = `${prefix}epoch`;
  /** The epoch the last read found: what entries written now are tagged with (none known: nothing is written). */
  let epoch: string | undefined;
  /** After a reconnection, the epoch bump every read waits for. */
  let bumped: Promise<void> = Promise.resolve();
  let commandConnections = 0;
  commands.client.on('ready', () => {
    if (commandConnections++ === 0) return;
    epoch = undefined;
    bumped = commands.client.incr(epochKey).then(
      () => undefined,
      (error: unknown) => failed('epoch')(error),
    );
  });
  const failed = (operation: string) => (error: unknown) => {
    errors.inc({ operation });
    logger.debug({ operation, err: { message: error instanceof Error ? error.message : String(error) } }, 'cache tier failed');
  };

  subscriber.client.on('message', (from: string, message: string) => {
    if (from !== channel) return;
    try {
      const { cache, key, origin: sender } = JSON.parse(message) as { cache: string; key: string; origin: string };
      if (sender !== origin) listeners.get(cache)?.drop(key);
    } catch (error) {
      failed('invalidate')(error);
    }
  });
  // Subscribed at each (re)connection; after a lost one, what was missed is dropped with every LRU.
  let connections = 0;
  let subscribed: Promise<void> = Promise.resolve();
  let listening = false;
  const clearAll = () => {
    for (const listener of listeners.values()) listener.clear();
  };
  subscriber.client.on('ready', () => {
    if (connections++ > 0) clearAll();
    subscribed = subscriber.client.subscribe(channel).then(
      () => {
        listening = true;
      },
      failed('subscribe'),
    );
  });
  // Deaf to invalidations from here on: what the LRUs hold may go stale, so they go, and stay unused.
  subscriber.client.on('close', () => {
    if (!listening) return;
    listening = false;
    clearAll();
  });
  const ready = subscriber.ready.then(() => subscribed);

  return {
    async getMany(cache, keys) {
      const found = new Map<string, unknown>();
      if (keys.length === 0) return found;
      try {
        await bumped;
        const [current, ...values] = await commands.client.mget(epochKey, ...keys.map((key) => keyOf(cache, key)));
        epoch = current ?? '0';
        values.forEach((value, i) => {
          if (value === null) return;
          const [tag, entry] = JSON.parse(value) as [string, unknown];
          if (tag === epoch) found.set(keys[i], entry);
        });
      } catch (error) {
        failed('get')(error);
        found.clear();
      }
      return found;
    },
    async setMany(cache, entries, ttlMs) {
      const tag = epoch;
      const pipeline = commands.client.pipeline();
      let count = 0;
      for (const [key, value] of entries) {
        pipeline.set(keyOf(cache, key), JSON.stringify([tag, value]), 'PX', ttlMs);
        count++;
      }
      if (count === 0 || !(ttlMs > 0)) return;
      // No read has found the epoch since the connection came back (Redis is away): nothing to tag entries with.
      if (tag === undefined) return failed('set')(new Error('the tier epoch is not known'));
      try {
        const results = (await pipeline.exec()) ?? [];
        const error = results.find(([err]) => err)?.[0];
        if (error) throw error;
      } catch (error) {
        failed('set')(error);
      }
    },
    async invalidate(cache, key) {
      try {
        await commands.client.del(keyOf(cache, key));
        await commands.client.publish(channel, JSON.stringify({ cache, key, origin }));
      } catch (error) {
        failed('invalidate')(error);
      }
    },
    onInvalidate(cache, listener) {
      listeners.set(cache, listener);
    },
    listening: () => listening,
    ready: Promise.all([commands.ready, ready]).then(() => undefined),
    async close() {
      await Promise.all([closeRedis(commands.client), closeRedis(subscriber.client)]);
    },
  };
}
