import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper';
import { DateTimeScalar, formatDateTime } from '../../kit/dateTime';
import { badArgumentError } from '../../../kit/errors';
import type { Ingestor } from '../../kit/ingest';
import type { CrmLoaders } from './crmLoaders';
import type { Consent, CrmStore, UserInput, UserProfile } from './crmStore';

/** Most ids one `users(ids:)` query may ask for. */
export const MAX_USERS_PER_QUERY = 500;

/** The consent of a user written before consent existed, who has none recorded: no consent at all. */
export const NO_CONSENT: Readonly<Consent> = Object.freeze({ email: false, personalization: false, updatedAt: 0 });

/** What CRM resolvers see on each request. */
export interface CrmContext {
  loaders: CrmLoaders;
  store: CrmStore;
  ingestUsers: Ingestor<UserInput>;
}

/** The CRM's resolvers: users, their profile and their consent. */
export const crmResolvers: GraphQLResolverMap<CrmContext> = {
  DateTime: DateTimeScalar,
  Query: {
    user: (_: unknown, { id }: { id: string }, { loaders }: CrmContext) => loaders.userById.load(id),
    userByEmail: async (_: unknown, { email }: { email: string }, { loaders, store }: CrmContext) => {
      const id = await store.getUserIdByEmail(email);
      return id === undefined ? null : loaders.userById.load(id);
    },
    users: (_: unknown, { ids }: { ids: string[] }, { loaders }: CrmContext) => {
      if (ids.length > MAX_USERS_PER_QUERY) {
        throw badArgumentError('ids', `at most ${MAX_USERS_PER_QUERY} ids per query, got ${ids.length}. Split the list into batches of ${MAX_USERS_PER_QUERY}.`);
      }
      return loaders.userById.loadMany(ids);
    },
  },
  Mutation: {
    upsertUsers: (_: unknown, { users }: { users: unknown[] }, { ingestUsers }: CrmContext) => ingestUsers.ingest(users),
    updateConsent: async (_: unknown, args: { userId: string; email?: boolean | null; personalization?: boolean | null }, { store }: CrmContext) => {
      const consent = await store.updateConsent(args.userId, { email: args.email ?? undefined, personalization: args.personalization ?? undefined });
      if (!consent) throw badArgumentError('userId', `no user has id ${JSON.stringify(args.userId)}.`);
      return consent;
    },
  },
  User: {
    __resolveReference: (ref: { id: string }, { loaders }: CrmContext) => loaders.userById.load(ref.id),
    consent: async (user: UserProfile, _: unknown, { loaders }: CrmContext) => {
      const consent = await loaders.consentByUserId.load(user.id);
      return consent ?? NO_CONSENT;
    },
  },
  Consent: {
    updatedAt: (consent: Consent) => formatDateTime(consent.updatedAt),
  },
};
