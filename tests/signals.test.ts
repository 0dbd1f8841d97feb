import { buildCandidates, recentViews, type SignalSettings, summarizeEvents } from '../subgraphs/behavior/src/signals';
import { rankRecommendations, trendingWindow } from '../subgraphs/stock/src/rankRecommendations';

const DAY = 86_400_000;
const NOW = Date.parse('2026-11-28T12:00:00Z');
const settings: SignalSettings = { windowMs: 30 * DAY, halfLifeMs: 3 * DAY, viewWeight: 1, cartWeight: 3, maxActed: 50, maxSimilar: 50, seeds: 5 };
const view = (sku: string, ageDays: number) => ({ sku, type: 'VIEW' as const, occurredAt: NOW - ageDays * DAY });

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
