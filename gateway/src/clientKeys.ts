import type BetterSqlite3 from 'better-sqlite3';
import { createHash, randomBytes } from 'node:crypto';

/** One client API key, as the gateway and operators see it: never its token, never the token's hash. */
export interface ClientKey {
  /** `key_` and 12 hex characters. */
  id: string;
  /** Unique among live keys, e.g. `braze`. */
  name: string;
  /** What the key may read, e.g. `recipients:read`; deduplicated and sorted. */
  scopes: string[];
  /** ISO time of creation. */
  createdAt: string;
  /** ISO time of revocation, or null while the key is live. */
  revokedAt: string | null;
  /** Requests per minute this key may make; null: the gateway's default. */
  ratePerMinute: number | null;
  /** Requests per day this key may make; null: the gateway's default. */
  dailyQuota: number | null;
}

/** The client API keys of a gateway database opened by `openGatewayDatabase`. */
export interface KeyStore {
  /** Creates a key; the token is returned once and never stored. Throws KeyStoreError with a clear message for a bad name/scope/limit or a name already in use. */
  create(input: { name: string; scopes: string[]; ratePerMinute?: number; dailyQuota?: number }): { token: string; key: ClientKey };
  /** The live key a bearer token is, or undefined (unknown, revoked, or not of the tlr_ format). Reads the database every call, so a revocation by another process applies at once. */
  verify(token: string): ClientKey | undefined;
  /** The live keys (and the revoked ones with `includeRevoked`), oldest first. */
  list(options?: { includeRevoked?: boolean }): ClientKey[];
  /** Revokes the live key with this id or name; returns it, or undefined when there is none. Idempotent. */
  revoke(idOrName: string): ClientKey | undefined;
  /** Whether any live key exists. */
  hasLiveKeys(): boolean;
}

/** A key that cannot be created as asked; the message says why and what is allowed. */
export class KeyStoreError extends Error {
  override name = 'KeyStoreError';
}

/** What every token starts with, so that a leaked one is easy to recognise (and to scan for). */
export const TOKEN_PREFIX = 'tlr_';

/** A scope: `resource:action` in lower case, e.g. `recipients:read`. */
export const SCOPE_PATTERN = /^[a-z][a-z0-9_-]*:[a-z][a-z0-9_-]*$/;

/** A key's name: 1–64 letters, digits, `.`, `_` or `-`, starting with a letter or digit. */
export const KEY_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

// 32 random bytes are 43 characters of unpadded base64url.
const TOKEN_PATTERN = /^tlr_[A-Za-z0-9_-]{43}$/;
const ID_PATTERN = /^key_[0-9a-f]{12}$/;

interface KeyRow {
  id: string;
  name: string;
  scopes: string;
  created_at: string;
  revoked_at: string | null;
  rate_per_minute: number | null;
  daily_quota: number | null;
}

const COLUMNS = 'id, name, scopes, created_at, revoked_at, rate_per_minute, daily_quota';

