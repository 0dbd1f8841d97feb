import { buildCandidates, recentViews, type SignalSettings, summarizeEvents } from '../subgraphs/behavior/src/signals';
import { rankRecommendations, trendingWindow } from '../subgraphs/stock/src/rankRecommendations';

const DAY = 86_400_000;
const NOW = Date.parse('2026-11-28T12:00:00Z');
const settings: SignalSettings = { windowMs: 30 * DAY, halfLifeMs: 3 * DAY, viewWeight: 1, clickWeight: 2, cartWeight: 3, maxActed: 50, maxSimilar: 50, seeds: 5 };
const view = (sku: string, ageDays: number) => ({ sku, type: 'VIEW' as const, occurredAt: NOW - ageDays * DAY });
const click = (sku: string, ageDays: number) => ({ sku, type: 'CLICK' as const, occurredAt: NOW - ageDays * DAY });
const cart = (sku: string, ageDays: number) => ({ sku, type: 'ADD_TO_CART' as const, occurredAt: NOW - ageDays * DAY });

describe('summarizeEvents', () => {
  it('halves an event\'s weight every half-life', () => {
    const { acted } = summarizeEvents([view('A', 0), view('B', 3), view('C', 6)], NOW, settings);
    expect(acted.get('A')!.weight).toBeCloseTo(1);
    expect(acted.get('B')!.weight).toBeCloseTo(0.5);
    expect(acted.get('C')!.weight).toBeCloseTo(0.25);
  });

  it('weighs a cart event more than a view and sets purchased products apart', () => {
    const { acted, purchased, seeds } = summarizeEvents(
      [view('A', 1), { sku: 'B', type: 'ADD_TO_CART', occurredAt: NOW - DAY }, view('C', 1), { sku: 'C', type: 'PURCHASE', occurredAt: NOW - DAY }],
      NOW,
      settings,
    );
    expect(acted.get('B')).toEqual({ weight: expect.closeTo(3 * Math.pow(0.5, 1 / 3)), carted: true });
    expect(acted.has('C')).toBe(false);
    expect([...purchased]).toEqual(['C']);
    expect(seeds).toEqual(['B', 'A', 'C']);
  });

  it('weighs a click in an email more than a view of the same age and less than a cart, decaying like them', () => {
    const { acted } = summarizeEvents([view('V', 1), click('K', 1), cart('C', 1), click('old', 4)], NOW, settings);
    expect(acted.get('K')!.weight).toBeGreaterThan(acted.get('V')!.weight);
    expect(acted.get('K')!.weight).toBeLessThan(acted.get('C')!.weight);
    expect(acted.get('K')).toEqual({ weight: expect.closeTo(2 * Math.pow(0.5, 1 / 3)), carted: false });
    expect(acted.get('old')!.weight).toBeCloseTo(acted.get('K')!.weight / 2);
  });

  it('takes the weight of a click from its setting (TAILOR_CLICK_WEIGHT)', () => {
    const { acted } = summarizeEvents([click('K', 0)], NOW, { ...settings, clickWeight: 5 });
    expect(acted.get('K')!.weight).toBeCloseTo(5);
  });

  it('sets a clicked product apart once bought, and seeds co-views with clicked products like viewed ones', () => {
    const { acted, purchased, seeds } = summarizeEvents([click('K', 2), { sku: 'K', type: 'PURCHASE', occurredAt: NOW - DAY }, click('L', 1), view('V', 1)], NOW, settings);
    expect(acted.has('K')).toBe(false);
    expect([...purchased]).toEqual(['K']);
    expect(seeds).toEqual(['L', 'K', 'V']);
  });

  it('ignores events outside the window and from the future', () => {
    const { acted } = summarizeEvents([view('old', 31), view('future', -1), view('ok', 29)], NOW, settings);
    expect([...acted.keys()]).toEqual(['ok']);
  });
});

