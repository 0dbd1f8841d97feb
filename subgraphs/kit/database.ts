import BetterSqlite3 from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { SpanKind } from '@opentelemetry/api';
import type { Counter } from 'prom-client';
import { tracingEnabled, withSpanSync } from '../../kit/tracing';

/**
 * A prepared statement that counts every execution in `tailor_db_statements_total`, and the seconds it
 * took in `tailor_db_statement_seconds_total` when the database was opened with that counter; with
 * tracing on, it runs each one in a span named after the statement (`db.system: sqlite`).
 */
export interface CountedStatement<Row> {
  all(...params: unknown[]): Row[];
  get(...params: unknown[]): Row | undefined;
  run(...params: unknown[]): BetterSqlite3.RunResult;
}

/** How hard a commit is pushed to disk: FULL survives power loss, NORMAL survives a killed process. */
export type SyncMode = 'FULL' | 'NORMAL';

/** A service's embedded SQLite database, with every statement counted. */
export interface Database {
  /** Prepares `sql` once; `name` labels its executions in the statement counter. */
  statement<Row = Record<string, unknown>>(name: string, sql: string): CountedStatement<Row>;
  /** Runs `fn` in one transaction: all of it is applied, or none of it. */
  transaction<T>(fn: () => T): T;
  /** Runs DDL or other multi-statement SQL, uncounted (schema set-up and seeding only). */
  exec(sql: string): void;
  /**
   * Copies every committed page from the WAL into the database file and empties the WAL
   * (`wal_checkpoint(TRUNCATE)`), so that it keeps no older image of a page, e.g. one holding rows
   * just erased. False when another connection still reads an older snapshot: the WAL then stays
   * until a later checkpoint.
   */
  checkpoint(): boolean;
  close(): void;
  readonly raw: BetterSqlite3.Database;
}

/**
 * Opens (creating if needed) a WAL-mode SQLite database. `:memory:` gives a private in-memory one.
 * Each acknowledged commit is on disk before the acknowledgement, so it survives `kill -9`. Deleted
 * content is overwritten with zeros (`secure_delete`), so an erased user's rows leave no bytes behind.
 */
export function openDatabase(file: string, statements: Counter<'statement'>, sync: SyncMode = 'FULL', seconds?: Counter<'statement'>): Database {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const raw = new BetterSqlite3(file);
  raw.pragma('journal_mode = WAL');
  raw.pragma(`synchronous = ${sync}`);
  raw.pragma('busy_timeout = 5000');
  raw.pragma('foreign_keys = ON');
  raw.pragma('secure_delete = ON');
  const commitSpent = seconds?.labels('COMMIT');
  return {
    raw,
    statement<Row>(name: string, sql: string): CountedStatement<Row> {
      const prepared = raw.prepare(sql);
      const counter = statements.labels(name);
      const spent = seconds?.labels(name);
      // The SQL text, never the parameters: those are a request's data. Spans only when tracing is on.
      const attributes = { 'db.system': 'sqlite', 'db.query.text': sql };
      const execute = <T>(call: () => T): T => {
        counter.inc();
        const traced = tracingEnabled() ? () => withSpanSync(name, attributes, call, SpanKind.CLIENT) : call;
        if (!spent) return traced();
        const started = process.hrtime.bigint();
        try {
          return traced();
        } finally {
          spent.inc(Number(process.hrtime.bigint() - started) / 1e9);
        }
      };
      return {
        all: (...params) => execute(() => prepared.all(...params)) as Row[],
        get: (...params) => execute(() => prepared.get(...params)) as Row | undefined,
        run: (...params) => execute(() => prepared.run(...params)),
      };
    },
    transaction: <T>(fn: () => T): T => {
      if (!commitSpent) return raw.transaction(fn)();
      let bodyDone: bigint | undefined;
      const result = raw.transaction(() => {
        const value = fn();
        bodyDone = process.hrtime.bigint();
        return value;
      })();
      if (bodyDone !== undefined) commitSpent.inc(Number(process.hrtime.bigint() - bodyDone) / 1e9);
      return result;
    },
    exec: (sql) => raw.exec(sql),
    checkpoint: () => {
      const [result] = raw.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
      return result?.busy === 0;
    },
    close: () => raw.close(),
  };
}
