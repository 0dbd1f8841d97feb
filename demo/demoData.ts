/**
 * The deterministic demo data set: a fashion retailer's catalog, customers and a month of browsing.
 * Every subgraph seeds its own database from it, so ids agree across services without any of them
 * reading another's store. The same `DemoScale` always gives the same data; only timestamps move with
 * the anchor (the moment of seeding).
 */

/** How big the demo is. */
export interface DemoScale {
  productsPerCategory: number;
  users: number;
  /** Average browsing sessions per user over the 30 days. */
  sessionsPerUser: number;
}

/** The demo's sizes, by `TAILOR_DEMO_SCALE`: `full` for the stack, `small` for quick tests. */
export const DEMO_SCALES = {
  full: { productsPerCategory: 250, users: 20_000, sessionsPerUser: 2.5 },
  small: { productsPerCategory: 20, users: 300, sessionsPerUser: 3 },
} as const satisfies Record<string, DemoScale>;


export interface DemoProduct {
  sku: string;
  name: string;
  brand: string;
  category: string;
  priceCents: number;
  currency: string;
  imageUrl: string;
  url: string;
  available: number;
}

export type DemoTier = 'NONE' | 'BRONZE' | 'SILVER' | 'GOLD' | 'PLATINUM';

export interface DemoUser {
  id: string;
  email: string;
  firstName: string;
  lastName: string;
  locale: string;
  timezone: string;
  loyaltyTier: DemoTier;
  segments: string[];
  consentEmail: boolean;
  consentPersonalization: boolean;
}

export type DemoEventType = 'VIEW' | 'ADD_TO_CART' | 'PURCHASE';

export interface DemoEvent {
  eventId: string;
  userId: string;
  sku: string;
  type: DemoEventType;
  occurredAt: number;
}

