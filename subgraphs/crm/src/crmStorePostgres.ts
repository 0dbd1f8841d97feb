import type { Clock } from '../../../kit/clock';
import { formatDateTime } from '../../kit/dateTime';
import type { PgDatabase, PgExecutor } from '../../kit/postgres';
import type { Consent, CrmStore, UserProfile } from './crmStore';
import { type ConsentFlags, conflictsWithOwners, conflictsWithinBatch, emailKey, planUserUpsert } from './userBatch';

// The CRM store on PostgreSQL: the same decisions as the SQLite store, with each batch read in one
// statement per table (`= ANY($1)`) and written in one multi-row statement per table (`unnest`).

interface UserRow {
  id: string;
  email: string;
  first_name: string | null;
  last_name: string | null;
  locale: string;
  timezone: string | null;
  loyalty_tier: UserProfile['loyaltyTier'];
  /** JSONB: pg gives it parsed. */
  segments: string[];
}
interface ConsentRow {
  user_id: string;
  email: boolean;
  personalization: boolean;
  /** BIGINT: pg gives it as a string. */
  updated_at: string;
}

/** Rows per `unnest` statement when seeding. */
const SEED_CHUNK = 5_000;

const USER_COLUMNS = 'id, email, first_name, last_name, locale, timezone, loyalty_tier, segments';

const UPSERT_USERS = `
INSERT INTO users (id, email, email_key, first_name, last_name, locale, timezone, loyalty_tier, segments, updated_at)
SELECT u.id, u.email, u.email_key, u.first_name, u.last_name, u.locale, u.timezone, u.loyalty_tier, u.segments::jsonb, $10::bigint
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
  AS u(id, email, email_key, first_name, last_name, locale, timezone, loyalty_tier, segments)
ON CONFLICT (id) DO UPDATE SET email = excluded.email, email_key = excluded.email_key, first_name = excluded.first_name,
  last_name = excluded.last_name, locale = excluded.locale, timezone = excluded.timezone,
  loyalty_tier = excluded.loyalty_tier, segments = excluded.segments, updated_at = excluded.updated_at`;

const UPSERT_CONSENTS = `
INSERT INTO consents (user_id, email, personalization, updated_at)
SELECT c.user_id, c.email, c.personalization, $4::bigint
FROM unnest($1::text[], $2::boolean[], $3::boolean[]) AS c(user_id, email, personalization)
ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, personalization = excluded.personalization, updated_at = excluded.updated_at`;

function toProfile(row: UserRow): UserProfile {
  return {
    id: row.id,
    email: row.email,
    firstName: row.first_name,
    lastName: row.last_name,
    locale: row.locale,
    timezone: row.timezone,
    loyaltyTier: row.loyalty_tier,
    segments: row.segments,
  };
}
const toConsent = (row: ConsentRow): Consent => ({ email: row.email, personalization: row.personalization, updatedAt: Number(row.updated_at) });

async function writeUsers(tx: PgExecutor, profiles: readonly UserProfile[], now: number): Promise<void> {
  if (profiles.length === 0) return;
  await tx.run('upsertUser', UPSERT_USERS, [
    profiles.map((p) => p.id),
    profiles.map((p) => p.email),
    profiles.map((p) => emailKey(p.email)),
    profiles.map((p) => p.firstName),
    profiles.map((p) => p.lastName),
    profiles.map((p) => p.locale),
    profiles.map((p) => p.timezone),
    profiles.map((p) => p.loyaltyTier),
    profiles.map((p) => JSON.stringify(p.segments)),
    now,
  ]);
}

async function writeConsents(tx: PgExecutor, consents: readonly (ConsentFlags & { userId: string })[], now: number): Promise<void> {
  if (consents.length === 0) return;
  await tx.run('upsertConsent', UPSERT_CONSENTS, [consents.map((c) => c.userId), consents.map((c) => c.email), consents.map((c) => c.personalization), now]);
}