describe('buildCandidates', () => {
  it('puts cart items above views above co-viewed products, whatever their weights', () => {
    const summary = summarizeEvents(
      [view('V', 0), view('V', 0), view('V', 0), view('V', 0), { sku: 'K', type: 'ADD_TO_CART', occurredAt: NOW - 20 * DAY }],
      NOW,
      settings,
    );
    const candidates = buildCandidates(summary, new Map([['V', [{ sku: 'S', count: 9 }, { sku: 'K', count: 5 }]]]), settings);
    expect(candidates.map((c) => [c.sku, c.reason])).toEqual([
      ['K', 'ADDED_TO_CART'],
      ['V', 'RECENTLY_VIEWED'],
      ['S', 'SIMILAR'],
    ]);
    expect(candidates[0].score).toBeGreaterThan(3);
    expect(candidates[1].score).toBeGreaterThanOrEqual(2);
    expect(candidates[1].score).toBeLessThan(3);
    expect(candidates[2].score).toBeLessThan(2);
  });

  it('ranks a product only clicked as RECENTLY_VIEWED, above a view of the same age, and carted as ADDED_TO_CART', () => {
    const summary = summarizeEvents([view('A', 1), click('K', 1), click('C', 1), cart('C', 2)], NOW, settings);
    const candidates = buildCandidates(summary, new Map([['K', [{ sku: 'S', count: 3 }]]]), settings);
    expect(candidates.map((c) => [c.sku, c.reason])).toEqual([
      ['C', 'ADDED_TO_CART'],
      ['K', 'RECENTLY_VIEWED'],
      ['A', 'RECENTLY_VIEWED'],
      ['S', 'SIMILAR'],
    ]);
  });

  it('keeps at most maxActed and maxSimilar candidates, strongest first', () => {
    const events = Array.from({ length: 10 }, (_, i) => view(`P${i}`, i));
    const candidates = buildCandidates(summarizeEvents(events, NOW, settings), new Map(), { ...settings, maxActed: 3 });
    expect(candidates.map((c) => c.sku)).toEqual(['P0', 'P1', 'P2']);
  });
});

describe('recentViews', () => {
  it('lists one entry per product, newest first, views only', () => {
    const events = [view('A', 3), view('B', 2), view('A', 1), { sku: 'C', type: 'ADD_TO_CART' as const, occurredAt: NOW }];
    expect(recentViews(events, 10)).toEqual([
      { sku: 'A', viewedAt: NOW - DAY },
      { sku: 'B', viewedAt: NOW - 2 * DAY },
    ]);
  });

  it('counts a click in an email as a view, one entry per product at its latest view or click', () => {
    const events = [view('A', 3), click('A', 1), click('B', 2), view('B', 4), click('C', 5), cart('D', 0)];
    expect(recentViews(events, 10)).toEqual([
      { sku: 'A', viewedAt: NOW - DAY },
      { sku: 'B', viewedAt: NOW - 2 * DAY },
      { sku: 'C', viewedAt: NOW - 5 * DAY },
    ]);
  });
});

describe('rankRecommendations', () => {
  const trending = [
    { sku: 'T1', views: 90 },
    { sku: 'T2', views: 80 },
    { sku: 'T3', views: 70 },
  ];

  it('asks for the stock of every candidate and a window of the trending ranking before deciding', () => {
    const result = rankRecommendations({ candidates: [{ sku: 'A', reason: 'RECENTLY_VIEWED', score: 2.5 }], purchasedSkus: [], limit: 2 }, trending, () => undefined);
    expect(result).toEqual({ picked: [], missing: ['A'] });
    const next = rankRecommendations({ candidates: [{ sku: 'A', reason: 'RECENTLY_VIEWED', score: 2.5 }], purchasedSkus: [], limit: 2 }, trending, (sku) =>
      sku === 'A' ? true : undefined,
    );
    expect(next.missing).toEqual(['T1', 'T2', 'T3']);
    expect(trendingWindow(1)).toBe(10);
  });

  it('skips out-of-stock and purchased products, fills from trending, and sorts by score', () => {
    const stock: Record<string, boolean> = { A: false, B: true, T1: true, T2: false, T3: true };
    const { picked, missing } = rankRecommendations(
      {
        candidates: [
          { sku: 'A', reason: 'ADDED_TO_CART', score: 3.5 },
          { sku: 'B', reason: 'SIMILAR', score: 1.2 },
          { sku: 'B', reason: 'SIMILAR', score: 1.2 },
        ],
        purchasedSkus: ['T1'],
        limit: 3,
      },
      trending,
      (sku) => stock[sku],
    );
    expect(missing).toEqual([]);
    expect(picked.map((p) => [p.sku, p.reason])).toEqual([
      ['B', 'SIMILAR'],
      ['T3', 'TRENDING'],
    ]);
  });
});
