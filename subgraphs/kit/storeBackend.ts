import type { Database } from './database';
import type { PgDatabase } from './postgres';

/** Where a subgraph keeps its data: the embedded SQLite file (the default) or PostgreSQL (`TAILOR_DATABASE_URL`). */
export type StoreBackend = { kind: 'sqlite'; db: Database } | { kind: 'postgres'; db: PgDatabase };

/**
 * The synchronous form of an async store interface, which a SQLite store implements: better-sqlite3
 * answers in the calling tick, so its transactions run with nothing else in between.
 */
export type Synchronous<T> = { [K in keyof T]: T[K] extends (...args: infer A) => Promise<infer R> ? (...args: A) => R : T[K] };

/** The async store interface over a synchronous implementation: each call's result (or error) as a settled promise. */
export function asAsync<T extends object>(sync: Synchronous<T>): T {
  const wrapped: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(sync)) {
    wrapped[key] =
      typeof value === 'function'
        ? (...args: unknown[]) => {
            try {
              return Promise.resolve((value as (...a: unknown[]) => unknown)(...args));
            } catch (error) {
              return Promise.reject(error);
            }
          }
        : value;
  }
  return wrapped as T;
}

/**
 * A write refused by a unique constraint because another writer (a replica, on a shared database)
 * committed a conflicting row between this batch's check and its write. The ingestor checks the batch
 * again, which now names the conflict as an item problem.
 */
export class StoreConflictError extends Error {
  constructor(
    message: string,
    readonly constraint?: string,
  ) {
    super(message);
    this.name = 'StoreConflictError';
  }
}
