import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Database } from './database';
import type { PgDatabase } from './postgres';

/** One versioned schema change: `<dir>/<version>_<name>.sql`, e.g. `001_initial.sql`. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Which backend a migration folder is written for: `migrations/sqlite/` or `migrations/postgres/`. */
export type Dialect = 'sqlite' | 'postgres';

/** The table each database keeps of the migrations it has run, one row per scope and version. */
const LEDGER = 'tailor_migrations';

const FILE = /^(\d{3,})_([a-z0-9_]+)\.sql$/;

/** The migrations of `<root>/<dialect>/`, in version order; versions must be 1, 2, 3… without gaps. */
export function readMigrations(root: string, dialect: Dialect): Migration[] {
  const dir = join(root, dialect);
  if (!existsSync(dir)) return [];
  const migrations = readdirSync(dir)
    .filter((file) => file.endsWith('.sql'))
    .map((file) => {
      const match = FILE.exec(file);
      if (!match) throw new Error(`${join(dir, file)}: a migration file is named <version>_<name>.sql, e.g. 001_initial.sql`);
      return { version: Number(match[1]), name: match[2], sql: readFileSync(join(dir, file), 'utf8') };
    })
    .sort((a, b) => a.version - b.version);
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`${dir}: migration versions must run 1, 2, 3… without gaps or repeats; found ${m.version} where ${i + 1} was expected`);
  });
  return migrations;
}

/** What a migration run did. */
export interface MigrationReport {
  scope: string;
  /** Versions applied by this run, in order. */
  applied: number[];
  /** The version the database is at now. */
  version: number;
}

/** Thrown when the database was migrated by a newer build than this one. */
export class NewerDatabaseError extends Error {
  constructor(scope: string, stored: { version: number; name: string }, known: number) {
    super(
      `the ${scope} database is at migration ${stored.version} (${stored.name}), newer than this build knows (up to ${known}): ` +
        'run the build that migrated it, or a newer one; this one would misread its tables',
    );
  }
}

function pending(scope: string, migrations: Migration[], done: { version: number; name: string }[]): Migration[] {
  const newest = done.reduce<{ version: number; name: string } | undefined>((a, b) => (!a || b.version > a.version ? b : a), undefined);
  if (newest && newest.version > migrations.length) throw new NewerDatabaseError(scope, newest, migrations.length);
  const applied = new Set(done.map((d) => d.version));
  return migrations.filter((m) => !applied.has(m.version));
}

/** Applies the migrations `db` has not run yet, each in its own transaction with its ledger row. */
export function migrateSqlite(db: Database, scope: string, migrations: Migration[], now = Date.now()): MigrationReport {
  db.exec(`CREATE TABLE IF NOT EXISTS ${LEDGER} (scope TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL, applied_at INTEGER NOT NULL, PRIMARY KEY (scope, version))`);
  const done = db.raw.prepare(`SELECT version, name FROM ${LEDGER} WHERE scope = ?`).all(scope) as { version: number; name: string }[];
  const todo = pending(scope, migrations, done);
  const record = db.raw.prepare(`INSERT INTO ${LEDGER} (scope, version, name, applied_at) VALUES (?, ?, ?, ?)`);
  for (const migration of todo) {
    db.transaction(() => {
      db.exec(migration.sql);
      record.run(scope, migration.version, migration.name, now);
    });
  }
  return { scope, applied: todo.map((m) => m.version), version: Math.max(0, ...done.map((d) => d.version), ...todo.map((m) => m.version)) };
}

/**
 * Applies the migrations `db` has not run yet, each in its own transaction with its ledger row.
 * Replicas starting together take turns: a transaction-scoped advisory lock per schema and scope
 * makes the second wait for the first, then find nothing left to do.
 */
export async function migratePostgres(db: PgDatabase, scope: string, migrations: Migration[], now = Date.now()): Promise<MigrationReport> {
  await db.exec(`CREATE TABLE IF NOT EXISTS ${LEDGER} (scope TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL, applied_at BIGINT NOT NULL, PRIMARY KEY (scope, version))`);
  return db.transaction(async (tx) => {
    await tx.rows('migrationLock', 'SELECT pg_advisory_xact_lock(hashtext($1))', [`${LEDGER}:${db.schema}:${scope}`]);
    const done = (await tx.rows<{ version: number; name: string }>('migrationLedger', `SELECT version, name FROM ${LEDGER} WHERE scope = $1`, [scope])).map((r) => ({
      version: Number(r.version),
      name: r.name,
    }));
    const todo = pending(scope, migrations, done);
    // One transaction for the run: PostgreSQL DDL is transactional, so a failed migration leaves none of the run behind.
    for (const migration of todo) {
      await tx.run(`migration_${scope}_${migration.version}`, migration.sql);
      await tx.run('migrationRecord', `INSERT INTO ${LEDGER} (scope, version, name, applied_at) VALUES ($1, $2, $3, $4)`, [scope, migration.version, migration.name, now]);
    }
    return { scope, applied: todo.map((m) => m.version), version: Math.max(0, ...done.map((d) => d.version), ...todo.map((m) => m.version)) };
  });
}
