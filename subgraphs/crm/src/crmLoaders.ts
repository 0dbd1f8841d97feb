import type DataLoader from 'dataloader';
import type { EntityCache } from '../../kit/entityCache';
import { createLoader, readThroughCache } from '../../kit/loaders';
import type { Consent, CrmStore, UserProfile } from './crmStore';

/** The CRM's per-request loaders. */
export interface CrmLoaders {
  /** Profiles, through the profile cache: one statement per batch of misses. */
  userById: DataLoader<string, UserProfile | null>;
  /** Consent, always from the store: one statement per batch. */
  consentByUserId: DataLoader<string, Consent | null>;
}

/** Creates one request's loaders. */
export function createCrmLoaders(store: CrmStore, profiles: EntityCache<string, UserProfile>, options: { batching: boolean }): CrmLoaders {
  return {
    userById: createLoader((ids) => readThroughCache(profiles, ids, (missing) => store.getUsersByIds(missing)), options),
    consentByUserId: createLoader(async (ids) => {
      const consents = await store.getConsentsByUserIds(ids);
      return ids.map((id) => consents.get(id) ?? null);
    }, options),
  };
}
