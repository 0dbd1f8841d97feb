import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdtempSync, rmSync } from 'node:fs';
import { type IncomingHttpHeaders, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Context, type ContextManager, ROOT_CONTEXT, TraceFlags, context, propagation, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import pino from 'pino';
import { Counter, type Gauge, Registry } from 'prom-client';
import { ConfigError } from '../kit/config';
import { counterTotal } from '../kit/metrics';
import { type Database, openDatabase } from '../subgraphs/kit/database';
import { migrateSqlite, readMigrations } from '../subgraphs/kit/migrations';
import { STOCK_MIGRATIONS } from '../subgraphs/stock/src/createStockSubgraph';
import { loadStockConfig } from '../subgraphs/stock/src/config';
import type { TrendingEntry } from '../subgraphs/stock/src/rankRecommendations';
import { type StockStore, createStockStore } from '../subgraphs/stock/src/stockStore';
import { TRENDING_RETRY_MS, type TrendingSource, type TrendingSourceOptions, createTrendingSource } from '../subgraphs/stock/src/trendingSource';
import { type FakeClock, createFakeClock } from './support/fakeClock';
import { DAY, event, product } from './support/fixtures';
import { startInProcessStack } from './support/inProcessStack';

const R1: TrendingEntry[] = [
  { sku: 'A', views: 30 },
  { sku: 'B', views: 20 },
];
const R2: TrendingEntry[] = [
  { sku: 'C', views: 50 },
  { sku: 'A', views: 31 },
];

/** A stand-in for behavior's `/graphql`, answering as told, recording every request. */
function fakeBehavior() {
  const calls: { headers: Record<string, string>; signal: AbortSignal; variables: unknown }[] = [];
  let behave: (signal: AbortSignal) => Promise<Response> = () => Promise.reject(new Error('not told how to answer'));
  const answerWith = (entries: TrendingEntry[], maxAgeSeconds: number) =>
    new Response(JSON.stringify({ data: { trendingRanking: entries } }), {
      headers: { 'content-type': 'application/json', 'cache-control': `max-age=${maxAgeSeconds}, public` },
    });
  return {
    calls,
    fetch: (async (_url: string | URL | Request, init?: RequestInit) => {
      calls.push({ headers: { ...(init!.headers as Record<string, string>) }, signal: init!.signal!, variables: JSON.parse(String(init!.body)).variables });
      return behave(init!.signal!);
    }) as typeof fetch,
    answers(entries: TrendingEntry[], maxAgeSeconds = 60) {
      behave = async () => answerWith(entries, maxAgeSeconds);
    },
    /** Connection refused, as from a stopped process. */
    isDown() {
      behave = () => Promise.reject(new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) }));
    },
    /** Never answers; gives up only when the request is aborted. */
    hangs() {
      behave = (signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
    },
    /** Answers `entries` once the test releases it. */
    answersWhenReleased(entries: TrendingEntry[]) {
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      behave = async () => {
        await released;
        return answerWith(entries, 60);
      };
      return release;
    },
  };
}

/** The bound on a first query's wait, moved by the test instead of by time. */
function controlledDelay() {
  const waits: { ms: number; end: () => void }[] = [];
  return {
    waits,
    delay: (ms: number) => new Promise<void>((resolve) => waits.push({ ms, end: resolve })),
  };
}

interface Opened {
  db: Database;
  store: StockStore;
  source: TrendingSource;
  registry: Registry;
  warnings: () => string[];
  logs: { level: number; msg: string }[];
  close(): void;
}

