import type { ItemProblem } from '../../../kit/errors';
import type { IndexedItem } from '../../kit/ingest';
import type { Consent, UserInput, UserProfile } from './crmStore';

// What a users batch decides, whichever store applies it: the SQLite and PostgreSQL stores read the
// same rows, decide here, and write the outcome each in its own way.

/** The key of an email in the unique index: trimmed, lower-case. */
export const emailKey = (email: string) => email.trim().toLowerCase();

/** Items that repeat an id or an email of the batch; and the batch's email keys, for one read of their owners. */
export function conflictsWithinBatch(users: IndexedItem<UserInput>[]): { problems: ItemProblem[]; emailKeys: string[] } {
  const problems: ItemProblem[] = [];
  const firstIndexOfId = new Map<string, number>();
  const firstIndexOfEmail = new Map<string, number>();
  for (const { index, item } of users) {
    const seenId = firstIndexOfId.get(item.id);
    if (seenId !== undefined) problems.push({ index, field: 'id', reason: `id ${item.id} is already in this batch at index ${seenId}` });
    else firstIndexOfId.set(item.id, index);
    const key = emailKey(item.email);
    const seenEmail = firstIndexOfEmail.get(key);
    if (seenEmail !== undefined) problems.push({ index, field: 'email', reason: `email is already in this batch at index ${seenEmail}` });
    else firstIndexOfEmail.set(key, index);
  }
  return { problems, emailKeys: [...firstIndexOfEmail.keys()] };
}

/** Items whose email belongs to another user, given the owner of each stored email key. */
export function conflictsWithOwners(users: IndexedItem<UserInput>[], owners: ReadonlyMap<string, string>): ItemProblem[] {
  const problems: ItemProblem[] = [];
  for (const { index, item } of users) {
    const owner = owners.get(emailKey(item.email));
    if (owner !== undefined && owner !== item.id) problems.push({ index, field: 'email', reason: `email belongs to another user (${owner})` });
  }
  return problems;
}

/** The consent flags a write sets. */
export type ConsentFlags = { email: boolean; personalization: boolean };

/** What applying a batch decides: the counts, and the final row of each user and consent to write. */
export interface UserUpsertPlan {
  accepted: number;
  duplicates: number;
  /** The last accepted profile of each user, in the batch order of first write. */
  users: Map<string, UserProfile>;
  /** The last consent written for each user. */
  consents: Map<string, ConsentFlags>;
}

/**
 * The decisions over a batch, item by item in order, against the state before the batch (read once,
 * before deciding): an item whose profile equals the stored one and whose consent changes nothing is
 * a duplicate; any other is accepted and writes its profile, and its consent when that changes. A
 * later write of the same user replaces an earlier one.
 */
export function planUserUpsert(users: readonly UserInput[], existing: ReadonlyMap<string, UserProfile>, consents: ReadonlyMap<string, Consent>): UserUpsertPlan {
  const plan: UserUpsertPlan = { accepted: 0, duplicates: 0, users: new Map(), consents: new Map() };
  for (const user of users) {
    const before = existing.get(user.id);
    const profile: UserProfile = {
      id: user.id,
      email: user.email.trim(),
      firstName: user.firstName ?? null,
      lastName: user.lastName ?? null,
      locale: user.locale ?? before?.locale ?? 'en-GB',
      timezone: user.timezone ?? null,
      loyaltyTier: user.loyaltyTier ?? 'NONE',
      segments: user.segments ?? [],
    };
    const consentBefore = consents.get(user.id);
    const consent = user.consent ?? (consentBefore ? undefined : { email: false, personalization: false });
    const consentChanges = consent !== undefined && (consentBefore?.email !== consent.email || consentBefore?.personalization !== consent.personalization);
    if (before && JSON.stringify(before) === JSON.stringify(profile) && !consentChanges) {
      plan.duplicates++;
      continue;
    }
    plan.users.set(user.id, profile);
    if (consent && consentChanges) plan.consents.set(user.id, { email: consent.email, personalization: consent.personalization });
    plan.accepted++;
  }
  return plan;
}