/** The key store of `db`, whose tables `openGatewayDatabase` has created. Every statement is prepared once, here. */
export function createKeyStore(db: BetterSqlite3.Database): KeyStore {
  const byTokenHash = db.prepare<[string], KeyRow>(`SELECT ${COLUMNS} FROM client_keys WHERE token_sha256 = ? AND revoked_at IS NULL`);
  const liveByName = db.prepare<[string], KeyRow>(`SELECT ${COLUMNS} FROM client_keys WHERE name = ? AND revoked_at IS NULL`);
  const insert = db.prepare(
    `INSERT INTO client_keys (id, name, token_sha256, scopes, created_at, revoked_at, rate_per_minute, daily_quota)
     VALUES (@id, @name, @tokenSha256, @scopes, @createdAt, NULL, @ratePerMinute, @dailyQuota)`,
  );
  const revokeById = db.prepare<[string, string], KeyRow>(
    `UPDATE client_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL RETURNING ${COLUMNS}`,
  );
  const revokeByName = db.prepare<[string, string], KeyRow>(
    `UPDATE client_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL RETURNING ${COLUMNS}`,
  );
  const listLive = db.prepare<[], KeyRow>(`SELECT ${COLUMNS} FROM client_keys WHERE revoked_at IS NULL ORDER BY rowid`);
  const listAll = db.prepare<[], KeyRow>(`SELECT ${COLUMNS} FROM client_keys ORDER BY rowid`);
  const anyLive = db.prepare<[], { live: number }>('SELECT EXISTS (SELECT 1 FROM client_keys WHERE revoked_at IS NULL) AS live');

  // IMMEDIATE takes the write lock first, so no other process can take the name between check and insert.
  const createKey = db.transaction((row: { id: string; name: string; tokenSha256: string; scopes: string; createdAt: string; ratePerMinute: number | null; dailyQuota: number | null }) => {
    if (liveByName.get(row.name)) {
      throw new KeyStoreError(`A live key is already named "${row.name}": revoke it first (npm run keys -- revoke ${row.name}) or choose another name.`);
    }
    insert.run(row);
  });
  const revokeKey = db.transaction((idOrName: string, at: string) => revokeById.get(at, idOrName) ?? revokeByName.get(at, idOrName));

  return {
    create(input) {
      const valid = validate(input);
      const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
      const key: ClientKey = {
        id: `key_${randomBytes(6).toString('hex')}`,
        name: valid.name,
        scopes: valid.scopes,
        createdAt: new Date().toISOString(),
        revokedAt: null,
        ratePerMinute: valid.ratePerMinute,
        dailyQuota: valid.dailyQuota,
      };
      createKey.immediate({
        id: key.id,
        name: key.name,
        tokenSha256: sha256Hex(token),
        scopes: JSON.stringify(key.scopes),
        createdAt: key.createdAt,
        ratePerMinute: key.ratePerMinute,
        dailyQuota: key.dailyQuota,
      });
      return { token, key };
    },
    verify(token) {
      if (typeof token !== 'string' || !TOKEN_PATTERN.test(token)) return undefined;
      // Looked up by hash: what a client sends is never compared byte by byte with anything stored.
      const row = byTokenHash.get(sha256Hex(token));
      return row && keyOf(row);
    },
    list(options = {}) {
      return (options.includeRevoked ? listAll : listLive).all().map(keyOf);
    },
    revoke(idOrName) {
      if (typeof idOrName !== 'string' || idOrName === '') return undefined;
      const row = revokeKey.immediate(idOrName, new Date().toISOString());
      return row && keyOf(row);
    },
    hasLiveKeys() {
      return anyLive.get()?.live === 1;
    },
  };
}

/** The sha256, hex, of a token: all the database ever holds of it. */
function sha256Hex(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

function keyOf(row: KeyRow): ClientKey {
  return {
    id: row.id,
    name: row.name,
    scopes: JSON.parse(row.scopes) as string[],
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
    ratePerMinute: row.rate_per_minute,
    dailyQuota: row.daily_quota,
  };
}

/** Checks a create request, naming every problem in one KeyStoreError. */
function validate(input: { name: unknown; scopes: unknown; ratePerMinute?: unknown; dailyQuota?: unknown }): {
  name: string;
  scopes: string[];
  ratePerMinute: number | null;
  dailyQuota: number | null;
} {
  const problems: string[] = [];
  const name = input?.name;
  if (typeof name !== 'string' || !KEY_NAME_PATTERN.test(name)) {
    problems.push(`name ${JSON.stringify(name ?? '')} must be 1–64 letters, digits, ".", "_" or "-", starting with a letter or digit (e.g. braze)`);
  } else if (ID_PATTERN.test(name)) {
    problems.push(`name "${name}" has the form of a key id (key_ and 12 hex characters), which would make revoke ambiguous`);
  }
  const scopes = input?.scopes;
  if (!Array.isArray(scopes) || scopes.length === 0) {
    problems.push('scopes must list at least one scope (e.g. recipients:read)');
  } else {
    for (const scope of scopes) {
      if (typeof scope !== 'string' || !SCOPE_PATTERN.test(scope)) {
        problems.push(`scope ${JSON.stringify(scope)} must be resource:action in lower case (e.g. recipients:read)`);
      }
    }
  }
  const limit = (label: string, value: unknown): number | null => {
    if (value === undefined || value === null) return null;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) problems.push(`${label} must be a whole number of at least 1, got ${String(value)}`);
    return value as number;
  };
  const ratePerMinute = limit('ratePerMinute', input?.ratePerMinute);
  const dailyQuota = limit('dailyQuota', input?.dailyQuota);
  if (problems.length > 0) throw new KeyStoreError(`Cannot create the key: ${problems.join('; ')}.`);
  return { name: name as string, scopes: [...new Set(scopes as string[])].sort(), ratePerMinute, dailyQuota };
}
