import { Counter, Registry } from 'prom-client';
import { createEntityCache } from '../subgraphs/kit/entityCache';
import { counterTotal } from '../kit/metrics';
import { product, user } from './support/fixtures';
import { type InProcessStack, startInProcessStack } from './support/inProcessStack';
import { createFakeClock } from './support/fakeClock';

const CATALOG_ONLY = '{ product(sku: "A1") { sku name brand category price { amount currency formatted } imageUrl url } }';

async function delta(stack: InProcessStack, service: 'crm' | 'stock' | 'behavior', run: () => Promise<unknown>): Promise<number> {
  const before = await stack.statements(service);
  await run();
  return (await stack.statements(service)) - before;
}

describe('caching', () => {
  let stack: InProcessStack;
  beforeEach(async () => {
    stack = await startInProcessStack();
    await stack.stock.store.seed([product('A1', 5), product('A2', 0), product('A3', 7)]);
    await stack.crm.store.seed([user('u1'), user('u2')]);
  });
  afterEach(() => stack.close());

  describe('catalog fields', () => {
    it('serve a repeated catalog-only query without reading the database', async () => {
      const first = await delta(stack, 'stock', () => stack.query(CATALOG_ONLY));
      const hitsBefore = await stack.cacheRequests('stock', 'stock_catalog', 'hit');
      let answer;
      const second = await delta(stack, 'stock', async () => (answer = await stack.query(CATALOG_ONLY)));
      expect(first).toBe(1);
      expect(second).toBe(0);
      expect(await stack.cacheRequests('stock', 'stock_catalog', 'hit')).toBe(hitsBefore + 1);
      expect(answer!.body).toEqual({
        data: {
          product: {
            sku: 'A1',
            name: 'Product A1',
            brand: 'Fixture',
            category: 'Dresses',
            price: { amount: '49.90', currency: 'GBP', formatted: '£49.90' },
            imageUrl: 'https://images.tailor.example/products/A1.jpg',
            url: 'https://shop.tailor.example/p/A1',
          },
        },
      });
    });

    it('expire after the TTL declared on Product (300 s)', async () => {
      await stack.query(CATALOG_ONLY);
      stack.clock.advance(299_000);
      expect(await delta(stack, 'stock', () => stack.query(CATALOG_ONLY))).toBe(0);
      stack.clock.advance(2_000);
      expect(await delta(stack, 'stock', () => stack.query(CATALOG_ONLY))).toBe(1);
    });
  });

  describe('stock', () => {
    it('is read from the store on every query and a change shows at once', async () => {
      const query = '{ product(sku: "A1") { name stock { available } inStock } }';
      await stack.query(query);
      expect(await delta(stack, 'stock', () => stack.query(query))).toBe(1);
      await stack.stock.store.recordStockLevels([{ sku: 'A1', available: 0, observedAt: stack.clock.now() + 1 }]);
      const res = await stack.query(query);
      expect(res.body).toEqual({ data: { product: { name: 'Product A1', stock: { available: 0 }, inStock: false } } });
    });
  });

  describe('user profiles', () => {
    const profile = '{ user(id: "u1") { firstName loyaltyTier segments } }';

    it('are cached, and consent is read live on every query', async () => {
      await stack.query(profile);
      expect(await delta(stack, 'crm', () => stack.query(profile))).toBe(0);
      const withConsent = '{ user(id: "u1") { firstName consent { personalization } } }';
      expect(await delta(stack, 'crm', () => stack.query(withConsent))).toBe(1);
      expect(await delta(stack, 'crm', () => stack.query(withConsent))).toBe(1);
    });

    it('are dropped at once when the user is upserted through the gateway', async () => {
      await stack.query(profile);
      const upsert = await stack.query(
        'mutation($users: [UserInput!]!) { upsertUsers(users: $users) { accepted duplicates stale } }',
        { users: [{ id: 'u1', email: 'u1@example.com', firstName: 'Renamed', loyaltyTier: 'GOLD', segments: ['vip'] }] },
      );
      expect(upsert.body).toEqual({ data: { upsertUsers: { accepted: 1, duplicates: 0, stale: 0 } } });
      expect((await stack.query(profile)).body).toEqual({ data: { user: { firstName: 'Renamed', loyaltyTier: 'GOLD', segments: ['vip'] } } });
    });

    it('are dropped at once when the user is upserted over POST /ingest/users', async () => {
      await stack.query(profile);
      const response = await fetch(`${stack.urls.crm}/ingest/users`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify([{ id: 'u1', email: 'u1@example.com', firstName: 'Webhook' }]),
      });
      expect(response.status).toBe(200);
      expect((await stack.query(profile)).body.data.user.firstName).toBe('Webhook');
    });
  });

  describe('the trending ranking', () => {
    it('is computed once a minute, as declared on trendingRanking', async () => {
      // A stale ranking is answered at once and refreshed behind the answer: count once that is done.
      const trending = async () => {
        await stack.query('{ trendingProducts(limit: 2) { sku } }');
        await stack.stock.trending.idle();
      };
      expect(await delta(stack, 'behavior', trending)).toBe(1);
      expect(await delta(stack, 'behavior', trending)).toBe(0);
      stack.clock.advance(61_000);
      expect(await delta(stack, 'behavior', trending)).toBe(1);
      expect(await delta(stack, 'behavior', trending)).toBe(0);
    });
  });

  describe('the gateway Cache-Control header', () => {
    it.each([
      ['catalog fields only', CATALOG_ONLY, 'max-age=300, public'],
      ['live stock', '{ product(sku: "A1") { name inStock } }', 'no-store'],
      ['profile fields', '{ user(id: "u1") { firstName locale } }', 'max-age=300, private'],
      ['consent', '{ user(id: "u1") { consent { email } } }', 'no-store'],
      ['recommendations', '{ user(id: "u1") { recommendations { product { sku } } } }', 'no-store'],
      ['trending products (filtered live)', '{ trendingProducts { sku } }', 'no-store'],
      ['a mutation', 'mutation { updateConsent(userId: "u1", email: true) { email } }', 'no-store'],
      ['an error', '{ nope }', 'no-store'],
    ])('follows the schema declarations for %s', async (_, query, expected) => {
      const res = await stack.query(query);
      expect(res.headers.get('cache-control')).toBe(expected);
    });
  });
});