const CATEGORIES: { code: string; name: string; nouns: string[]; price: [number, number] }[] = [
  { code: 'DRS', name: 'Dresses', nouns: ['Midi Dress', 'Wrap Dress', 'Slip Dress', 'Shirt Dress', 'Maxi Dress'], price: [39, 189] },
  { code: 'TOP', name: 'Tops', nouns: ['Blouse', 'T-Shirt', 'Tank Top', 'Shirt', 'Bodysuit'], price: [15, 79] },
  { code: 'JNS', name: 'Jeans', nouns: ['Straight Jeans', 'Skinny Jeans', 'Wide-Leg Jeans', 'Mom Jeans', 'Bootcut Jeans'], price: [35, 129] },
  { code: 'TRS', name: 'Trousers', nouns: ['Tailored Trousers', 'Cargo Trousers', 'Chinos', 'Joggers', 'Culottes'], price: [29, 119] },
  { code: 'SKT', name: 'Skirts', nouns: ['Pleated Skirt', 'Mini Skirt', 'Midi Skirt', 'Denim Skirt', 'Wrap Skirt'], price: [25, 99] },
  { code: 'KNT', name: 'Knitwear', nouns: ['Jumper', 'Cardigan', 'Roll-Neck', 'Knit Vest', 'Hoodie'], price: [29, 149] },
  { code: 'JKT', name: 'Jackets', nouns: ['Denim Jacket', 'Blazer', 'Bomber Jacket', 'Biker Jacket', 'Shacket'], price: [49, 229] },
  { code: 'COA', name: 'Coats', nouns: ['Trench Coat', 'Wool Coat', 'Puffer Coat', 'Parka', 'Car Coat'], price: [79, 349] },
  { code: 'SHO', name: 'Shoes', nouns: ['Trainers', 'Loafers', 'Ballet Flats', 'Heeled Sandals', 'Mules'], price: [35, 159] },
  { code: 'BOT', name: 'Boots', nouns: ['Chelsea Boots', 'Ankle Boots', 'Knee Boots', 'Hiking Boots', 'Cowboy Boots'], price: [59, 249] },
  { code: 'BAG', name: 'Bags', nouns: ['Tote Bag', 'Crossbody Bag', 'Shoulder Bag', 'Backpack', 'Clutch'], price: [25, 299] },
  { code: 'ACC', name: 'Accessories', nouns: ['Scarf', 'Beanie', 'Belt', 'Sunglasses', 'Earrings'], price: [9, 89] },
];
const ADJECTIVES = ['Relaxed', 'Classic', 'Cropped', 'Oversized', 'Slim', 'Textured', 'Washed', 'Structured', 'Soft', 'Ribbed', 'Utility', 'Tailored', 'Vintage', 'Everyday', 'Organic'];
const MATERIALS = ['Linen', 'Cotton', 'Wool', 'Denim', 'Leather', 'Satin', 'Cashmere', 'Jersey', 'Corduroy', 'Suede', 'Twill', 'Knit'];
const BRANDS = ['Northwind', 'Maison Clair', 'Atelier Nova', 'Fjord & Co', 'Luma', 'Redwood', 'Sable', 'Marlowe', 'Ostra', 'Juniper Lane', 'Kestrel', 'Verde', 'Halden', 'Ivory Row', 'Tamsin'];
const FIRST_NAMES = ['Olivia', 'Amelia', 'Isla', 'Ava', 'Mia', 'Sophie', 'Grace', 'Lily', 'Emma', 'Chloe', 'Léa', 'Camille', 'Hannah', 'Lena', 'Lucía', 'Giulia', 'Noah', 'Oliver', 'Leo', 'Arthur', 'Lucas', 'Hugo', 'Finn', 'Mateo', 'Sara', 'Nora', 'Zoe', 'Maya', 'Ella', 'Freya'];
const LAST_NAMES = ['Smith', 'Jones', 'Taylor', 'Brown', 'Williams', 'Wilson', 'Evans', 'Martin', 'Bernard', 'Dubois', 'Müller', 'Schmidt', 'García', 'Rossi', 'de Vries', 'Clarke', 'Walker', 'Wright', 'Hughes', 'Green', 'Hall', 'Wood', 'Moreau', 'Fischer', 'Romano'];
const LOCALES: [string, string, number][] = [
  ['en-GB', 'Europe/London', 50],
  ['en-US', 'America/New_York', 15],
  ['fr-FR', 'Europe/Paris', 10],
  ['de-DE', 'Europe/Berlin', 10],
  ['es-ES', 'Europe/Madrid', 6],
  ['it-IT', 'Europe/Rome', 5],
  ['nl-NL', 'Europe/Amsterdam', 4],
];
const TIERS: [DemoTier, number][] = [['NONE', 40], ['BRONZE', 30], ['SILVER', 18], ['GOLD', 9], ['PLATINUM', 3]];
const SEGMENTS = ['new-customer', 'vip', 'lapsed', 'sale-hunter', 'outerwear-fan', 'footwear-fan', 'newsletter'];

const DAY_MS = 86_400_000;

/** A small, fast, seedable PRNG (mulberry32), so the demo is the same on every machine. */
export function createRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)];
function pickWeighted<T>(random: () => number, items: readonly (readonly [...unknown[]])[], valueIndex = 0, weightIndex = items[0].length - 1): T {
  const total = items.reduce((s, i) => s + (i[weightIndex] as number), 0);
  let r = random() * total;
  for (const item of items) {
    r -= item[weightIndex] as number;
    if (r < 0) return item[valueIndex] as T;
  }
  return items[items.length - 1][valueIndex] as T;
}

/**
 * The demo catalog: `productsPerCategory` products in each of 12 categories, about 10% out of stock.
 * Images are served by the stock service at `<assetUrl>/images/<sku>.svg`.
 */
export function demoCatalog(scale: DemoScale, assetUrl = 'http://127.0.0.1:4002'): DemoProduct[] {
  const random = createRandom(1);
  const products: DemoProduct[] = [];
  for (const category of CATEGORIES) {
    for (let n = 1; n <= scale.productsPerCategory; n++) {
      const sku = `${category.code}-${String(n).padStart(4, '0')}`;
      const [low, high] = category.price;
      const pounds = Math.floor(low + random() * (high - low));
      const pence = pick(random, [0, 0, 50, 90, 99]);
      products.push({
        sku,
        name: `${pick(random, ADJECTIVES)} ${pick(random, MATERIALS)} ${pick(random, category.nouns)}`,
        brand: pick(random, BRANDS),
        category: category.name,
        priceCents: pounds * 100 + pence,
        currency: 'GBP',
        imageUrl: `${assetUrl}/images/${sku}.svg`,
        url: `https://shop.tailor.example/p/${sku}`,
        available: random() < 0.1 ? 0 : 1 + Math.floor(random() * 120),
      });
    }
  }
  return products;
}

