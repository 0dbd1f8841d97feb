import { DAY, HOUR, event, product, user } from './support/fixtures';
import { type InProcessStack, startInProcessStack } from './support/inProcessStack';

const PERSONALIZE = `
  query Personalize($id: ID!, $limit: Int) {
    user(id: $id) {
      id
      recentlyViewed(limit: 20) { viewedAt product { sku } }
      recommendations(limit: $limit) { reason score product { sku inStock stock { available } } }
    }
  }`;

const TRACK = 'mutation($events: [BrowsingEventInput!]!) { trackEvents(events: $events) { accepted duplicates stale } }';

interface Rec {
  reason: string;
  score: number;
  product: { sku: string; inStock: boolean; stock: { available: number } };
}

/**
 * The catalog has 60 products. Alice viewed P01 and P02, carted P03, bought P04, viewed P05 (sold out)
 * and, 40 days ago, P06. Other users viewed P01 together with P07 and P08 (co-views), and crowds
 * viewed P09–P12 (trending). Bob did the same as Alice but gave no personalization consent.
 */
async function seedScenario(stack: InProcessStack): Promise<void> {
  const now = stack.clock.now();
  const skus = Array.from({ length: 60 }, (_, i) => `P${String(i + 1).padStart(2, '0')}`);
  await stack.stock.store.seed(skus.map((sku) => product(sku, sku === 'P05' ? 0 : 10)));
  await stack.crm.store.seed([user('alice'), user('bob', { consentPersonalization: false }), user('carol'), user('dave')]);
  const history = (id: string) => [
    event(id, 'P01', 'VIEW', now, 1 * DAY),
    event(id, 'P02', 'VIEW', now, 2 * DAY),
    event(id, 'P03', 'VIEW', now, 3 * DAY),
    event(id, 'P03', 'ADD_TO_CART', now, 3 * DAY - 60_000),
    event(id, 'P04', 'VIEW', now, 5 * DAY),
    event(id, 'P04', 'PURCHASE', now, 5 * DAY - 60_000),
    event(id, 'P05', 'VIEW', now, 4 * DAY),
    event(id, 'P06', 'VIEW', now, 40 * DAY),
  ];
  const crowd = [];
  for (let i = 0; i < 6; i++) {
    // carol and dave view P01 with P07 (and dave P08) in one session: co-views.
    crowd.push(event('carol', 'P01', 'VIEW', now, (i + 1) * 6 * DAY));
    crowd.push(event('carol', 'P07', 'VIEW', now, (i + 1) * 6 * DAY - 5 * 60_000));
  }
  crowd.push(event('dave', 'P01', 'VIEW', now, 2 * DAY), event('dave', 'P08', 'VIEW', now, 2 * DAY - 60_000));
  for (const [sku, views] of [['P09', 40], ['P10', 30], ['P11', 20], ['P12', 10]] as const) {
    for (let v = 0; v < views; v++) crowd.push(event(`crowd-${v}`, sku, 'VIEW', now, (v % 6) * DAY + HOUR + v * 3 * HOUR));
  }
  await stack.behavior.store.trackEvents([...history('alice'), ...history('bob'), ...crowd]);
  // Stock fetches the trending ranking now, as a running stock long has one: on a fresh database a
  // query would wait for it only briefly (TAILOR_TRENDING_WAIT_MS), and a cold behavior may be slower.
  await stack.stock.trending.ranking();
  await stack.stock.trending.idle();
}

