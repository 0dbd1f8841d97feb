import { SpanKind } from '@opentelemetry/api';
import { GraphQLError } from 'graphql';
import { Pool, type PoolClient, type QueryResultRow } from 'pg';
import type { Counter } from 'prom-client';
import { ErrorCode } from '../../kit/errors';
import type { Logger } from '../../kit/logger';
import { tracingEnabled, withSpan } from '../../kit/tracing';
import { StoreConflictError } from './storeBackend';

/** Runs counted statements: the pool itself, or one connection inside a transaction. */
export interface PgExecutor {
  /** Runs `sql` with `$1…` parameters and returns its rows; `name` labels it in `tailor_db_statements_total`. */
  rows<Row extends QueryResultRow = Record<string, unknown>>(name: string, sql: string, params?: unknown[]): Promise<Row[]>;
  /** Runs `sql` and returns how many rows it changed (or returned). */
  run(name: string, sql: string, params?: unknown[]): Promise<number>;
}

/** A subgraph's PostgreSQL database: a bounded pool on the subgraph's own schema, every statement counted. */
export interface PgDatabase extends PgExecutor {
  /** The schema every connection works in (`search_path`), e.g. `crm`. */
  readonly schema: string;
  /** Runs `fn` on one connection in one transaction: all of it is committed, or none of it. */
  transaction<T>(fn: (tx: PgExecutor) => Promise<T>): Promise<T>;
  /** Runs DDL or other multi-statement SQL, uncounted (migrations only). */
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
}

/** What `openPostgres` needs. */
export interface PgOptions {
  /** `postgres://user@host:port/database`. */
  url: string;
  /** The subgraph's schema in that database, created if missing. */
  schema: string;
  /** Most connections the pool holds. */
  poolSize: number;
  statements: Counter<'statement'>;
  /** Seconds spent in each statement, and in commits (`COMMIT`), when given. */
  seconds?: Counter<'statement'>;
  logger: Logger;
  /** How long one connection attempt may take. */
  connectTimeoutMs?: number;
}

/** SQLSTATE classes and Node errors that mean the database cannot be reached, not that a statement is wrong. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', '57P01', '57P02', '57P03', '53300']);

/** True when `error` says the database is down or unreachable (as opposed to a refused statement). */
export function isDatabaseUnreachable(error: unknown): boolean {
  // A refused connection can come as a bare object with an errno and a code, not an Error.
  if (typeof error !== 'object' || error === null) return false;
  const { code, message, errors } = error as { code?: unknown; message?: unknown; errors?: unknown };
  if (typeof code === 'string' && (UNREACHABLE_CODES.has(code) || code.startsWith('08'))) return true;
  if (Array.isArray(errors) && errors.some(isDatabaseUnreachable)) return true;
  return typeof message === 'string' && /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(message);
}

/**
 * The error a resolver gets when the database cannot be reached: `SUBGRAPH_UNAVAILABLE`, so the
 * gateway degrades the field as it does for a subgraph that is down. The cause stays in the log.
 */
export class DatabaseUnavailableError extends GraphQLError {
  constructor(service: string) {
    super(`The ${service} database cannot be reached right now.`, { extensions: { code: ErrorCode.SUBGRAPH_UNAVAILABLE, service } });
  }
}

/** A schema name: lower-case letters, digits and `_`, as the subgraph names are. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Opens a pool on `options.url` whose connections work in `options.schema` (created if missing).
 * It throws when the database cannot be reached, so the subgraph exits non-zero at start-up; once
 * running, a lost database makes each statement fail with `DatabaseUnavailableError` until it
 * returns, and the pool reconnects by itself.
 */
export async function openPostgres(options: PgOptions): Promise<PgDatabase> {
  const { schema, statements, seconds, logger } = options;
  /** Adds the seconds since `started` to `statement`'s, when counted. */
  const spentSince = (statement: string, started: bigint) => seconds?.labels(statement).inc(Number(process.hrtime.bigint() - started) / 1e9);
  if (!SCHEMA_NAME.test(schema)) throw new Error(`${JSON.stringify(schema)} is not a valid schema name`);
  const pool = new Pool({
    connectionString: options.url,
    max: options.poolSize,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
    idleTimeoutMillis: 30_000,
    // Each connection works in the subgraph's own schema, so the SQL never names it.
    options: `-c search_path=${schema}`,
    application_name: `tailor-${schema}`,
  });
  // An idle connection the server dropped: the pool discards it; the next statement opens another.
  pool.on('error', (error) => logger.warn({ err: error.message }, 'a database connection was lost; the pool opens a new one when needed'));
  try {
    await pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw new Error(`cannot reach the database at ${redactUrl(options.url)}: ${(error as Error).message}`);
  }
  const attributesOf = (sql: string) => ({ 'db.system': 'postgresql', 'db.query.text': sql, 'db.namespace': schema });
  const service = schema;

  /** One counted statement on `on` (the pool or a transaction's connection); unreachable → SUBGRAPH_UNAVAILABLE. */
  async function execute<Row extends QueryResultRow>(on: Pool | PoolClient, name: string, sql: string, params: unknown[] = []) {
    statements.labels(name).inc();
    const send = () => on.query<Row>(sql, params);
    const started = process.hrtime.bigint();
    try {
      return tracingEnabled() ? await withSpan(name, attributesOf(sql), send, SpanKind.CLIENT) : await send();
    } catch (error) {
      if (isDatabaseUnreachable(error)) {
        logger.error({ err: (error as Error).message, statement: name }, 'the database cannot be reached');
        throw new DatabaseUnavailableError(service);
      }
      // unique_violation: another writer got there first (see StoreConflictError).
      if ((error as { code?: string }).code === '23505') throw new StoreConflictError((error as Error).message, (error as { constraint?: string }).constraint);
      throw error;
    } finally {
      spentSince(name, started);
    }
  }
  const executorOn = (on: Pool | PoolClient): PgExecutor => ({
    rows: async (name, sql, params) => (await execute(on, name, sql, params)).rows as never,
    run: async (name, sql, params) => (await execute(on, name, sql, params)).rowCount ?? 0,
  });

  return {
    schema,
    ...executorOn(pool),
    async transaction(fn) {
      let client: PoolClient;
      try {
        client = await pool.connect();
      } catch (error) {
        if (isDatabaseUnreachable(error)) throw new DatabaseUnavailableError(service);
        throw error;
      }
      let broken = false;
      try {
        await client.query('BEGIN');
        const result = await fn(executorOn(client));
        const committing = process.hrtime.bigint();
        await client.query('COMMIT');
        spentSince('COMMIT', committing);
        return result;
      } catch (error) {
        broken = isDatabaseUnreachable(error) || error instanceof DatabaseUnavailableError;
        if (!broken) await client.query('ROLLBACK').catch(() => undefined);
        throw broken && !(error instanceof DatabaseUnavailableError) ? new DatabaseUnavailableError(service) : error;
      } finally {
        // A connection that failed mid-transaction is thrown away, never handed to the next caller.
        client.release(broken);
      }
    },
    async exec(sql) {
      await pool.query(sql);
    },
    close: () => pool.end(),
  };
}

/** The URL without its user name and password, for messages and logs: `postgres://host:port/database`. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return '(an unparseable URL)';
  }
}
