import { type InProcessStack, startInProcessStack } from './support/inProcessStack';
import { createFakeClock } from './support/fakeClock';

const CAMPAIGN = `
  query Campaign($ids: [ID!]!) {
    users(ids: $ids) {
      id firstName loyaltyTier
      consent { personalization }
      recentlyViewed(limit: 3) { viewedAt product { sku name inStock } }
      recommendations(limit: 4) { reason score product { sku name price { formatted } imageUrl inStock } }
    }
  }`;

const SERVICES = ['crm', 'stock', 'behavior'] as const;
type Counts = Record<(typeof SERVICES)[number], number>;

const ids = (from: number, count: number) => Array.from({ length: count }, (_, i) => `u-${String(from + i).padStart(5, '0')}`);

/** Runs a query and returns what it cost each subgraph: statements executed and fetches received. */
async function measure(stack: InProcessStack, variables: Record<string, unknown>) {
  const before = { statements: {} as Counts, fetches: {} as Counts };
  for (const s of SERVICES) {
    before.statements[s] = await stack.statements(s);
    before.fetches[s] = await stack.fetches(s);
  }
  const res = await stack.query(CAMPAIGN, variables);
  expect(res.body.errors).toBeUndefined();
  const cost = { statements: {} as Counts, fetches: {} as Counts };
  for (const s of SERVICES) {
    cost.statements[s] = (await stack.statements(s)) - before.statements[s];
    cost.fetches[s] = (await stack.fetches(s)) - before.fetches[s];
  }
  return { cost, users: res.body.data.users as unknown[] };
}

describe('batching', () => {
  describe('with DataLoader batching on', () => {
    let stack: InProcessStack;
    beforeAll(async () => {
      stack = await startInProcessStack({ seed: 'demo' });
    });
    afterAll(() => stack.close());

    it('costs each subgraph the same statements and fetches for 10, 100 and 190 users (cold caches)', async () => {
      // The trending ranking is one aggregate for all users, cached for a minute: fetch it first.
      await stack.query('{ trendingProducts(limit: 1) { sku } }');
      // Disjoint id ranges and cleared caches keep every cache look-up of each query a miss.
      stack.stock.catalog.clear();
      const small = await measure(stack, { ids: ids(1, 10) });
      stack.stock.catalog.clear();
      stack.behavior.coViews.clear();
      const medium = await measure(stack, { ids: ids(11, 100) });
      stack.stock.catalog.clear();
      stack.behavior.coViews.clear();
      const large = await measure(stack, { ids: ids(111, 190) });
      expect(large.users).toHaveLength(190);
      expect(medium.cost).toEqual(small.cost);
      expect(large.cost).toEqual(small.cost);
      // One plan step each: users from crm, signals and recent views from behavior, recommendations and
      // recent views' products from stock.
      expect(small.cost.fetches).toEqual({ crm: 1, behavior: 1, stock: 1 });
      // crm: profiles + consents; behavior: events + co-views; stock: the recent views' catalog entries,
      // then the candidates' stock levels, then the recommended products' catalog entries.
      expect(small.cost.statements).toEqual({ crm: 2, behavior: 2, stock: 3 });
    });

    it('reads each entity type once per batch even when a query asks for the same users twice', async () => {
      stack.crm.profiles.clear();
      stack.stock.catalog.clear();
      stack.behavior.coViews.clear();
      const { cost } = await measure(stack, { ids: [...ids(1, 50), ...ids(1, 50)] });
      // The same statements as for 50 distinct users, with cold caches: one per entity type per batch.
      expect(cost.statements).toEqual({ crm: 2, behavior: 2, stock: 3 });
      expect(cost.fetches).toEqual({ crm: 1, behavior: 1, stock: 1 });
    });
  });

  describe('with batching and caches off (the benchmark baseline)', () => {
    let batched: InProcessStack;
    let unbatched: InProcessStack;
    beforeAll(async () => {
      batched = await startInProcessStack({ seed: 'demo', clock: createFakeClock() });
      unbatched = await startInProcessStack({ seed: 'demo', clock: createFakeClock(), env: { TAILOR_BATCHING: 'false', TAILOR_CACHE: 'false' } });
    });
    afterAll(async () => {
      await batched.close();
      await unbatched.close();
    });

    it('gives identical answers', async () => {
      const variables = { ids: ids(1, 60) };
      const a = await batched.query(CAMPAIGN, variables);
      const b = await unbatched.query(CAMPAIGN, variables);
      expect(a.body.errors).toBeUndefined();
      expect(b.body).toEqual(a.body);
    });

    it('executes a statement per entity instead, so the counters see batching', async () => {
      const { cost: ten } = await measure(unbatched, { ids: ids(101, 10) });
      const { cost: forty } = await measure(unbatched, { ids: ids(121, 40) });
      expect(forty.statements.crm).toBe(ten.statements.crm * 4);
      expect(forty.statements.behavior).toBeGreaterThan(ten.statements.behavior * 3);
      expect(forty.fetches).toEqual(ten.fetches);
    });
  });
});