/** The demo customers: ids `u-00001`…, about 15% without personalization consent. */
export function demoUsers(scale: DemoScale): DemoUser[] {
  const random = createRandom(2);
  const users: DemoUser[] = [];
  for (let n = 1; n <= scale.users; n++) {
    const id = `u-${String(n).padStart(5, '0')}`;
    const firstName = pick(random, FIRST_NAMES);
    const lastName = pick(random, LAST_NAMES);
    const locale = pickWeighted<string>(random, LOCALES);
    const timezone = LOCALES.find(([l]) => l === locale)![1];
    const segments = SEGMENTS.filter(() => random() < 0.18);
    const emailLocal = `${firstName}.${lastName}`.normalize('NFD').replace(/[^A-Za-z.]/g, '').toLowerCase();
    users.push({
      id,
      email: `${emailLocal}.${n}@example.com`,
      firstName,
      lastName,
      locale,
      timezone,
      loyaltyTier: pickWeighted<DemoTier>(random, TIERS),
      segments,
      consentEmail: random() < 0.9,
      // The first users are showcase recipients named in the README: u-00001 and u-00003 consent,
      // u-00002 does not.
      consentPersonalization: n === 1 ? true : n === 2 ? false : random() < 0.85 || n === 3,
    });
  }
  return users;
}

/**
 * A month of browsing before `anchor`: sessions of 2–8 views in a favourite category, with skewed
 * product popularity so that co-views mean something; some views lead to a cart, some carts to a
 * purchase. Yields events in no particular order.
 */
export function* demoEvents(scale: DemoScale, anchor: number): Generator<DemoEvent> {
  const random = createRandom(3);
  const catalog = demoCatalog(scale);
  const byCategory = CATEGORIES.map((c) => catalog.filter((p) => p.category === c.name));
  // Popularity within a category follows a Zipf-like curve over a fixed shuffled order.
  const popularity = byCategory.map((products) => {
    const order = [...products].sort(() => random() - 0.5);
    const weights = order.map((_, rank) => 1 / Math.pow(rank + 1, 1.1));
    const total = weights.reduce((a, b) => a + b, 0);
    return { order, cumulative: weights.map(((sum) => (w: number) => (sum += w / total))(0)) };
  });
  const choose = (categoryIndex: number): DemoProduct => {
    const { order, cumulative } = popularity[categoryIndex];
    const r = random();
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid] < r) lo = mid + 1;
      else hi = mid;
    }
    return order[lo];
  };
  for (let n = 1; n <= scale.users; n++) {
    const userId = `u-${String(n).padStart(5, '0')}`;
    const favourites = [Math.floor(random() * CATEGORIES.length), Math.floor(random() * CATEGORIES.length)];
    // Activity is skewed too: a few heavy browsers, many light ones. Showcase users are active.
    const sessions = n <= 3 ? 6 : Math.floor(-Math.log(1 - random()) * scale.sessionsPerUser);
    for (let s = 0; s < sessions; s++) {
      const ageDays = n <= 3 ? s * 2 + random() : random() * 30;
      let t = anchor - Math.floor(ageDays * DAY_MS);
      const category = random() < 0.8 ? pick(random, favourites) : Math.floor(random() * CATEGORIES.length);
      const views = 2 + Math.floor(random() * 7);
      for (let v = 0; v < views; v++) {
        const product = choose(category);
        const base = `e-${userId}-${s}-${v}`;
        yield { eventId: `${base}-v`, userId, sku: product.sku, type: 'VIEW', occurredAt: t };
        if (random() < 0.12) {
          yield { eventId: `${base}-c`, userId, sku: product.sku, type: 'ADD_TO_CART', occurredAt: t + 30_000 };
          if (random() < 0.35) yield { eventId: `${base}-p`, userId, sku: product.sku, type: 'PURCHASE', occurredAt: t + 300_000 };
        }
        t += 60_000 + Math.floor(random() * 180_000);
        if (t > anchor) t = anchor;
      }
    }
  }
}
