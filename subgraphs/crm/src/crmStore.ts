import { z } from 'zod';
import type { Clock } from '../../../kit/clock';
import type { Database } from '../../kit/database';
import { type StoreBackend, type Synchronous, asAsync } from '../../kit/storeBackend';
import { createPostgresCrmStore } from './crmStorePostgres';
import { conflictsWithOwners, conflictsWithinBatch, emailKey, planUserUpsert } from './userBatch';
import { formatDateTime } from '../../kit/dateTime';
import type { DemoUser } from '../../../demo/demoData';
import type { ItemProblem } from '../../../kit/errors';
import type { IndexedItem, IngestResult } from '../../kit/ingest';

export const LOYALTY_TIERS = ['NONE', 'BRONZE', 'SILVER', 'GOLD', 'PLATINUM'] as const;

/** A user's profile: the non-critical fields, safe to cache for minutes. */
export interface UserProfile {
  id: string;
  email: string;
  firstName: string | null;
  lastName: string | null;
  locale: string;
  timezone: string | null;
  loyaltyTier: (typeof LOYALTY_TIERS)[number];
  segments: string[];
}

/** A user's consent: legal data, always read live. */
export interface Consent {
  email: boolean;
  personalization: boolean;
  updatedAt: number;
}

const bcp47 = /^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/;

/** One item of an `upsertUsers` batch, validated. */
export const userInputSchema = z.strictObject({
  id: z.string().trim().min(1, 'id must not be empty').max(128, 'id must be at most 128 characters'),
  email: z.email({ message: 'email must be a valid email address' }).max(320),
  firstName: z.string().max(200).nullish(),
  lastName: z.string().max(200).nullish(),
  locale: z.string().regex(bcp47, 'locale must be a BCP 47 tag such as en-GB').nullish(),
  timezone: z
    .string()
    .refine((tz) => isTimeZone(tz), 'timezone must be an IANA time zone such as Europe/London')
    .nullish(),
  loyaltyTier: z.enum(LOYALTY_TIERS, { message: `loyaltyTier must be one of ${LOYALTY_TIERS.join(', ')}` }).nullish(),
  segments: z.array(z.string().min(1).max(100)).max(100).nullish(),
  consent: z.strictObject({ email: z.boolean(), personalization: z.boolean() }).nullish(),
});
export type UserInput = z.output<typeof userInputSchema>;

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}


interface UserRow {
  id: string;
  email: string;
  first_name: string | null;
  last_name: string | null;
  locale: string;
  timezone: string | null;
  loyalty_tier: UserProfile['loyaltyTier'];
  segments: string;
}
interface ConsentRow {
  user_id: string;
  email: number;
  personalization: number;
  updated_at: number;
}

/** Everything the CRM holds of one user, as `POST /privacy/export` gives it. */
export interface CrmUserExport {
  profile?: UserProfile & { updatedAt: string };
  /** `null` for a user written before consent existed (none recorded). */
  consent?: { email: boolean; personalization: boolean; updatedAt: string } | null;
}

/** The CRM's store: users and consent, in SQLite or PostgreSQL. Every read of many keys is one statement. */
export interface CrmStore {
  getUsersByIds(ids: readonly string[]): Promise<Map<string, UserProfile>>;
  getConsentsByUserIds(ids: readonly string[]): Promise<Map<string, Consent>>;
  /** The id of the user with this email, compared case-insensitively. */
  getUserIdByEmail(email: string): Promise<string | undefined>;
  /** Items that repeat an id or an email of the batch, or take another user's email. */
  findUserConflicts(users: IndexedItem<UserInput>[]): Promise<ItemProblem[]>;
  /** Applies a checked batch atomically; an unchanged user counts as a duplicate. */
  upsertUsers(users: UserInput[]): Promise<IngestResult>;
  /** Changes consent flags; `undefined` when the user does not exist. */
  updateConsent(userId: string, change: { email?: boolean; personalization?: boolean }): Promise<Consent | undefined>;
  /**
   * Deletes the user's consent and profile (with the email index entry the row carries) atomically,
   * and counts each; 0 and 0 for an unknown or already erased user.
   */
  eraseUser(userId: string): Promise<{ profiles: number; consents: number }>;
  /** Everything stored of the user, read from the tables (never a cache); `{}` for an unknown one. */
  exportUser(userId: string): Promise<CrmUserExport>;
  isEmpty(): Promise<boolean>;
  seed(users: DemoUser[]): Promise<void>;
}

/** Creates the CRM store on its backend, whose migrations have run. */
export function createCrmStore(backend: StoreBackend, clock: Clock): CrmStore {
  return backend.kind === 'postgres' ? createPostgresCrmStore(backend.db, clock) : asAsync<CrmStore>(createSqliteCrmStore(backend.db, clock));
}

