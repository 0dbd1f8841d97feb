import { Client } from 'pg';
import { Counter } from 'prom-client';
import { createLogger } from '../kit/logger';
import { counterTotal } from '../kit/metrics';
import { loadBehaviorConfig } from '../subgraphs/behavior/src/config';
import { type BehaviorSubgraph, createBehaviorSubgraph } from '../subgraphs/behavior/src/createBehaviorSubgraph';
import { loadCrmConfig } from '../subgraphs/crm/src/config';
import { type CrmSubgraph, createCrmSubgraph } from '../subgraphs/crm/src/createCrmSubgraph';
import { loadStockConfig } from '../subgraphs/stock/src/config';
import { type StockSubgraph, createStockSubgraph } from '../subgraphs/stock/src/createStockSubgraph';
import { openPostgres } from '../subgraphs/kit/postgres';
import { createFakeClock } from './support/fakeClock';
import { DAY, event, product, user } from './support/fixtures';
import { type TestDatabase, createTestDatabase } from './support/postgresServer';

// The store contract: the same cases on the embedded SQLite store and on PostgreSQL (the machine's
// server, a database of this suite's own). Resolvers, loaders and caches see only the interface
// these cases exercise, so a guarantee that holds here holds for both backends.

type Backend = 'sqlite' | 'postgres';

interface Opened {
  crm: CrmSubgraph;
  stock: StockSubgraph;
  behavior: BehaviorSubgraph;
  /** Statements a subgraph ran under one name since the last `reset`. */
  statements(service: 'crm' | 'stock' | 'behavior', name?: string): Promise<number>;
  close(): Promise<void>;
}

const silent = (name: string) => createLogger(name, 'silent');

async function open(backend: Backend, database: TestDatabase | undefined, schemaSuffix: string): Promise<Opened> {
  const clock = createFakeClock();
  const env = (schema: string): Record<string, string> => ({
    TAILOR_SEED: 'none',
    TAILOR_DB_SYNC: 'NORMAL',
    TAILOR_BEHAVIOR_URL: 'http://127.0.0.1:9/graphql',
    ...(backend === 'postgres' ? { TAILOR_DATABASE_URL: database!.url, TAILOR_DATABASE_SCHEMA: `${schema}_${schemaSuffix}` } : { TAILOR_DATA_DIR: ':memory:' }),
  });
  const crm = await createCrmSubgraph(loadCrmConfig({ env: env('crm'), argv: [] }), { clock, logger: silent('crm') });
  const stock = await createStockSubgraph(loadStockConfig({ env: env('stock'), argv: [] }), { clock, logger: silent('stock') });
  const behavior = await createBehaviorSubgraph(loadBehaviorConfig({ env: env('behavior'), argv: [] }), { clock, logger: silent('behavior') });
  const counters = { crm: crm.definition.metrics.dbStatements, stock: stock.definition.metrics.dbStatements, behavior: behavior.definition.metrics.dbStatements };
  return {
    crm,
    stock,
    behavior,
    statements: (service, name) => counterTotal(counters[service] as Counter<string>, name ? { statement: name } : undefined),
    async close() {
      await Promise.all([crm, stock, behavior].map((s) => s.definition.onClose?.()));
    },
  };
}

/** Statements run by `fn`, by name, on one subgraph. */
async function statementsOf(opened: Opened, service: 'crm' | 'stock' | 'behavior', fn: () => Promise<unknown>): Promise<Record<string, number>> {
  const counter = { crm: opened.crm, stock: opened.stock, behavior: opened.behavior }[service].definition.metrics.dbStatements;
  const before = new Map((await counter.get()).values.map((v) => [String(v.labels.statement), v.value]));
  await fn();
  const after: Record<string, number> = {};
  for (const v of (await counter.get()).values) {
    const delta = v.value - (before.get(String(v.labels.statement)) ?? 0);
    if (delta > 0) after[String(v.labels.statement)] = delta;
  }
  return after;
}

