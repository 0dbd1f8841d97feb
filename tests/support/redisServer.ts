import { createServer } from 'node:net';
import Redis from 'ioredis';

/** The machine's Redis, which the Redis suites use with key prefixes of their own. */
export const REDIS_URL = 'redis://127.0.0.1:6379';

/**
 * A connection to the machine's Redis, once it has answered a PING; rejects with a message saying how to
 * start it when it does not answer (rather than each test failing on a refused connection).
 */
export async function connectTestRedis(): Promise<Redis> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 2_000, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    redis.disconnect();
    throw new Error(
      `These tests need Redis at ${REDIS_URL} (${(error as Error).message}): start it, e.g. redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no`,
    );
  }
  return redis;
}

/** A Redis URL on 127.0.0.1 that nothing answers: a port just opened and closed again (Redis down). */
export async function unreachableRedisUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `redis://127.0.0.1:${port}`;
}

/** Deletes every key under `prefix`: what one test wrote. */
export async function dropKeys(redis: Redis, prefix: string): Promise<void> {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
}
