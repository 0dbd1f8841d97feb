/**
 * The PostgreSQL + Redis backend of `npm run bench -- --backend postgres`: a database of its own on the
 * machine's PostgreSQL (`tailor_bench_<random>`), a Redis key prefix of its own, the environment that
 * points every process of the stack at them, the CPU the two servers use during a workload, and the
 * clean-up (the database dropped, the keys deleted) on every way out.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { Client } from 'pg';
import { REPO_ROOT } from './config';
import { cpuBetween, type ProcessCpu, readProcessesCpu } from './procStats';
import type { ServerCpuRun } from './report';
import { LOOPBACK_GUARD, assertLoopback } from './stack';

/** The machine's PostgreSQL (trust auth), where the benchmark creates its database. */
export const POSTGRES_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** The machine's Redis, shared under a key prefix of the run's own. */
export const REDIS_URL = 'redis://127.0.0.1:6379';

/** The command names (`/proc/<pid>/comm`) of the servers whose CPU the PostgreSQL runs report. */
export const POSTGRES_COMM = 'postgres';
export const REDIS_COMM = 'redis-server';

/** What the PostgreSQL run used, and how its clean-up went. */
export interface PostgresBackend {
  database: string;
  databaseUrl: string;
  redisUrl: string;
  redisPrefix: string;
  /** `SHOW server_version` and Redis's `redis_version`. */
  versions: { postgres: string; redis: string };
  /** The environment of every process of the PostgreSQL stack. */
  env: Record<string, string>;
  /** Drops the database and deletes the prefix's keys; safe to call again (a later call gives the first one's outcome). */
  cleanup(): Promise<BackendCleanup>;
  /** The same, synchronously, from a child process, unless `cleanup` has finished (for a forced exit, where nothing can be awaited). */
  cleanupSync(): void;
}

/** The clean-up of the PostgreSQL run. */
export interface BackendCleanup {
  databaseDropped: boolean;
  /** Keys under the run's prefix found (and deleted) at the end. */
  redisKeysDeleted: number;
  /** What went wrong, if anything did. */
  errors: string[];
}

async function adminClient(): Promise<Client> {
  const client = new Client({ connectionString: POSTGRES_ADMIN_URL, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw new Error(
      `--backend postgres needs PostgreSQL at ${POSTGRES_ADMIN_URL} (${(error as Error).message}): start it, e.g. pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`,
    );
  }
  return client;
}

async function redisClient(): Promise<Redis> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 3_000, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    redis.disconnect();
    throw new Error(
      `--backend postgres needs Redis at ${REDIS_URL} (${(error as Error).message}): start it, e.g. redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no`,
    );
  }
  return redis;
}

/** Deletes every key under `prefix` (SCAN, never KEYS); resolves to how many there were. */
async function deleteKeys(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) deleted += await redis.del(...keys);
  } while (cursor !== '0');
  return deleted;
}

/**
 * Checks that PostgreSQL and Redis answer on 127.0.0.1, creates the run's database, and picks its Redis
 * prefix. Rejects with a message saying how to start whichever does not answer.
 */
