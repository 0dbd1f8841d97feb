import Redis from 'ioredis';
import { z } from 'zod';
import type { Logger } from './logger';

/** Settings of the Redis connection shared by the gateway (quotas) and the subgraphs (the cache tier). */
export const redisSettings = {
  redisUrl: {
    env: 'TAILOR_REDIS_URL',
    schema: z.url({ protocol: /^rediss?$/, message: 'must be a redis:// or rediss:// URL' }).optional(),
    doc: 'Redis that replicas share, `redis://[:password@]host:port[/db]` (or `rediss://` for TLS). Gateway: client quotas are counted there, so every replica enforces one limit. Subgraph: a second tier under the non-critical LRU caches, with invalidation across replicas. Unset: everything stays in this process.',
  },
  redisPrefix: {
    env: 'TAILOR_REDIS_PREFIX',
    schema: z.string().min(1).max(64).default('tailor:'),
    doc: 'Prefix of every Redis key and channel Tailor uses, so that several deployments (or tests) can share one Redis.',
  },
};

/** How long a command may wait for Redis before it fails, in ms: a dead Redis must not hold a request up. */
export const REDIS_COMMAND_TIMEOUT_MS = 500;

/**
 * Opens an ioredis client that fails fast: no offline queue (a command while disconnected fails at
 * once), one retry per command, a short command timeout, and reconnection in the background.
 * Errors are logged at most once per outage; what each failed command means is for its caller.
 * `ready` resolves once the first connection attempt has succeeded or failed, never rejects.
 */
export function openRedis(url: string, logger: Logger, options: { role: string }): { client: Redis; ready: Promise<void> } {
  const client = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    connectTimeout: 1000,
    // How long a closing connection may linger before it is destroyed (ioredis keeps the process up that long).
    disconnectTimeout: 200,
    retryStrategy: (times) => Math.min(times * 200, 2000),
    connectionName: `tailor-${options.role}`,
  });
  let down = false;
  // Without a listener ioredis reports every failed reconnection as an unhandled error.
  client.on('error', (error: Error) => {
    if (down) return;
    down = true;
    logger.warn({ role: options.role, err: { message: error.message } }, 'Redis unreachable; retrying in the background');
  });
  client.on('ready', () => {
    if (down) logger.info({ role: options.role }, 'Redis reachable again');
    down = false;
  });
  const ready = new Promise<void>((resolve) => {
    client.once('ready', () => resolve());
    client.once('error', () => resolve());
    client.once('end', () => resolve());
  });
  return { client, ready };
}

/** Closes a client: QUIT when connected (pending replies arrive first), else drops the connection attempts. */
export async function closeRedis(client: Redis): Promise<void> {
  if (client.status === 'ready') {
    await client.quit().catch(() => client.disconnect());
  } else {
    client.disconnect();
  }
}
