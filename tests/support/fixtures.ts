import type { DemoProduct, DemoUser } from '../../demo/demoData';
import type { EventInput } from '../../subgraphs/behavior/src/behaviorStore';

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;

/** A catalog product with a given stock level. */
export function product(sku: string, available = 10, overrides: Partial<DemoProduct> = {}): DemoProduct {
  return {
    sku,
    name: `Product ${sku}`,
    brand: 'Fixture',
    category: 'Dresses',
    priceCents: 4990,
    currency: 'GBP',
    imageUrl: `https://images.tailor.example/products/${sku}.jpg`,
    url: `https://shop.tailor.example/p/${sku}`,
    available,
    ...overrides,
  };
}

/** A user, consenting to personalization unless told otherwise. */
export function user(id: string, overrides: Partial<DemoUser> = {}): DemoUser {
  return {
    id,
    email: `${id}@example.com`,
    firstName: `First ${id}`,
    lastName: `Last ${id}`,
    locale: 'en-GB',
    timezone: 'Europe/London',
    loyaltyTier: 'SILVER',
    segments: ['fixture'],
    consentEmail: true,
    consentPersonalization: true,
    ...overrides,
  };
}

let sequence = 0;

/** A browsing event `ageMs` before `now`. */
export function event(userId: string, sku: string, type: EventInput['type'], now: number, ageMs: number, eventId?: string): EventInput {
  return { eventId: eventId ?? `fx-${++sequence}`, userId, sku, type, occurredAt: now - ageMs };
}
