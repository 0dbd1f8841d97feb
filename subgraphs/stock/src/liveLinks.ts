import type { Clock } from '../../../kit/clock';
import { badArgumentError } from '../../../kit/errors';
import { type LinkClaims, sealLinkToken } from '../../../kit/linkToken';
import type { SubgraphKeyring } from '../../../kit/subgraphCredential';
import type { RecommendationReason } from './rankRecommendations';

/** One slot of a user's recommendation list, as the `Recommendation` resolvers see it. */
export interface RecommendationSlot {
  sku: string;
  reason: RecommendationReason;
  score: number;
  userId: string;
  /** Its index in the list. */
  slot: number;
  /** Every SKU of the list, in order: the products the email shows beside this one. */
  skus: string[];
}

/** Seals the live link of a slot; one token per (slot, campaign), shared by `clickUrl` and `liveImageUrl`. */
export interface LinkIssuer {
  token(slot: RecommendationSlot, campaign: string | null): string;
  baseUrl: string;
}

/** A campaign name: it travels in every link of the email, so it is kept short and plain. */
const CAMPAIGN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;

/** The `campaign` argument of `clickUrl`/`liveImageUrl`, checked; `null` when the template named none. */
export function campaignArgument(campaign: unknown): string | null {
  if (campaign === undefined || campaign === null) return null;
  if (typeof campaign !== 'string' || !CAMPAIGN.test(campaign)) {
    throw badArgumentError('campaign', 'must be 1-64 letters, digits, _ . : - (starting with a letter or digit).');
  }
  return campaign;
}

export function createLinkIssuer(options: { keyring: SubgraphKeyring; baseUrl: string; ttlMs: number; clock: Clock }): LinkIssuer {
  const tokens = new WeakMap<RecommendationSlot, Map<string | null, string>>();
  return {
    baseUrl: options.baseUrl.replace(/\/+$/, ''),
    token(slot, campaign) {
      let byCampaign = tokens.get(slot);
      if (!byCampaign) tokens.set(slot, (byCampaign = new Map()));
      let token = byCampaign.get(campaign);
      if (token === undefined) {
        const claims: LinkClaims = { userId: slot.userId, campaign, slot: slot.slot, skus: slot.skus, expiresAt: options.clock.now() + options.ttlMs };
        token = sealLinkToken(options.keyring, claims);
        byCampaign.set(campaign, token);
      }
      return token;
    },
  };
}