describe.each<Backend>(['sqlite', 'postgres'])('the store contract on %s', (backend) => {
  let database: TestDatabase | undefined;
  let s: Opened;
  let run = 0;

  beforeAll(async () => {
    if (backend === 'postgres') database = await createTestDatabase('contract');
  });
  afterAll(async () => {
    await database?.drop();
  });
  beforeEach(async () => {
    s = await open(backend, database, `c${++run}`);
  });
  afterEach(() => s.close());

  describe('crm', () => {
    it('applies a batch atomically: one refused write leaves none of the batch behind', async () => {
      await s.crm.store.seed([user('u3')]);
      // u2 takes u3's email: the unique email index refuses it, and with it u1 of the same batch.
      // (Matched on the message: better-sqlite3's native binding keeps the error class of the first test file
      // that loaded it, from another realm, so `toThrow` would not recognise it as an Error.)
      await expect(s.crm.store.upsertUsers([{ id: 'u1', email: 'u1@example.com' }, { id: 'u2', email: 'u3@example.com' }])).rejects.toHaveProperty(
        'message',
        expect.stringMatching(/UNIQUE constraint failed: users\.email_key|duplicate key value violates unique constraint/),
      );
      expect([...(await s.crm.store.getUsersByIds(['u1', 'u2', 'u3'])).keys()]).toEqual(['u3']);
      // The ingestion path checks first and names the conflict; nothing is applied either.
      await expect(s.crm.definition.ingestors[0].ingest([{ id: 'u1', email: 'u1@example.com' }, { id: 'u2', email: 'U3@example.com' }])).rejects.toThrow(
        /1 item is invalid/,
      );
      expect((await s.crm.store.getUsersByIds(['u1'])).size).toBe(0);
    });

    it('counts an unchanged user as a duplicate, and shows a change to the very next read', async () => {
      expect(await s.crm.store.upsertUsers([{ id: 'u1', email: 'u1@example.com', firstName: 'Ada' }])).toEqual({ accepted: 1, duplicates: 0, stale: 0 });
      expect(await s.crm.store.upsertUsers([{ id: 'u1', email: 'u1@example.com', firstName: 'Ada' }])).toEqual({ accepted: 0, duplicates: 1, stale: 0 });
      expect(await s.crm.store.upsertUsers([{ id: 'u1', email: 'u1@example.com', firstName: 'Grace', consent: { email: true, personalization: true } }])).toEqual({
        accepted: 1,
        duplicates: 0,
        stale: 0,
      });
      expect((await s.crm.store.getUsersByIds(['u1'])).get('u1')).toMatchObject({ firstName: 'Grace', locale: 'en-GB', loyaltyTier: 'NONE', segments: [] });
      expect((await s.crm.store.getConsentsByUserIds(['u1'])).get('u1')).toMatchObject({ email: true, personalization: true });
      expect(await s.crm.store.getUserIdByEmail('U1@EXAMPLE.com')).toBe('u1');
      expect(await s.crm.store.updateConsent('u1', { email: false })).toMatchObject({ email: false, personalization: true });
      expect(await s.crm.store.updateConsent('nobody', { email: false })).toBeUndefined();
    });

    it('reads any number of users in one statement per table, and erases and exports a user', async () => {
      await s.crm.store.seed(Array.from({ length: 300 }, (_, i) => user(`u${i}`)));
      const ids = Array.from({ length: 300 }, (_, i) => `u${i}`);
      expect(await statementsOf(s, 'crm', () => s.crm.store.getUsersByIds(ids))).toEqual({ getUsersByIds: 1 });
      expect(await statementsOf(s, 'crm', () => s.crm.store.getConsentsByUserIds(ids))).toEqual({ getConsentsByUserIds: 1 });
      expect(await s.crm.store.exportUser('u7')).toEqual({
        profile: expect.objectContaining({ id: 'u7', email: 'u7@example.com', updatedAt: expect.any(String) }),
        consent: { email: true, personalization: true, updatedAt: expect.any(String) },
      });
      expect(await s.crm.store.eraseUser('u7')).toEqual({ profiles: 1, consents: 1 });
      expect(await s.crm.store.eraseUser('u7')).toEqual({ profiles: 0, consents: 0 });
      expect(await s.crm.store.exportUser('u7')).toEqual({});
    });
  });

  describe('stock', () => {
    beforeEach(() => s.stock.store.seed([product('A1', 5), product('A2', 0), product('A3', 7)]));

    it('ignores an observation older than the stored one, and counts a repeat as a duplicate', async () => {
      const seeded = (await s.stock.store.getStockLevelsBySkus(['A1'])).get('A1')!.observedAt;
      expect(await s.stock.store.recordStockLevels([{ sku: 'A1', available: 9, observedAt: seeded + 1000 }])).toEqual({ accepted: 1, duplicates: 0, stale: 0 });
      expect(await s.stock.store.recordStockLevels([{ sku: 'A1', available: 1, observedAt: seeded + 500 }])).toEqual({ accepted: 0, duplicates: 0, stale: 1 });
      const stored = (await s.stock.store.getStockLevelsBySkus(['A1'])).get('A1');
      expect(stored).toEqual({ available: 9, observedAt: seeded + 1000 });
      expect(await s.stock.store.recordStockLevels([{ sku: 'A1', available: 9, observedAt: stored!.observedAt }])).toEqual({ accepted: 0, duplicates: 1, stale: 0 });
      // In one batch, in order: newer, then older (stale), then newer still.
      const base = stored!.observedAt;
      expect(
        await s.stock.store.recordStockLevels([
          { sku: 'A2', available: 4, observedAt: base + 10 },
          { sku: 'A2', available: 8, observedAt: base + 5 },
          { sku: 'A2', available: 6, observedAt: base + 20 },
        ]),
      ).toEqual({ accepted: 2, duplicates: 0, stale: 1 });
      expect((await s.stock.store.getStockLevelsBySkus(['A2'])).get('A2')).toEqual({ available: 6, observedAt: base + 20 });
    });

    it('reads stock and catalog of any number of products in one statement each', async () => {
      const skus = ['A1', 'A2', 'A3', 'missing'];
      expect(await statementsOf(s, 'stock', () => s.stock.store.getStockLevelsBySkus(skus))).toEqual({ getStockLevelsBySkus: 1 });
      expect(await statementsOf(s, 'stock', () => s.stock.store.getProductsBySkus(skus))).toEqual({ getProductsBySkus: 1 });
      expect([...(await s.stock.store.getProductsBySkus(skus)).keys()].sort()).toEqual(['A1', 'A2', 'A3']);
      expect(await s.stock.store.getInStockSkus(1, ['A1'], 10)).toEqual(['A3']);
      expect(await s.stock.store.findUnknownSkus([{ index: 0, item: { sku: 'A1', available: 1, observedAt: 0 } }, { index: 1, item: { sku: 'nope', available: 1, observedAt: 0 } }])).toEqual([
        { index: 1, field: 'sku', reason: 'no product has sku "nope"' },
      ]);
    });

    it('keeps the trending ranking it saved', async () => {
      expect(await s.stock.store.getTrendingRanking()).toBeUndefined();
      const ranking = { entries: [{ sku: 'A1', views: 3 }], fetchedAt: 1_700_000_000_000, maxAgeMs: 60_000 };
      await s.stock.store.saveTrendingRanking(ranking);
      expect(await s.stock.store.getTrendingRanking()).toEqual(ranking);
    });
  });

  describe('behavior', () => {
    const now = Date.UTC(2026, 11, 1, 12);

    it('counts a replayed eventId once, within a batch and across batches', async () => {
      const e1 = event('u1', 'A1', 'VIEW', now, DAY, 'e1');
      expect(await s.behavior.store.trackEvents([e1, e1])).toEqual({ accepted: 1, duplicates: 1, stale: 0 });
      expect(await s.behavior.store.trackEvents([e1, event('u1', 'A2', 'VIEW', now, DAY / 2, 'e2')])).toEqual({ accepted: 1, duplicates: 1, stale: 0 });
      expect((await s.behavior.store.getAllEventsByUserId('u1')).map((e) => e.eventId)).toEqual(['e1', 'e2']);
    });

    it('reads the events of any number of users in one statement, counts co-views, and erases a user', async () => {
      await s.behavior.store.trackEvents([
        event('u1', 'A1', 'VIEW', now, 3 * 60_000, 'a'),
        event('u1', 'A2', 'VIEW', now, 2 * 60_000, 'b'),
        event('u2', 'A1', 'VIEW', now, 60_000, 'c'),
        event('u2', 'A2', 'ADD_TO_CART', now, 30_000, 'd'),
        event('u2', 'A3', 'PURCHASE', now, 10_000, 'e'),
      ]);
      const users = Array.from({ length: 200 }, (_, i) => `u${i}`);
      expect(await statementsOf(s, 'behavior', () => s.behavior.store.getEventsByUserIds(users, now - 7 * DAY, now))).toEqual({ getEventsByUserIds: 1 });
      const events = await s.behavior.store.getEventsByUserIds(users, now - 7 * DAY, now);
      expect([...events.keys()].sort()).toEqual(['u1', 'u2']);
      expect(await s.behavior.store.getCoViewsBySkus(['A1', 'A2', 'A3'], 50)).toEqual(
        new Map([
          ['A1', [{ sku: 'A2', count: 2 }]],
          ['A2', [{ sku: 'A1', count: 2 }]],
        ]),
      );
      expect(await s.behavior.store.getTrendingRanking(now - 7 * DAY, now, 10)).toEqual([
        { sku: 'A1', views: 2 },
        { sku: 'A2', views: 1 },
      ]);
      expect(await s.behavior.store.eraseUser('u2')).toEqual({ events: 3 });
      expect(await s.behavior.store.getAllEventsByUserId('u2')).toEqual([]);
    });

    it('applies several batches in one transaction as applying them one after the other would', async () => {
      const batches = [
        [event('u1', 'A1', 'VIEW', now, 5 * 60_000, 'g1'), event('u1', 'A2', 'VIEW', now, 4 * 60_000, 'g2')],
        // g2 again (a duplicate of the batch before), and views that pair with the first batch's.
        [event('u1', 'A2', 'VIEW', now, 4 * 60_000, 'g2'), event('u1', 'A3', 'VIEW', now, 3 * 60_000, 'g3'), event('u2', 'A1', 'VIEW', now, 2 * 60_000, 'g4')],
        [event('u2', 'A3', 'ADD_TO_CART', now, 60_000, 'g5'), event('u2', 'A3', 'ADD_TO_CART', now, 60_000, 'g5')],
      ];
      const one = await open(backend, database, `c${run}seq`);
      try {
        const alone = [];
        for (const batch of batches) alone.push(await one.behavior.store.trackEvents(batch));
        expect(alone).toEqual([
          { accepted: 2, duplicates: 0, stale: 0 },
          { accepted: 2, duplicates: 1, stale: 0 },
          { accepted: 1, duplicates: 1, stale: 0 },
        ]);
        expect(await s.behavior.store.trackEventBatches(batches)).toEqual(alone);
        const skus = ['A1', 'A2', 'A3'];
        const coViews = await s.behavior.store.getCoViewsBySkus(skus, 50);
        expect(coViews).toEqual(await one.behavior.store.getCoViewsBySkus(skus, 50));
        expect(coViews.get('A3')).toEqual([
          { sku: 'A1', count: 2 },
          { sku: 'A2', count: 1 },
        ]);
        for (const userId of ['u1', 'u2']) expect(await s.behavior.store.getAllEventsByUserId(userId)).toEqual(await one.behavior.store.getAllEventsByUserId(userId));
      } finally {
        await one.close();
      }
    });

    it('adds the time of each statement, and of the commit, to tailor_db_statement_seconds_total', async () => {
      const seconds = async () => new Map((await s.behavior.definition.metrics.dbSeconds.get()).values.map((v) => [String(v.labels.statement), v.value]));
      const before = await seconds();
      await s.behavior.store.trackEvents([event('u1', 'A1', 'VIEW', now, 60_000, 't1')]);
      const after = await seconds();
      for (const statement of ['getKnownEventIds', 'COMMIT']) expect(after.get(statement)! - (before.get(statement) ?? 0)).toBeGreaterThan(0);
      expect(after.get('getCoViewsBySkus')).toBe(before.get('getCoViewsBySkus'));
    });

    it('applies an events batch in a constant number of statements, whatever its size', async () => {
      const batch = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => event(`u${i % 7}`, `S${i % 13}`, 'VIEW', now, (i + 1) * 1000, `${prefix}${i}`));
      const small = await statementsOf(s, 'behavior', () => s.behavior.store.trackEvents(batch(10, 'x')));
      const large = await statementsOf(s, 'behavior', () => s.behavior.store.trackEvents(batch(200, 'y')));
      // SQLite writes row by row in-process (microseconds each); PostgreSQL sends each batch as one statement per table.
      if (backend === 'postgres') expect(large).toEqual(small);
      expect(large.getKnownEventIds).toBe(1);
    });
  });

  it('refuses to start on a database migrated by a newer build, saying why', async () => {
    await s.close();
    if (backend === 'postgres') {
      const db = await openPostgres({ url: database!.url, schema: `crm_c${run}`, poolSize: 1, statements: new Counter({ name: 'x', help: 'x', labelNames: ['statement'], registers: [] }), logger: silent('crm') });
      await db.run('seed', "INSERT INTO tailor_migrations (scope, version, name, applied_at) VALUES ('crm', 99, 'from_the_future', 0)");
      await db.close();
      const env = { TAILOR_SEED: 'none', TAILOR_DATABASE_URL: database!.url, TAILOR_DATABASE_SCHEMA: `crm_c${run}` };
      await expect(createCrmSubgraph(loadCrmConfig({ env, argv: [] }), { logger: silent('crm') })).rejects.toThrow(
        /the crm database is at migration 99 \(from_the_future\), newer than this build knows \(up to 1\)/,
      );
    } else {
      const { mkdtempSync, rmSync } = await import('node:fs');
      const { tmpdir } = await import('node:os');
      const { join } = await import('node:path');
      const dir = mkdtempSync(join(tmpdir(), 'tailor-contract-'));
      const env = { TAILOR_SEED: 'none', TAILOR_DATA_DIR: dir };
      const first = await createCrmSubgraph(loadCrmConfig({ env, argv: [] }), { logger: silent('crm') });
      const BetterSqlite3 = (await import('better-sqlite3')).default;
      await first.definition.onClose?.();
      const raw = new BetterSqlite3(join(dir, 'crm.db'));
      raw.prepare("INSERT INTO tailor_migrations (scope, version, name, applied_at) VALUES ('crm', 99, 'from_the_future', 0)").run();
      raw.close();
      await expect(createCrmSubgraph(loadCrmConfig({ env, argv: [] }), { logger: silent('crm') })).rejects.toThrow(
        /the crm database is at migration 99 \(from_the_future\), newer than this build knows \(up to 1\)/,
      );
      rmSync(dir, { recursive: true, force: true });
    }
    s = await open(backend, database, `c${++run}`);
  });
});