/** The CRM store on SQLite. */
function createSqliteCrmStore(db: Database, clock: Clock): Synchronous<CrmStore> {
  const usersByIds = db.statement<UserRow>(
    'getUsersByIds',
    'SELECT id, email, first_name, last_name, locale, timezone, loyalty_tier, segments FROM users WHERE id IN (SELECT value FROM json_each(?))',
  );
  const consentsByUserIds = db.statement<ConsentRow>(
    'getConsentsByUserIds',
    'SELECT user_id, email, personalization, updated_at FROM consents WHERE user_id IN (SELECT value FROM json_each(?))',
  );
  const idByEmail = db.statement<{ id: string }>('getUserIdByEmail', 'SELECT id FROM users WHERE email_key = ?');
  const idsByEmails = db.statement<{ id: string; email_key: string }>(
    'getUserIdsByEmails',
    'SELECT id, email_key FROM users WHERE email_key IN (SELECT value FROM json_each(?))',
  );
  const upsertUser = db.statement(
    'upsertUser',
    `INSERT INTO users (id, email, email_key, first_name, last_name, locale, timezone, loyalty_tier, segments, updated_at)
     VALUES (@id, @email, @emailKey, @firstName, @lastName, @locale, @timezone, @loyaltyTier, @segments, @now)
     ON CONFLICT(id) DO UPDATE SET email = excluded.email, email_key = excluded.email_key, first_name = excluded.first_name,
       last_name = excluded.last_name, locale = excluded.locale, timezone = excluded.timezone,
       loyalty_tier = excluded.loyalty_tier, segments = excluded.segments, updated_at = excluded.updated_at`,
  );
  const upsertConsent = db.statement(
    'upsertConsent',
    `INSERT INTO consents (user_id, email, personalization, updated_at) VALUES (?, ?, ?, ?)
     ON CONFLICT(user_id) DO UPDATE SET email = excluded.email, personalization = excluded.personalization, updated_at = excluded.updated_at`,
  );
  const userForExport = db.statement<UserRow & { updated_at: number }>(
    'getUserForExport',
    'SELECT id, email, first_name, last_name, locale, timezone, loyalty_tier, segments, updated_at FROM users WHERE id = ?',
  );
  const deleteConsent = db.statement('deleteConsent', 'DELETE FROM consents WHERE user_id = ?');
  const deleteUser = db.statement('deleteUser', 'DELETE FROM users WHERE id = ?');
  const countUsers = db.statement<{ n: number }>('countUsers', 'SELECT COUNT(*) AS n FROM (SELECT 1 FROM users LIMIT 1)');

  const toProfile = (row: UserRow): UserProfile => ({
    id: row.id,
    email: row.email,
    firstName: row.first_name,
    lastName: row.last_name,
    locale: row.locale,
    timezone: row.timezone,
    loyaltyTier: row.loyalty_tier,
    segments: JSON.parse(row.segments) as string[],
  });
  const toConsent = (row: ConsentRow): Consent => ({ email: row.email === 1, personalization: row.personalization === 1, updatedAt: row.updated_at });

  const store: Synchronous<CrmStore> = {
    getUsersByIds(ids) {
      const rows = usersByIds.all(JSON.stringify(ids));
      return new Map(rows.map((row) => [row.id, toProfile(row)]));
    },
    getConsentsByUserIds(ids) {
      const rows = consentsByUserIds.all(JSON.stringify(ids));
      return new Map(rows.map((row) => [row.user_id, toConsent(row)]));
    },
    getUserIdByEmail(email) {
      return idByEmail.get(emailKey(email))?.id;
    },
    findUserConflicts(users) {
      const { problems, emailKeys } = conflictsWithinBatch(users);
      const owners = new Map(idsByEmails.all(JSON.stringify(emailKeys)).map((r) => [r.email_key, r.id]));
      return [...problems, ...conflictsWithOwners(users, owners)];
    },
    upsertUsers(users) {
      return db.transaction(() => {
        const ids = users.map((u) => u.id);
        const plan = planUserUpsert(users, store.getUsersByIds(ids), store.getConsentsByUserIds(ids));
        const now = clock.now();
        for (const profile of plan.users.values()) upsertUser.run({ ...profile, emailKey: emailKey(profile.email), segments: JSON.stringify(profile.segments), now });
        for (const [userId, consent] of plan.consents) upsertConsent.run(userId, consent.email ? 1 : 0, consent.personalization ? 1 : 0, now);
        return { accepted: plan.accepted, duplicates: plan.duplicates, stale: 0 };
      });
    },
    updateConsent(userId, change) {
      return db.transaction(() => {
        const current = store.getConsentsByUserIds([userId]).get(userId);
        if (!current) return undefined;
        const next = { email: change.email ?? current.email, personalization: change.personalization ?? current.personalization };
        if (next.email === current.email && next.personalization === current.personalization) return current;
        const now = clock.now();
        upsertConsent.run(userId, next.email ? 1 : 0, next.personalization ? 1 : 0, now);
        return { ...next, updatedAt: now };
      });
    },
    eraseUser(userId) {
      // Consent first: it references the user row.
      return db.transaction(() => ({ consents: deleteConsent.run(userId).changes, profiles: deleteUser.run(userId).changes }));
    },
    exportUser(userId) {
      // One transaction: the profile and the consent of one snapshot.
      return db.transaction(() => {
        const row = userForExport.get(userId);
        if (!row) return {};
        const consent = store.getConsentsByUserIds([userId]).get(userId);
        return {
          profile: { ...toProfile(row), updatedAt: formatDateTime(row.updated_at) },
          consent: consent ? { email: consent.email, personalization: consent.personalization, updatedAt: formatDateTime(consent.updatedAt) } : null,
        };
      });
    },
    isEmpty: () => countUsers.get()!.n === 0,
    seed(users) {
      const now = clock.now();
      db.transaction(() => {
        for (const u of users) {
          upsertUser.run({ ...u, emailKey: emailKey(u.email), segments: JSON.stringify(u.segments), now });
          upsertConsent.run(u.id, u.consentEmail ? 1 : 0, u.consentPersonalization ? 1 : 0, now);
        }
      });
    },
  };
  return store;
}