export async function createPostgresBackend(): Promise<PostgresBackend> {
  for (const url of [POSTGRES_ADMIN_URL, REDIS_URL]) assertLoopback(url);
  const suffix = randomBytes(5).toString('hex');
  const database = `tailor_bench_${suffix}`;
  const redisPrefix = `tailor-bench-${suffix}:`;
  const databaseUrl = `postgres://postgres@127.0.0.1:5432/${database}`;
  const redis = await redisClient();
  let redisVersion: string;
  try {
    redisVersion = /^redis_version:(\S+)/m.exec(await redis.info('server'))?.[1] ?? 'unknown';
  } finally {
    redis.disconnect();
  }
  const admin = await adminClient();
  let postgresVersion: string;
  try {
    postgresVersion = (await admin.query<{ server_version: string }>('SHOW server_version')).rows[0]?.server_version ?? 'unknown';
    await admin.query(`CREATE DATABASE ${database}`);
  } finally {
    await admin.end();
  }

  let done: Promise<BackendCleanup> | undefined;
  let finished = false;
  const cleanup = (): Promise<BackendCleanup> =>
    (done ??= (async () => {
      const result: BackendCleanup = { databaseDropped: false, redisKeysDeleted: 0, errors: [] };
      try {
        const client = await adminClient();
        try {
          await client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
          result.databaseDropped = true;
        } finally {
          await client.end();
        }
      } catch (error) {
        result.errors.push(`DROP DATABASE ${database}: ${(error as Error).message}`);
      }
      try {
        const client = await redisClient();
        try {
          result.redisKeysDeleted = await deleteKeys(client, redisPrefix);
        } finally {
          client.disconnect();
        }
      } catch (error) {
        result.errors.push(`deleting the Redis keys ${redisPrefix}*: ${(error as Error).message}`);
      }
      finished = true;
      return result;
    })());

  return {
    database,
    databaseUrl,
    redisUrl: REDIS_URL,
    redisPrefix,
    versions: { postgres: postgresVersion, redis: redisVersion },
    env: {
      TAILOR_DATABASE_URL: databaseUrl,
      // Each subgraph in its own schema (crm, stock, behavior), whatever the benchmark's environment says.
      TAILOR_DATABASE_SCHEMA: '',
      TAILOR_REDIS_URL: REDIS_URL,
      TAILOR_REDIS_PREFIX: redisPrefix,
    },
    cleanup,
    cleanupSync() {
      if (finished) return;
      const script = `
        const { Client } = require('pg');
        const Redis = require('ioredis');
        (async () => {
          const c = new Client({ connectionString: ${JSON.stringify(POSTGRES_ADMIN_URL)}, connectionTimeoutMillis: 3000 });
          try { await c.connect(); await c.query('DROP DATABASE IF EXISTS ${database} WITH (FORCE)'); } catch (e) { console.error(e.message); } finally { await c.end().catch(() => {}); }
          const r = new Redis(${JSON.stringify(REDIS_URL)}, { connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null });
          try {
            let cursor = '0';
            do { const [next, keys] = await r.scan(cursor, 'MATCH', ${JSON.stringify(`${redisPrefix}*`)}, 'COUNT', 1000); cursor = next; if (keys.length) await r.del(...keys); } while (cursor !== '0');
          } catch (e) { console.error(e.message); } finally { r.disconnect(); }
        })();`;
      spawnSync(process.execPath, ['--require', LOOPBACK_GUARD, '-e', script], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'inherit'], timeout: 15_000 });
    },
  };
}

/** A snapshot of the PostgreSQL and Redis server processes' CPU. */
export interface ServerSnapshot {
  processes: Map<string, ProcessCpu>;
}

/** Reads the CPU of every `postgres` and `redis-server` process. */
export function snapshotServers(ticksPerSecond: number): ServerSnapshot {
  return { processes: readProcessesCpu([POSTGRES_COMM, REDIS_COMM], ticksPerSecond) };
}

/** The processes of a snapshot with the command name `comm`. */
function only(snapshot: ServerSnapshot, comm: string): Map<string, ProcessCpu> {
  return new Map([...snapshot.processes].filter(([, p]) => p.comm === comm));
}

/**
 * The CPU seconds the PostgreSQL processes (all of them, whatever database they serve, plus what the
 * postmaster reaped from backends that exited meanwhile) and the Redis server used between two
 * snapshots; `database` also picks out the backends serving that database (alive at the end).
 */
export function serverCpuBetween(before: ServerSnapshot, after: ServerSnapshot, database?: string): ServerCpuRun {
  const pgBefore = only(before, POSTGRES_COMM);
  const pgAfter = only(after, POSTGRES_COMM);
  const postgres = cpuBetween(pgBefore, pgAfter);
  const redis = cpuBetween(only(before, REDIS_COMM), only(after, REDIS_COMM));
  const own = database === undefined ? undefined : cpuBetween(pgBefore, pgAfter, (p) => p.cmdline.split(' ').includes(database));
  return {
    postgresCpuSeconds: postgres.cpuSeconds,
    postgresProcesses: postgres.processes,
    ...(own ? { postgresBenchDatabaseCpuSeconds: own.cpuSeconds, postgresBenchDatabaseBackends: own.processes } : {}),
    redisCpuSeconds: redis.cpuSeconds,
    redisProcesses: redis.processes,
  };
}