describe('User.recommendations', () => {
  let stack: InProcessStack;
  const recommend = async (id: string, limit = 8) => {
    const res = await stack.query<{ user: { recentlyViewed: { product: { sku: string }; viewedAt: string }[]; recommendations: Rec[] } }>(PERSONALIZE, { id, limit });
    expect(res.body.errors).toBeUndefined();
    return res.body.data!.user;
  };

  beforeEach(async () => {
    stack = await startInProcessStack();
    await seedScenario(stack);
  });
  afterEach(() => stack.close());

  it('ranks cart items first, then viewed, then co-viewed (SIMILAR), then TRENDING', async () => {
    const { recommendations } = await recommend('alice', 8);
    expect(recommendations.map((r) => [r.product.sku, r.reason])).toEqual([
      ['P03', 'ADDED_TO_CART'],
      ['P01', 'RECENTLY_VIEWED'],
      ['P02', 'RECENTLY_VIEWED'],
      ['P07', 'SIMILAR'],
      ['P08', 'SIMILAR'],
      ['P09', 'TRENDING'],
      ['P10', 'TRENDING'],
      ['P11', 'TRENDING'],
    ]);
  });

  it('returns only products in stock at query time, sorted by score, without duplicates', async () => {
    const { recommendations } = await recommend('alice', 50);
    const skus = recommendations.map((r) => r.product.sku);
    expect(new Set(skus).size).toBe(skus.length);
    // Every product of the scenario but P05 has 10 in stock: each recommendation shows its live level.
    expect(recommendations.map((r) => [r.product.sku, r.product.inStock, r.product.stock.available])).toEqual(skus.map((sku) => [sku, true, 10]));
    expect(skus).not.toContain('P05');
    const scores = recommendations.map((r) => r.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
  });

  it('drops a product from the very next answer once its stock reaches zero', async () => {
    expect((await recommend('alice', 4)).recommendations[0].product.sku).toBe('P03');
    await stack.stock.store.recordStockLevels([{ sku: 'P03', available: 0, observedAt: stack.clock.now() }]);
    const after = await recommend('alice', 4);
    expect(after.recommendations.map((r) => r.product.sku)).not.toContain('P03');
    expect(after.recommendations[0]).toMatchObject({ reason: 'RECENTLY_VIEWED', product: { sku: 'P01' } });
  });

  it('never recommends a product the user bought in the window', async () => {
    const { recommendations } = await recommend('alice', 50);
    expect(recommendations.map((r) => r.product.sku)).not.toContain('P04');
  });

  it('ignores events older than the 30-day window', async () => {
    const { recommendations } = await recommend('alice', 5);
    expect(recommendations.map((r) => r.product.sku)).not.toContain('P06');
  });

  it('uses no behavioural signal without personalization consent: every item is TRENDING and recentlyViewed is empty', async () => {
    const bob = await recommend('bob', 6);
    expect(bob.recentlyViewed).toEqual([]);
    expect(bob.recommendations.map((r) => r.reason)).toEqual(Array(6).fill('TRENDING'));
    expect(bob.recommendations.map((r) => r.product.sku).slice(0, 4)).toEqual(['P09', 'P10', 'P11', 'P12']);
  });

  it('sees a consent change on the very next query', async () => {
    const change = await stack.query('mutation { updateConsent(userId: "alice", personalization: false) { personalization } }');
    expect(change.body).toEqual({ data: { updateConsent: { personalization: false } } });
    const after = await recommend('alice', 4);
    expect(after.recentlyViewed).toEqual([]);
    expect(after.recommendations.every((r) => r.reason === 'TRENDING')).toBe(true);
  });

  it('fills the list up to limit from in-stock products and caps limit at 50', async () => {
    expect((await recommend('alice', 12)).recommendations).toHaveLength(12);
    // 59 products are in stock and one was bought: the cap, not the catalog, limits the list.
    expect((await recommend('alice', 500)).recommendations).toHaveLength(50);
  });

  it('gives the same list for the same data and the same clock', async () => {
    const first = await recommend('alice', 20);
    const second = await recommend('alice', 20);
    expect(second).toEqual(first);
  });

  it('lists recently viewed products newest first, one entry per product, sold-out and bought ones included', async () => {
    const { recentlyViewed } = await recommend('alice');
    expect(recentlyViewed.map((v) => v.product.sku)).toEqual(['P01', 'P02', 'P03', 'P05', 'P04']);
    expect(recentlyViewed[0].viewedAt).toBe(new Date(stack.clock.now() - DAY).toISOString());
  });

  it('ranks a product clicked in an email, recorded through trackEvents, as RECENTLY_VIEWED in the very next answer', async () => {
    const before = await recommend('alice', 8);
    expect(before.recommendations.map((r) => r.product.sku)).not.toContain('P20');
    expect(before.recentlyViewed.map((v) => v.product.sku)).not.toContain('P20');
    const clickedAt = new Date(stack.clock.now() - 60_000).toISOString();
    const click = { eventId: 'click-1', userId: 'alice', sku: 'P20', type: 'CLICK', occurredAt: clickedAt };
    expect((await stack.query(TRACK, { events: [click] })).body).toEqual({ data: { trackEvents: { accepted: 1, duplicates: 0, stale: 0 } } });
    const after = await recommend('alice', 8);
    // A fresh click outweighs a view a day old; the cart item stays first.
    expect(after.recommendations.slice(0, 4).map((r) => [r.product.sku, r.reason])).toEqual([
      ['P03', 'ADDED_TO_CART'],
      ['P20', 'RECENTLY_VIEWED'],
      ['P01', 'RECENTLY_VIEWED'],
      ['P02', 'RECENTLY_VIEWED'],
    ]);
    expect(after.recentlyViewed[0]).toEqual({ product: { sku: 'P20' }, viewedAt: clickedAt });
    expect(after.recentlyViewed.map((v) => v.product.sku)).toEqual(['P20', 'P01', 'P02', 'P03', 'P05', 'P04']);
  });

  it('keeps clicks out of the trending ranking, which counts views only', async () => {
    const now = stack.clock.now();
    const ranking = () => stack.behavior.store.getTrendingRanking(now - 7 * DAY, now, 10);
    const before = await ranking();
    expect(before.find((e) => e.sku === 'P12')).toBeDefined();
    const clicks = Array.from({ length: 50 }, (_, i) => ({
      eventId: `click-${i}`,
      userId: `clicker-${i}`,
      sku: i % 2 ? 'P12' : 'P30',
      type: 'CLICK',
      occurredAt: new Date(now - (i + 1) * HOUR).toISOString(),
    }));
    expect((await stack.query(TRACK, { events: clicks })).body).toEqual({ data: { trackEvents: { accepted: 50, duplicates: 0, stale: 0 } } });
    expect(await ranking()).toEqual(before);
    expect((await ranking()).map((e) => e.sku)).not.toContain('P30');
  });

  it('refuses a negative limit with BAD_USER_INPUT', async () => {
    const res = await stack.query(PERSONALIZE, { id: 'alice', limit: -1 });
    expect(res.body.data).toEqual({ user: null });
    expect(res.body.errors).toEqual([
      expect.objectContaining({ message: 'Argument "limit": must be 0 or more, got -1.', extensions: expect.objectContaining({ code: 'BAD_USER_INPUT' }) }),
    ]);
  });
});

describe('a click with TAILOR_CLICK_WEIGHT set', () => {
  let stack: InProcessStack;
  beforeAll(async () => {
    stack = await startInProcessStack({ env: { TAILOR_CLICK_WEIGHT: '0.1' } });
    await seedScenario(stack);
  });
  afterAll(() => stack.close());

  it('weighs what the setting says', async () => {
    const click = { eventId: 'click-1', userId: 'alice', sku: 'P20', type: 'CLICK', occurredAt: new Date(stack.clock.now() - 60_000).toISOString() };
    expect((await stack.query(TRACK, { events: [click] })).body.errors).toBeUndefined();
    const res = await stack.query<{ user: { recommendations: Rec[] } }>(PERSONALIZE, { id: 'alice', limit: 4 });
    // A fresh click weighing 0.1 is below a view two days old (about 0.63).
    expect(res.body.data!.user.recommendations.map((r) => [r.product.sku, r.reason])).toEqual([
      ['P03', 'ADDED_TO_CART'],
      ['P01', 'RECENTLY_VIEWED'],
      ['P02', 'RECENTLY_VIEWED'],
      ['P20', 'RECENTLY_VIEWED'],
    ]);
  });
});

describe('Query.trendingProducts', () => {
  let stack: InProcessStack;
  beforeAll(async () => {
    stack = await startInProcessStack();
    await seedScenario(stack);
  });
  afterAll(() => stack.close());

  it('lists in-stock products by views over the last 7 days, most viewed first', async () => {
    await stack.stock.store.recordStockLevels([{ sku: 'P10', available: 0, observedAt: stack.clock.now() }]);
    const res = await stack.query('{ trendingProducts(limit: 3) { sku inStock } }');
    expect(res.body).toEqual({ data: { trendingProducts: [{ sku: 'P09', inStock: true }, { sku: 'P11', inStock: true }, { sku: 'P12', inStock: true }] } });
  });
});