// Only PostgreSQL has other writers: replicas of a subgraph on one database (a SQLite file has one process).
describe('the crm store on PostgreSQL, beside another writer', () => {
  let database: TestDatabase;
  let s: Opened;
  beforeAll(async () => {
    database = await createTestDatabase('conflict');
    s = await open('postgres', database, 'w');
  });
  afterAll(async () => {
    await s?.close();
    await database?.drop();
  });

  it('refuses, naming the conflict, a batch whose email another writer commits between its check and its write', async () => {
    const other = new Client({ connectionString: database.url });
    await other.connect();
    try {
      // Another replica's transaction holds the email, not yet committed: the check cannot see it…
      await other.query('BEGIN');
      await other.query(`INSERT INTO crm_w.users (id, email, email_key, locale, loyalty_tier, segments, updated_at) VALUES ('u9', 'x@example.com', 'x@example.com', 'en-GB', 'NONE', '[]', 0)`);
      const ingest = s.crm.definition.ingestors[0].ingest([{ id: 'u1', email: 'X@example.com' }]);
      // …the batch's write waits on the unique index until that one commits, then fails, and the batch is checked again.
      await new Promise((resolve) => setTimeout(resolve, 200));
      await other.query('COMMIT');
      await expect(ingest).rejects.toMatchObject({
        message: 'The users batch was refused: 1 item is invalid, and nothing was applied.',
        extensions: { code: 'BAD_USER_INPUT', items: [{ index: 0, field: 'email', reason: 'email belongs to another user (u9)' }] },
      });
    } finally {
      await other.end();
    }
    expect([...(await s.crm.store.getUsersByIds(['u1', 'u9'])).keys()]).toEqual(['u9']);
  });
});