/** The CRM store on PostgreSQL (`db`'s schema migrated with `migrations/postgres/`). */
export function createPostgresCrmStore(db: PgDatabase, clock: Clock): CrmStore {
  async function usersByIds(on: PgExecutor, ids: readonly string[], forUpdate = false): Promise<Map<string, UserProfile>> {
    // In a write, the rows are locked (in id order, so two batches cannot deadlock on them) until the
    // commit: a concurrent batch on the same users waits and then decides on what this one wrote.
    const rows = await on.rows<UserRow>(
      'getUsersByIds',
      `SELECT ${USER_COLUMNS} FROM users WHERE id = ANY($1::text[])${forUpdate ? ' ORDER BY id FOR UPDATE' : ''}`,
      [ids],
    );
    return new Map(rows.map((row) => [row.id, toProfile(row)]));
  }
  async function consentsByUserIds(on: PgExecutor, ids: readonly string[], forUpdate = false): Promise<Map<string, Consent>> {
    const rows = await on.rows<ConsentRow>(
      'getConsentsByUserIds',
      `SELECT user_id, email, personalization, updated_at FROM consents WHERE user_id = ANY($1::text[])${forUpdate ? ' ORDER BY user_id FOR UPDATE' : ''}`,
      [ids],
    );
    return new Map(rows.map((row) => [row.user_id, toConsent(row)]));
  }

  return {
    getUsersByIds: (ids) => usersByIds(db, ids),
    getConsentsByUserIds: (ids) => consentsByUserIds(db, ids),
    async getUserIdByEmail(email) {
      const [row] = await db.rows<{ id: string }>('getUserIdByEmail', 'SELECT id FROM users WHERE email_key = $1', [emailKey(email)]);
      return row?.id;
    },
    async findUserConflicts(users) {
      const { problems, emailKeys } = conflictsWithinBatch(users);
      const rows = await db.rows<{ id: string; email_key: string }>('getUserIdsByEmails', 'SELECT id, email_key FROM users WHERE email_key = ANY($1::text[])', [emailKeys]);
      return [...problems, ...conflictsWithOwners(users, new Map(rows.map((r) => [r.email_key, r.id])))];
    },
    upsertUsers(users) {
      return db.transaction(async (tx) => {
        const ids = users.map((u) => u.id);
        const existing = await usersByIds(tx, ids, true);
        const consents = await consentsByUserIds(tx, ids);
        const now = clock.now();
        const plan = planUserUpsert(users, existing, consents);
        // Users first: a consent row references its user.
        await writeUsers(tx, [...plan.users.values()], now);
        await writeConsents(tx, [...plan.consents].map(([userId, flags]) => ({ userId, ...flags })), now);
        return { accepted: plan.accepted, duplicates: plan.duplicates, stale: 0 };
      });
    },
    updateConsent(userId, change) {
      return db.transaction(async (tx) => {
        // Locked until the commit, so two changes of different flags cannot lose one another.
        const current = (await consentsByUserIds(tx, [userId], true)).get(userId);
        if (!current) return undefined;
        const next = { email: change.email ?? current.email, personalization: change.personalization ?? current.personalization };
        if (next.email === current.email && next.personalization === current.personalization) return current;
        const now = clock.now();
        await writeConsents(tx, [{ userId, ...next }], now);
        return { ...next, updatedAt: now };
      });
    },
    eraseUser(userId) {
      // Consent first: it references the user row.
      return db.transaction(async (tx) => {
        const consents = await tx.run('deleteConsent', 'DELETE FROM consents WHERE user_id = $1', [userId]);
        const profiles = await tx.run('deleteUser', 'DELETE FROM users WHERE id = $1', [userId]);
        return { consents, profiles };
      });
    },
    async exportUser(userId) {
      // One statement, so the profile and the consent are of one snapshot (a READ COMMITTED
      // transaction takes a new snapshot for each statement).
      const [row] = await db.rows<UserRow & { updated_at: string; consent_email: boolean | null; consent_personalization: boolean | null; consent_updated_at: string | null }>(
        'getUserForExport',
        `SELECT u.id, u.email, u.first_name, u.last_name, u.locale, u.timezone, u.loyalty_tier, u.segments, u.updated_at,
           c.email AS consent_email, c.personalization AS consent_personalization, c.updated_at AS consent_updated_at
         FROM users u LEFT JOIN consents c ON c.user_id = u.id WHERE u.id = $1`,
        [userId],
      );
      if (!row) return {};
      return {
        profile: { ...toProfile(row), updatedAt: formatDateTime(Number(row.updated_at)) },
        consent:
          row.consent_updated_at === null
            ? null
            : { email: row.consent_email === true, personalization: row.consent_personalization === true, updatedAt: formatDateTime(Number(row.consent_updated_at)) },
      };
    },
    async isEmpty() {
      const [row] = await db.rows<{ n: string }>('countUsers', 'SELECT COUNT(*) AS n FROM (SELECT 1 FROM users LIMIT 1) AS any_user');
      return Number(row.n) === 0;
    },
    async seed(users) {
      const now = clock.now();
      // The SQLite seed upserts row by row, so a repeated id ends with its last row: so here too.
      const last = new Map(users.map((u) => [u.id, u]));
      const all = [...last.values()];
      await db.transaction(async (tx) => {
        for (let start = 0; start < all.length; start += SEED_CHUNK) {
          const chunk = all.slice(start, start + SEED_CHUNK);
          await writeUsers(tx, chunk, now);
          await writeConsents(tx, chunk.map((u) => ({ userId: u.id, email: u.consentEmail, personalization: u.consentPersonalization })), now);
        }
      });
    },
  };
}
