import BetterSqlite3 from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The gateway's database file inside the data folder: client keys and the audit log. */
export const GATEWAY_DATABASE_FILE = 'gateway.db';

/** Where the gateway's database lives in `dataDir`; `:memory:` stays `:memory:`. */
export function gatewayDatabasePath(dataDir: string): string {
  return dataDir === ':memory:' ? ':memory:' : join(dataDir, GATEWAY_DATABASE_FILE);
}

// Client keys keep only the sha256 of each token. A name is unique among live keys only, so a revoked
// key's name can be given to its replacement; the partial index enforces that even between processes.
// The audit log refuses UPDATE and DELETE in the database itself, whoever holds the connection.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS client_keys (
  id              TEXT PRIMARY KEY,
  name            TEXT NOT NULL,
  token_sha256    TEXT NOT NULL UNIQUE,
  scopes          TEXT NOT NULL,
  created_at      TEXT NOT NULL,
  revoked_at      TEXT,
  rate_per_minute INTEGER CHECK (rate_per_minute IS NULL OR rate_per_minute > 0),
  daily_quota     INTEGER CHECK (daily_quota IS NULL OR daily_quota > 0)
);
CREATE UNIQUE INDEX IF NOT EXISTS client_keys_live_name ON client_keys (name) WHERE revoked_at IS NULL;

CREATE TABLE IF NOT EXISTS audit_log (
  seq     INTEGER PRIMARY KEY AUTOINCREMENT,
  at      TEXT NOT NULL,
  actor   TEXT NOT NULL,
  action  TEXT NOT NULL,
  target  TEXT,
  outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'partial', 'error', 'forbidden', 'refused')),
  detail  TEXT
);
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at);
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
  SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
  SELECT RAISE(ABORT, 'the audit log is append-only');
END;
`;

/**
 * Opens (creating if needed) the gateway's WAL-mode SQLite database and its tables; `:memory:` gives a
 * private in-memory one. Commits are on disk before they return (a revocation must survive a crash),
 * and deleted pages are overwritten with zeros.
 */
export function openGatewayDatabase(file: string): BetterSqlite3.Database {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const db = new BetterSqlite3(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('busy_timeout = 5000');
    db.pragma('secure_delete = ON');
    db.exec(SCHEMA);
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}