/** Opens stock's database at `file` and a trending source on it, as stock does at start. */
function openStock(file: string, clock: FakeClock, overrides: Partial<TrendingSourceOptions>): Opened {
  const registry = new Registry();
  const statements = new Counter({ name: 'tailor_db_statements_total', help: 'h', labelNames: ['statement'], registers: [registry] });
  const requests = new Counter({ name: 'tailor_cache_requests_total', help: 'h', labelNames: ['cache', 'result'], registers: [registry] });
  const logs: { level: number; msg: string }[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
  const db = openDatabase(file, statements, 'NORMAL');
  migrateSqlite(db, 'stock', readMigrations(STOCK_MIGRATIONS, 'sqlite'));
  const store = createStockStore({ kind: 'sqlite', db }, clock);
  const source = createTrendingSource({
    behaviorUrl: 'http://behavior.invalid/graphql',
    depth: 500,
    store,
    requests,
    registry,
    clock,
    logger,
    timeoutMs: 1000,
    waitMs: 250,
    delay: () => new Promise(() => {}), // a query on a fresh database waits for the fetch itself, unless a test says otherwise
    ...overrides,
  });
  return {
    db,
    store,
    source,
    registry,
    logs,
    warnings: () => logs.filter((l) => l.level === 40).map((l) => l.msg),
    close() {
      source.close();
      db.close();
    },
  };
}

const refreshes = (registry: Registry, result: 'ok' | 'error') =>
  counterTotal(registry.getSingleMetric('tailor_trending_refresh_total') as Counter<string>, { result });
const ageSeconds = async (registry: Registry) => (await (registry.getSingleMetric('tailor_trending_ranking_age_seconds') as Gauge).get()).values[0].value;

/** Lets pending promise callbacks run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('the trending ranking of stock', () => {
  let dir: string;
  let clock: FakeClock;
  let behavior: ReturnType<typeof fakeBehavior>;
  const opened: Opened[] = [];
  const open = (overrides: Partial<TrendingSourceOptions> = {}) => {
    const stock = openStock(join(dir, 'stock.db'), clock, { fetch: behavior.fetch, ...overrides });
    opened.push(stock);
    return stock;
  };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tailor-trending-'));
    clock = createFakeClock();
    behavior = fakeBehavior();
  });
  afterEach(() => {
    for (const stock of opened.splice(0)) if (stock.db.raw.open) stock.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps serving the last good ranking while behavior fails, retries no more than every 5 s, and warns once per outage', async () => {
    const stock = open();
    behavior.answers(R1);
    expect(await stock.source.ranking()).toEqual(R1);
    expect(behavior.calls).toHaveLength(1);
    expect(behavior.calls[0].variables).toEqual({ days: 7, limit: 500 });

    behavior.isDown();
    clock.advance(61_000);
    expect(await stock.source.ranking()).toEqual(R1); // stale, served at once; the refresh fails behind it
    await stock.source.idle();
    expect(await stock.source.ranking()).toEqual(R1);
    expect(behavior.calls).toHaveLength(2); // within TRENDING_RETRY_MS of the failure: no new fetch
    clock.advance(TRENDING_RETRY_MS);
    expect(await stock.source.ranking()).toEqual(R1);
    await stock.source.idle();
    expect(behavior.calls).toHaveLength(3);
    expect(await refreshes(stock.registry, 'error')).toBe(2);
    expect(stock.warnings()).toEqual([expect.stringContaining('serving the last trending ranking until behavior answers')]);
    expect(await ageSeconds(stock.registry)).toBe(66);

    behavior.answers(R2);
    clock.advance(TRENDING_RETRY_MS);
    expect(await stock.source.ranking()).toEqual(R1);
    await stock.source.idle();
    expect(await stock.source.ranking()).toEqual(R2);
    expect(await refreshes(stock.registry, 'ok')).toBe(2);
    expect(await ageSeconds(stock.registry)).toBe(0);
    expect(stock.logs.filter((l) => l.level === 30).map((l) => l.msg)).toEqual(['trending ranking refreshed from behavior again']);

    // A second outage is warned about again, once.
    behavior.isDown();
    clock.advance(61_000);
    await stock.source.ranking();
    await stock.source.idle();
    expect(stock.warnings()).toHaveLength(2);
  });

  it('serves the ranking it saved after a restart with behavior down, without waiting for behavior', async () => {
    const before = open();
    behavior.answers(R1);
    expect(await before.source.ranking()).toEqual(R1);
    expect(await before.store.getTrendingRanking()).toEqual({ entries: R1, fetchedAt: clock.now(), maxAgeMs: 60_000 });
    before.close();

    behavior.isDown();
    clock.advance(10 * 60_000);
    const wait = controlledDelay();
    const after = open({ delay: wait.delay });
    expect(await ageSeconds(after.registry)).toBe(600);
    expect(await after.source.ranking()).toEqual(R1);
    expect(wait.waits).toEqual([]); // a known ranking is served at once, however old
    await after.source.idle();
    expect(behavior.calls).toHaveLength(2); // the stale one is refreshed in the background, and that failed
    expect(await refreshes(after.registry, 'error')).toBe(1);
    expect(await after.source.ranking()).toEqual(R1);
  });

  it('serves a stale ranking at once while one background refresh runs, shared by concurrent queries', async () => {
    const stock = open();
    behavior.answers(R1);
    await stock.source.ranking();
    clock.advance(61_000);
    const release = behavior.answersWhenReleased(R2);

    // behavior has not answered yet: these resolve only because none of them waits for it.
    expect(await Promise.all([stock.source.ranking(), stock.source.ranking(), stock.source.ranking()])).toEqual([R1, R1, R1]);
    expect(await stock.source.ranking()).toEqual(R1);
    expect(behavior.calls).toHaveLength(2);

    release();
    await stock.source.idle();
    expect(await stock.source.ranking()).toEqual(R2);
    expect(behavior.calls).toHaveLength(2);
    expect(await refreshes(stock.registry, 'ok')).toBe(2);
    expect(await stock.store.getTrendingRanking()).toEqual({ entries: R2, fetchedAt: clock.now(), maxAgeMs: 60_000 });
    // Fresh again: served without a fetch until its max-age has passed.
    clock.advance(59_000);
    await stock.source.ranking();
    expect(behavior.calls).toHaveLength(2);
  });

  it('on a fresh database with behavior hanging, answers an empty ranking once the wait bound has passed, and waits only once', async () => {
    behavior.hangs();
    const wait = controlledDelay();
    const stock = open({ delay: wait.delay, waitMs: 250, timeoutMs: 30 });
    expect(await ageSeconds(stock.registry)).toBe(Infinity);

    let answered = false;
    const first = stock.source.ranking().then((ranking) => {
      answered = true;
      return ranking;
    });
    await settle();
    expect(wait.waits.map((w) => w.ms)).toEqual([250]);
    expect(answered).toBe(false); // waiting, for at most the bound
    wait.waits[0].end();
    expect(await first).toEqual([]);

    // behavior is now known to be away: later queries answer at once, and share the fetch in flight.
    expect(await stock.source.ranking()).toEqual([]);
    expect(wait.waits).toHaveLength(1);
    expect(behavior.calls).toHaveLength(1);
    expect(stock.warnings()).toEqual([expect.stringContaining('behavior did not answer the trending ranking within 250 ms')]);

    // The fetch in flight gives up at its deadline: the same outage, not a second warning.
    await stock.source.idle();
    expect(behavior.calls[0].signal.reason).toMatchObject({ name: 'TimeoutError' });
    expect(await refreshes(stock.registry, 'error')).toBe(1);
    expect(stock.warnings()).toHaveLength(1);
  });

  it('refreshes a saved ranking dated in the future (a clock that was wrong) instead of keeping it for ever', async () => {
    const before = open();
    behavior.answers(R1);
    await before.source.ranking();
    before.close();
    clock.advance(-3_600_000);
    const after = open();
    behavior.answers(R2);
    expect(await after.source.ranking()).toEqual(R1);
    await after.source.idle();
    expect(await after.source.ranking()).toEqual(R2);
  });

  it('on a fresh database, a query waits for behavior when it answers within the bound', async () => {
    const wait = controlledDelay();
    const stock = open({ delay: wait.delay });
    behavior.answers(R1);
    expect(await stock.source.ranking()).toEqual(R1);
    expect(stock.warnings()).toEqual([]);
  });
});

describe('the fetch of the trending ranking, over HTTP', () => {
  let server: Server;
  let url: string;
  let dir: string;
  let handle: (headers: IncomingHttpHeaders, res: import('node:http').ServerResponse) => void;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tailor-trending-'));
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => handle(req.headers, res));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives up at TAILOR_TRENDING_TIMEOUT_MS even when behavior sent its headers and stalls in the body', async () => {
    handle = (_headers, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=60' });
      res.write('{"data":{"trendingRanking":['); // and never more
    };
    const stock = openStock(join(dir, 'stock.db'), createFakeClock(), { behaviorUrl: url, timeoutMs: 50 });
    // The wait bound never passes (the delay never resolves): only the deadline ends this query.
    expect(await stock.source.ranking()).toEqual([]);
    expect(await refreshes(stock.registry, 'error')).toBe(1);
    expect(stock.logs.find((l) => l.level === 40)).toMatchObject({ err: expect.objectContaining({ name: 'TimeoutError' }) });
    stock.close();
  }, 10_000);

  describe('with a W3C trace-context propagator registered', () => {
    /** The least context manager that makes `context.with` work across awaits. */
    class AsyncLocalContextManager implements ContextManager {
      private readonly storage = new AsyncLocalStorage<Context>();
      active = () => this.storage.getStore() ?? ROOT_CONTEXT;
      with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(ctx: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F> {
        return this.storage.run(ctx, () => fn.call(thisArg, ...args));
      }
      bind = <T>(_ctx: Context, target: T) => target;
      enable = () => this;
      disable = () => {
        this.storage.disable();
        return this;
      };
    }
    beforeAll(() => {
      context.setGlobalContextManager(new AsyncLocalContextManager());
      propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    });
    afterAll(() => {
      propagation.disable();
      context.disable();
    });

    it('sends the active span\'s traceparent to behavior, and none outside a span', async () => {
      const seen: IncomingHttpHeaders[] = [];
      handle = (headers, res) => {
        seen.push(headers);
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=60' });
        res.end(JSON.stringify({ data: { trendingRanking: R1 } }));
      };
      const clock = createFakeClock();
      const stock = openStock(join(dir, 'stock.db'), clock, { behaviorUrl: url });
      const traceId = '0af7651916cd43dd8448eb211c80319c';
      const spanId = 'b7ad6b7169203331';
      const active = trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId, traceFlags: TraceFlags.SAMPLED, isRemote: true });
      expect(await context.with(active, () => stock.source.ranking())).toEqual(R1);
      expect(seen[0].traceparent).toBe(`00-${traceId}-${spanId}-01`);

      clock.advance(61_000);
      await stock.source.ranking(); // a background refresh outside any span
      await stock.source.idle();
      expect(seen).toHaveLength(2);
      expect(seen[1].traceparent).toBeUndefined();
      stock.close();
    });
  });
});