describe('createEntityCache', () => {
  const requests = () => new Counter({ name: 'test_cache_requests_total', help: 'h', labelNames: ['cache', 'result'], registers: [new Registry()] });

  it('refuses to be built unbounded', () => {
    expect(() => createEntityCache({ name: 'x', maxEntries: 0, ttlMs: 1000, enabled: true, requests: requests(), clock: createFakeClock() })).toThrow(
      'Cache "x" needs maxEntries > 0: an unbounded cache is not allowed.',
    );
  });

  it('evicts the least recently used entry beyond maxEntries and counts hits and misses', async () => {
    const counter = requests();
    const cache = createEntityCache<string, { v: number }>({ name: 'lru', maxEntries: 2, ttlMs: 60_000, enabled: true, requests: counter, clock: createFakeClock() });
    cache.set('a', { v: 1 });
    cache.set('b', { v: 2 });
    cache.getMany(['a']);
    cache.set('c', { v: 3 });
    const { found, missing } = cache.getMany(['a', 'b', 'c']);
    expect([...found.keys()]).toEqual(['a', 'c']);
    expect(missing).toEqual(['b']);
    expect(await counterTotal(counter, { cache: 'lru', result: 'hit' })).toBe(3);
    expect(await counterTotal(counter, { cache: 'lru', result: 'miss' })).toBe(1);
  });

  it('treats every look-up as a miss when switched off', () => {
    const cache = createEntityCache<string, { v: number }>({ name: 'off', maxEntries: 2, ttlMs: 60_000, enabled: false, requests: requests(), clock: createFakeClock() });
    cache.set('a', { v: 1 });
    expect(cache.getMany(['a']).missing).toEqual(['a']);
  });
});
