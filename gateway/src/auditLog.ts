import type BetterSqlite3 from 'better-sqlite3';

/** How an audited action ended. */
export type AuditOutcome = 'ok' | 'partial' | 'error' | 'forbidden' | 'refused';

/** Every outcome an entry may have. */
export const AUDIT_OUTCOMES: readonly AuditOutcome[] = ['ok', 'partial', 'error', 'forbidden', 'refused'];

/** One recorded action. */
export interface AuditEntry {
  /** Position in the log, from 1; it only grows. */
  seq: number;
  /** ISO time of the action. */
  at: string;
  /** Who acted: `cli:<user>`, or a client key's name. */
  actor: string;
  /** What was done, e.g. `key.create`. */
  action: string;
  /** What it was done to, e.g. a key's name; null when nothing in particular. */
  target: string | null;
  outcome: AuditOutcome;
  /** Names and counts that explain the entry, e.g. `{ id, scopes }`; null when there are none. */
  detail: Record<string, unknown> | null;
}

/**
 * An append-only log of who did what, when, and how it ended. Entries never hold personal values:
 * callers pass operation and field names, key names and counts, never a recipient's data. The
 * database refuses every UPDATE and DELETE of the log, so an entry, once written, stays as written.
 */
export interface AuditLog {
  /** Appends one entry; `at` defaults to now. Throws on an empty actor or action, an unknown outcome or a bad time. */
  append(entry: { actor: string; action: string; target?: string; outcome: AuditOutcome; detail?: Record<string, unknown>; at?: string }): void;
  /** The last `limit` entries (default 100) that match every filter given, oldest first; `since` includes that instant. */
  read(filter?: { since?: string; actor?: string; action?: string; limit?: number }): AuditEntry[];
}

/** The default number of entries `read` returns. */
export const DEFAULT_AUDIT_READ_LIMIT = 100;

/** An entry as stored: its detail as JSON text. */
type AuditRow = Omit<AuditEntry, 'detail'> & { detail: string | null };

/** The audit log of `db`, whose tables `openGatewayDatabase` has created. */
export function createAuditLog(db: BetterSqlite3.Database): AuditLog {
  const insert = db.prepare('INSERT INTO audit_log (at, actor, action, target, outcome, detail) VALUES (@at, @actor, @action, @target, @outcome, @detail)');
  // The newest `limit` matches, then put back in the order they were written.
  const select = db.prepare<[{ since: string | null; actor: string | null; action: string | null; limit: number }], AuditRow>(
    `SELECT * FROM (
       SELECT seq, at, actor, action, target, outcome, detail FROM audit_log
       WHERE (@since IS NULL OR at >= @since) AND (@actor IS NULL OR actor = @actor) AND (@action IS NULL OR action = @action)
       ORDER BY seq DESC LIMIT @limit
     ) ORDER BY seq`,
  );

  return {
    append(entry) {
      if (typeof entry.actor !== 'string' || entry.actor === '') throw new Error('An audit entry needs an actor (who acted).');
      if (typeof entry.action !== 'string' || entry.action === '') throw new Error('An audit entry needs an action (what was done).');
      if (!AUDIT_OUTCOMES.includes(entry.outcome)) throw new Error(`An audit entry's outcome must be one of ${AUDIT_OUTCOMES.join(', ')}, got ${JSON.stringify(entry.outcome)}.`);
      insert.run({
        at: entry.at === undefined ? new Date().toISOString() : isoTime(entry.at, 'at'),
        actor: entry.actor,
        action: entry.action,
        target: entry.target ?? null,
        outcome: entry.outcome,
        detail: entry.detail === undefined ? null : JSON.stringify(entry.detail),
      });
    },
    read(filter = {}) {
      const limit = filter.limit ?? DEFAULT_AUDIT_READ_LIMIT;
      if (!Number.isSafeInteger(limit) || limit < 1) throw new Error(`The audit read limit must be a whole number of at least 1, got ${String(limit)}.`);
      return select
        .all({ since: filter.since === undefined ? null : isoTime(filter.since, 'since'), actor: filter.actor ?? null, action: filter.action ?? null, limit })
        .map((row) => ({ ...row, detail: row.detail === null ? null : (JSON.parse(row.detail) as Record<string, unknown>) }));
    },
  };
}

// Times are stored as UTC `toISOString()` text, so that comparing the text compares the instants.
function isoTime(value: string, label: string): string {
  const time = typeof value === 'string' ? new Date(value) : new Date(Number.NaN);
  if (Number.isNaN(time.getTime())) throw new Error(`The audit ${label} must be an ISO time, e.g. 2025-01-31T09:00:00Z, got ${JSON.stringify(value)}.`);
  return time.toISOString();
}