describe('trendingProducts through the gateway while behavior is stopped', () => {
  it('answers from the last ranking stock has, without an error', async () => {
    const stack = await startInProcessStack();
    try {
      const now = stack.clock.now();
      await stack.stock.store.seed(['T1', 'T2', 'T3', 'T4'].map((sku) => product(sku, 5)));
      await stack.behavior.store.trackEvents([
        ...Array.from({ length: 3 }, (_, i) => event(`v${i}`, 'T3', 'VIEW', now, DAY)),
        ...Array.from({ length: 2 }, (_, i) => event(`v${i}`, 'T2', 'VIEW', now, DAY)),
      ]);
      const query = '{ trendingProducts(limit: 2) { sku } }';
      await stack.stock.trending.ranking();
      await stack.stock.trending.idle();
      expect((await stack.query(query)).body).toEqual({ data: { trendingProducts: [{ sku: 'T3' }, { sku: 'T2' }] } });

      await stack.stopSubgraph('behavior');
      stack.clock.advance(61_000);
      expect((await stack.query(query)).body).toEqual({ data: { trendingProducts: [{ sku: 'T3' }, { sku: 'T2' }] } });
      await stack.stock.trending.idle();
      expect((await stack.query(query)).body).toEqual({ data: { trendingProducts: [{ sku: 'T3' }, { sku: 'T2' }] } });
      expect(await counterTotal(stack.stock.definition.metrics.registry.getSingleMetric('tailor_trending_refresh_total') as Counter<string>, { result: 'error' })).toBe(1);
    } finally {
      await stack.close();
    }
  });
});

describe('the trending settings of stock', () => {
  it('default to a 1000 ms deadline and a 250 ms first wait', () => {
    expect(loadStockConfig({ env: {}, argv: [] })).toMatchObject({ trendingTimeoutMs: 1000, trendingWaitMs: 250 });
    expect(loadStockConfig({ env: { TAILOR_TRENDING_TIMEOUT_MS: '300', TAILOR_TRENDING_WAIT_MS: '0' }, argv: [] })).toMatchObject({ trendingTimeoutMs: 300, trendingWaitMs: 0 });
  });

  it('refuses a deadline that is not a positive number of ms and a negative wait, naming both', () => {
    let problems: string[] = [];
    try {
      loadStockConfig({ env: { TAILOR_TRENDING_TIMEOUT_MS: '0', TAILOR_TRENDING_WAIT_MS: '-1' }, argv: [] });
    } catch (error) {
      problems = (error as ConfigError).problems;
    }
    expect(problems).toEqual(['TAILOR_TRENDING_TIMEOUT_MS="0": must be at least 1', 'TAILOR_TRENDING_WAIT_MS="-1": must be 0 or more']);
  });
});
