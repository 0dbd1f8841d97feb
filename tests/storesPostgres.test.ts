// The PostgreSQL stores against the SQLite ones: the same random batches on both give the same answers
// and the same state, and the races only PostgreSQL has (replicas writing at once) keep the guarantees.
// (tests/storeContract.test.ts runs the shared contract on both.) Each run creates its own database, with
// ICU en-US collation, so text ordering would differ from SQLite's binary ordering unless the store asks
// for COLLATE "C", and drops it at the end.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Client } from 'pg';
import type { Counter } from 'prom-client';
import { createLogger } from '../kit/logger';
import { DEMO_SCALES, createRandom, demoCatalog, demoEvents, demoUsers, type DemoEvent, type DemoProduct } from '../demo/demoData';
import { openDatabase } from '../subgraphs/kit/database';
import { migratePostgres, migrateSqlite, readMigrations } from '../subgraphs/kit/migrations';
import { type PgDatabase, openPostgres } from '../subgraphs/kit/postgres';
import { createSubgraphMetrics } from '../subgraphs/kit/subgraphMetrics';
import { type CrmStore, type UserInput, createCrmStore } from '../subgraphs/crm/src/crmStore';
import { createPostgresCrmStore } from '../subgraphs/crm/src/crmStorePostgres';
import { type StockLevelInput, type StockStore, createStockStore } from '../subgraphs/stock/src/stockStore';
import { createPostgresStockStore } from '../subgraphs/stock/src/stockStorePostgres';
import { type BehaviorStore, type EventInput, EVENT_TYPES, createBehaviorStore } from '../subgraphs/behavior/src/behaviorStore';
import { createPostgresBehaviorStore } from '../subgraphs/behavior/src/behaviorStorePostgres';
import { createFakeClock } from './support/fakeClock';

const ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const DB_NAME = `tailor_test_stores_${randomBytes(6).toString('hex')}`;
const URL = `postgres://postgres@127.0.0.1:5432/${DB_NAME}`;
const ROOT = join(__dirname, '..');

const opened: PgDatabase[] = [];

beforeAll(async () => {
  const admin = new Client({ connectionString: ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${DB_NAME} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'`);
  } finally {
    await admin.end();
  }
});

afterAll(async () => {
  await Promise.all(opened.map((db) => db.close().catch(() => undefined)));
  const admin = new Client({ connectionString: ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${DB_NAME} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
});

/** A migrated PostgreSQL schema with its own statement counter. */
async function pg(subgraph: string, schema = subgraph) {
  const counter = createSubgraphMetrics(subgraph).dbStatements;
  const db = await openPostgres({ url: URL, schema, poolSize: 4, statements: counter, logger: createLogger(subgraph, 'silent') });
  opened.push(db);
  await migratePostgres(db, subgraph, readMigrations(join(ROOT, 'subgraphs', subgraph, 'migrations'), 'postgres'));
  return { db, counter };
}

/** A migrated in-memory SQLite database with its own statement counter. */
function sqlite(subgraph: string) {
  const counter = createSubgraphMetrics(subgraph).dbStatements;
  const db = openDatabase(':memory:', counter);
  migrateSqlite(db, subgraph, readMigrations(join(ROOT, 'subgraphs', subgraph, 'migrations'), 'sqlite'));
  return { db, counter };
}

async function countsOf(counter: Counter<'statement'>): Promise<Record<string, number>> {
  const { values } = await counter.get();
  return Object.fromEntries(values.map((v) => [String(v.labels.statement), v.value]));
}
/** The statements `fn` ran, by name (names with 0 left out). */
async function statementsOf(counter: Counter<'statement'>, fn: () => Promise<unknown>): Promise<Record<string, number>> {
  const before = await countsOf(counter);
  await fn();
  const after = await countsOf(counter);
  return Object.fromEntries(Object.entries(after).filter(([name, n]) => n - (before[name] ?? 0) > 0).map(([name, n]) => [name, n - (before[name] ?? 0)]));
}

/** Runs the same call on both stores and expects the same answer (or the same refusal). */
async function same<S, R>(a: S, b: S, call: (store: S) => Promise<R> | R): Promise<R> {
  const [x, y] = await Promise.allSettled([(async () => call(a))(), (async () => call(b))()]);
  if (x.status === 'rejected' || y.status === 'rejected') {
    expect(y.status).toBe(x.status);
    return undefined as R;
  }
  expect(y.value).toEqual(x.value);
  return x.value;
}

const pickOf = <T>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)];

describe('crm on PostgreSQL', () => {
  let lite: CrmStore;
  let post: CrmStore;
  let counter: Counter<'statement'>;
  let db: PgDatabase;
  const clock = createFakeClock();
  const users = demoUsers(DEMO_SCALES.small);

  beforeAll(async () => {
    lite = createCrmStore({ kind: 'sqlite', db: sqlite('crm').db }, clock);
    ({ db, counter } = await pg('crm'));
    post = createPostgresCrmStore(db, clock);
  });

  it('seeds, reads, and applies random batches with the same results and state', async () => {
    await same(lite, post, (s) => s.isEmpty());
    await same(lite, post, (s) => s.seed(users));
    await same(lite, post, (s) => s.isEmpty());
    const ids = [...users.map((u) => u.id), 'u-missing'];
    await same(lite, post, (s) => s.getUsersByIds(ids));
    await same(lite, post, (s) => s.getConsentsByUserIds(ids));

    const random = createRandom(42);
    const tiers = ['NONE', 'BRONZE', 'GOLD'] as const;
    let fresh = 0;
    const known = users.slice(0, 40).map((u) => u.id);
    for (let batch = 0; batch < 60; batch++) {
      clock.advance(1_000);
      const items: UserInput[] = [];
      const size = 1 + Math.floor(random() * 8);
      for (let i = 0; i < size; i++) {
        const newUser = random() < 0.25;
        const id = newUser ? `n-${++fresh}` : pickOf(random, known);
        if (newUser) known.push(id);
        const seeded = users.find((u) => u.id === id);
        const item: UserInput = {
          id,
          // Same email as seeded (or a per-id one), in varying case and with spaces: the key is trimmed and lower-cased.
          email: random() < 0.2 ? `  ${(seeded?.email ?? `${id}@x.example`).toUpperCase()} ` : (seeded?.email ?? `${id}@x.example`),
          firstName: random() < 0.8 ? (seeded?.firstName ?? 'Ann') : null,
          lastName: random() < 0.5 ? (seeded?.lastName ?? 'Lee') : undefined,
          locale: random() < 0.5 ? undefined : pickOf(random, ['en-GB', 'fr-FR']),
          timezone: random() < 0.5 ? (seeded?.timezone ?? null) : null,
          loyaltyTier: random() < 0.7 ? (seeded?.loyaltyTier ?? pickOf(random, tiers)) : pickOf(random, tiers),
          segments: random() < 0.6 ? (seeded?.segments ?? []) : ['vip'],
          consent: random() < 0.5 ? undefined : { email: random() < 0.5, personalization: random() < 0.5 },
        };
        items.push(item);
        // Exact repeats (duplicates), and repeats of an id within the batch (upsertUsers does not refuse them).
        if (random() < 0.3) items.push({ ...item });
      }
      await same(lite, post, (s) => s.upsertUsers(items));
    }
    await same(lite, post, async (s) => [...(await s.getUsersByIds(known))].sort());
    await same(lite, post, async (s) => [...(await s.getConsentsByUserIds(known))].sort());
    for (const id of known.slice(0, 60)) await same(lite, post, (s) => s.exportUser(id));
    await same(lite, post, (s) => s.exportUser('nobody'));
  });

  it('refuses a batch that takes another user email, atomically', async () => {
    const before = await post.getUsersByIds(['u-00001', 'u-00002', 'n-new-x']);
    const items: UserInput[] = [
      { id: 'n-new-x', email: 'new-x@x.example' },
      { id: 'u-00001', email: users[1].email.toUpperCase() },
    ];
    await same(lite, post, (s) => s.upsertUsers(items));
    expect(await post.getUsersByIds(['u-00001', 'u-00002', 'n-new-x'])).toEqual(before);
  });

  it('finds conflicts, and emails case-insensitively', async () => {
    const batch = [
      { index: 0, item: { id: 'u-00001', email: users[0].email } },
      { index: 1, item: { id: 'u-00001', email: 'other@x.example' } },
      { index: 2, item: { id: 'z-1', email: users[2].email.toUpperCase() } },
      { index: 3, item: { id: 'z-2', email: ' OTHER@x.example' } },
    ];
    const problems = await same(lite, post, (s) => s.findUserConflicts(batch));
    expect(problems.length).toBe(3);
    await same(lite, post, (s) => s.getUserIdByEmail(` ${users[4].email.toUpperCase()}`));
    await same(lite, post, (s) => s.getUserIdByEmail('nobody@x.example'));
  });

  it('updates consent and erases users as SQLite does', async () => {
    clock.advance(5_000);
    await same(lite, post, (s) => s.updateConsent('nobody', { email: true }));
    const id = 'u-00007';
    const current = (await post.getConsentsByUserIds([id])).get(id)!;
    await same(lite, post, (s) => s.updateConsent(id, { email: current.email }));
    await same(lite, post, (s) => s.updateConsent(id, { email: !current.email }));
    await same(lite, post, (s) => s.updateConsent(id, { personalization: !current.personalization, email: current.email }));
    await same(lite, post, (s) => s.exportUser(id));
    await same(lite, post, (s) => s.eraseUser(id));
    await same(lite, post, (s) => s.eraseUser(id));
    await same(lite, post, (s) => s.eraseUser('nobody'));
    await same(lite, post, (s) => s.exportUser(id));
  });

  it('reads and writes a batch in one statement per table', async () => {
    clock.advance(1_000);
    const batch: UserInput[] = [
      { id: 'u-00010', email: users[9].email, firstName: 'Changed', consent: { email: true, personalization: true } },
      { id: 'u-00011', email: users[10].email, firstName: 'Changed' },
      { id: 'c-new-1', email: 'c-new-1@x.example' },
      { id: 'c-new-2', email: 'c-new-2@x.example', consent: { email: true, personalization: false } },
      { id: 'c-new-1', email: 'c-new-1@x.example', firstName: 'Again' },
    ];
    expect(await statementsOf(counter, () => post.upsertUsers(batch))).toEqual({ getUsersByIds: 1, getConsentsByUserIds: 1, upsertUser: 1, upsertConsent: 1 });
    await lite.upsertUsers(batch);
    // The same batch again: all duplicates, nothing written.
    expect(await post.upsertUsers(batch)).toEqual(await lite.upsertUsers(batch));
    expect(await statementsOf(counter, () => post.upsertUsers(batch.slice(0, 2)))).toEqual({ getUsersByIds: 1, getConsentsByUserIds: 1 });
    // Profile changes only, consent unchanged: no consent write.
    expect(await statementsOf(counter, () => post.upsertUsers([{ ...batch[1], firstName: 'Third' }]))).toEqual({
      getUsersByIds: 1,
      getConsentsByUserIds: 1,
      upsertUser: 1,
    });
    expect(await statementsOf(counter, () => post.getUsersByIds(users.map((u) => u.id)))).toEqual({ getUsersByIds: 1 });
    expect(await statementsOf(counter, () => post.findUserConflicts(users.slice(0, 50).map((item, index) => ({ index, item }))))).toEqual({ getUserIdsByEmails: 1 });
  });
});

describe('stock on PostgreSQL', () => {
  let lite: StockStore;
  let post: StockStore;
  let counter: Counter<'statement'>;
  let db: PgDatabase;
  const clock = createFakeClock();
  const catalog = demoCatalog(DEMO_SCALES.small);
  // SKUs whose binary order differs from a linguistic one: case, punctuation, non-ASCII.
  const odd: DemoProduct[] = ['a-1', 'B-2', 'b_1', 'b-1', 'Ä-1', 'Z-9', 'z-0', 'aa', 'a_a', 'AB'].map((sku, i) => ({ ...catalog[0], sku, available: 5 + i }));

  beforeAll(async () => {
    lite = createStockStore({ kind: 'sqlite', db: sqlite('stock').db }, clock);
    ({ db, counter } = await pg('stock'));
    post = createPostgresStockStore(db, clock);
  });

  it('seeds and reads the same catalog and levels', async () => {
    await same(lite, post, (s) => s.isEmpty());
    await same(lite, post, (s) => s.seed(catalog));
    await same(lite, post, (s) => s.seed(odd));
    await same(lite, post, (s) => s.isEmpty());
    const skus = [...catalog, ...odd].map((p) => p.sku).concat('NOPE');
    await same(lite, post, (s) => s.getProductsBySkus(skus));
    await same(lite, post, (s) => s.getStockLevelsBySkus(skus));
    await same(lite, post, (s) => s.findUnknownSkus(['NOPE', 'a-1', 'A-1', 'NOPE'].map((sku, index) => ({ index, item: { sku, available: 1, observedAt: 1 } }))));
    for (const [threshold, exclude, limit] of [
      [1, [], 500],
      [1, ['a-1', 'b_1', 'DRS-0001'], 30],
      [50, [], 10],
      [0, odd.map((p) => p.sku), 5],
    ] as const) {
      await same(lite, post, (s) => s.getInStockSkus(threshold, exclude, limit));
    }
  });

  it('records random batches with the same results and state', async () => {
    const random = createRandom(7);
    const skus = [...catalog.slice(0, 12), ...odd].map((p) => p.sku);
    const base = clock.now();
    for (let batch = 0; batch < 80; batch++) {
      const size = 1 + Math.floor(random() * 10);
      const levels: StockLevelInput[] = [];
      for (let i = 0; i < size; i++) {
        // Few distinct moments and quantities: plenty of stale, duplicate and same-moment observations.
        levels.push({ sku: pickOf(random, skus), available: Math.floor(random() * 3), observedAt: base + Math.floor(random() * 6) * 1_000 + batch * 200 });
      }
      await same(lite, post, (s) => s.recordStockLevels(levels));
    }
    await same(lite, post, (s) => s.getStockLevelsBySkus(skus));
    await same(lite, post, (s) => s.getInStockSkus(1, [], 1000));
  });

  it('reads and writes a batch in one statement each, skipping the write when nothing is new', async () => {
    const now = clock.now() + 60_000;
    const batch = catalog.slice(20, 40).map((p, i) => ({ sku: p.sku, available: i, observedAt: now }));
    const repeated = [...batch, ...batch.map((l) => ({ ...l, available: l.available + 1 })), ...batch.map((l) => ({ ...l, observedAt: now - 1 }))];
    expect(await statementsOf(counter, () => post.recordStockLevels(repeated))).toEqual({ getStockLevelsBySkus: 1, upsertStockLevel: 1 });
    await lite.recordStockLevels(repeated);
    const stale = batch.map((l) => ({ ...l, observedAt: now - 5 }));
    expect(await statementsOf(counter, () => same(lite, post, (s) => s.recordStockLevels(stale)))).toEqual({ getStockLevelsBySkus: 1 });
    await same(lite, post, (s) => s.getStockLevelsBySkus(batch.map((l) => l.sku)));
    expect(await statementsOf(counter, () => post.getProductsBySkus(catalog.map((p) => p.sku)))).toEqual({ getProductsBySkus: 1 });
  });

  it('never lets an older observation overwrite a newer one written concurrently', async () => {
    const sku = catalog[50].sku;
    const t = clock.now() + 120_000;
    // An older observation through the store: stale, nothing changes.
    await post.recordStockLevels([{ sku, available: 7, observedAt: t }]);
    expect(await post.recordStockLevels([{ sku, available: 99, observedAt: t - 1 }])).toEqual({ accepted: 0, duplicates: 0, stale: 1 });
    expect((await post.getStockLevelsBySkus([sku])).get(sku)).toEqual({ available: 7, observedAt: t });

    // The store's conditional upsert itself: a newer row, inserted by another writer after the store
    // read (none there yet) and committed before the store's write, is kept.
    await db.run('test', 'DELETE FROM stock_levels WHERE sku = $1', [sku]);
    const other = new Client({ connectionString: URL, options: '-c search_path=stock' });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query('INSERT INTO stock_levels (sku, available, observed_at) VALUES ($1, 42, $2)', [sku, t + 10]);
      const racing = post.recordStockLevels([{ sku, available: 1, observedAt: t + 5 }]);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await other.query('COMMIT');
      await racing;
    } finally {
      await other.end();
    }
    expect((await post.getStockLevelsBySkus([sku])).get(sku)).toEqual({ available: 42, observedAt: t + 10 });

    // And an older row does not block a newer one from the store.
    await db.run('test', 'UPDATE stock_levels SET observed_at = $2 WHERE sku = $1', [sku, t]);
    expect(await post.recordStockLevels([{ sku, available: 3, observedAt: t + 20 }])).toEqual({ accepted: 1, duplicates: 0, stale: 0 });
    expect((await post.getStockLevelsBySkus([sku])).get(sku)).toEqual({ available: 3, observedAt: t + 20 });
  });

  it('saves and reads the trending ranking', async () => {
    await same(lite, post, (s) => s.getTrendingRanking());
    const ranking = { entries: [{ sku: 'DRS-0001', views: 3 }, { sku: 'a-1', views: 2 }], fetchedAt: clock.now(), maxAgeMs: 60_000 };
    await same(lite, post, (s) => s.saveTrendingRanking(ranking));
    await same(lite, post, (s) => s.getTrendingRanking());
    await same(lite, post, (s) => s.saveTrendingRanking({ ...ranking, entries: [] }));
    await same(lite, post, (s) => s.getTrendingRanking());
  });
});

describe('behavior on PostgreSQL', () => {
  const SESSION_MS = 30 * 60_000;
  const T0 = Date.parse('2026-11-01T00:00:00Z');
  const skus = ['DRS-0001', 'drs-0002', 'A_1', 'a-1', 'B', 'b', 'Ä', 'Z'];

  /** A few hundred events of 8 users on 8 SKUs over ~6 sessions' time, with replays and repeats. */
  function randomBatches(seed: number, batches: number): EventInput[][] {
    const random = createRandom(seed);
    const all: EventInput[] = [];
    const out: EventInput[][] = [];
    for (let b = 0; b < batches; b++) {
      const batch: EventInput[] = [];
      const size = Math.floor(random() * 25);
      for (let i = 0; i < size; i++) {
        const r = random();
        if (all.length && r < 0.1) batch.push(pickOf(random, all));
        else if (batch.length && r < 0.15) batch.push({ ...pickOf(random, batch), sku: pickOf(random, skus) });
        else {
          const event: EventInput = {
            eventId: `${random() < 0.5 ? 'E' : 'e'}-${b}-${i}`,
            userId: `user-${Math.floor(random() * 8)}`,
            sku: pickOf(random, skus),
            type: pickOf(random, EVENT_TYPES),
            // Coarse times (whole minutes, sometimes on the session boundary): ties and edges happen.
            occurredAt: T0 + (random() < 0.1 ? SESSION_MS : Math.floor(random() * 180) * 60_000),
          };
          batch.push(event);
          all.push(event);
        }
      }
      out.push(batch);
    }
    return out;
  }

  async function compareAll(lite: BehaviorStore, post: BehaviorStore) {
    const users = Array.from({ length: 9 }, (_, i) => `user-${i}`);
    await same(lite, post, async (s) => [...(await s.getCoViewsBySkus([...skus, 'none'], 100))]);
    await same(lite, post, async (s) => [...(await s.getCoViewsBySkus(skus, 2))]);
    await same(lite, post, (s) => s.getTrendingRanking(T0, T0 + 3 * 3_600_000, 5));
    await same(lite, post, (s) => s.getTrendingRanking(T0 + 1, T0 + 3_600_000, 50));
    for (const u of users) await same(lite, post, (s) => s.getAllEventsByUserId(u));
    // SQLite breaks ties of occurredAt by insertion order (rowid), which PostgreSQL does not keep: compare as sets.
    const normalized = async (s: BehaviorStore) =>
      [...(await s.getEventsByUserIds(users, T0 + 30 * 60_000, T0 + 150 * 60_000))].map(([user, events]) => [
        user,
        [...events].sort((a, b) => a.occurredAt - b.occurredAt || (a.sku < b.sku ? -1 : a.sku > b.sku ? 1 : 0) || (a.type < b.type ? -1 : 1)),
      ]);
    await same(lite, post, normalized);
  }

  it('tracks random batches with the same results, co-views and events', async () => {
    const lite = createBehaviorStore({ kind: 'sqlite', db: sqlite('behavior').db }, { sessionMs: SESSION_MS });
    const { db, counter } = await pg('behavior');
    const post = createPostgresBehaviorStore(db, { sessionMs: SESSION_MS });
    await same(lite, post, (s) => s.isEmpty());
    let total = 0;
    for (const batch of randomBatches(11, 40)) {
      total += batch.length;
      const statements = await statementsOf(counter, () => same(lite, post, (s) => s.trackEvents(batch)));
      // One statement per kind, whatever the batch's size.
      expect(statements.getKnownEventIds).toBe(1);
      for (const name of ['getSessionNeighbours', 'insertEvent', 'addCoView']) expect(statements[name] ?? 0).toBeLessThanOrEqual(1);
      expect(Object.keys(statements).every((n) => ['getKnownEventIds', 'getSessionNeighbours', 'insertEvent', 'addCoView'].includes(n))).toBe(true);
    }
    expect(total).toBeGreaterThan(300);
    await same(lite, post, (s) => s.isEmpty());
    await compareAll(lite, post);
    await same(lite, post, (s) => s.eraseUser('user-3'));
    await same(lite, post, (s) => s.eraseUser('user-3'));
    await compareAll(lite, post);
    // Orders by occurredAt then eventId in binary order ('E-…' before 'e-…').
    const events = await post.getAllEventsByUserId('user-1');
    expect(events.length).toBeGreaterThan(5);
  });

  it('counts a batch once when two replicas apply it concurrently', async () => {
    const lite = createBehaviorStore({ kind: 'sqlite', db: sqlite('behavior').db }, { sessionMs: SESSION_MS });
    const a = await pg('behavior', 'behavior_race');
    const b = await pg('behavior', 'behavior_race');
    const one = createPostgresBehaviorStore(a.db, { sessionMs: SESSION_MS });
    const two = createPostgresBehaviorStore(b.db, { sessionMs: SESSION_MS });
    const batch = randomBatches(5, 3).flat();
    const results = await Promise.all([one.trackEvents(batch), two.trackEvents(batch)]);
    const expected = await lite.trackEvents(batch);
    expect(results[0].accepted + results[1].accepted).toBe(expected.accepted);
    await compareAll(lite, one);
  });

  it('counts only the events it inserted when another writer inserts one after its read', async () => {
    const { db } = await pg('behavior', 'behavior_conflict');
    const post = createPostgresBehaviorStore(db, { sessionMs: SESSION_MS });
    const x: EventInput = { eventId: 'x', userId: 'u', sku: 'A', type: 'VIEW', occurredAt: T0 };
    const y: EventInput = { eventId: 'y', userId: 'u', sku: 'B', type: 'VIEW', occurredAt: T0 + 60_000 };
    const other = new Client({ connectionString: URL, options: '-c search_path=behavior_conflict' });
    await other.connect();
    let result;
    try {
      // Another replica inserts x (and counts its co-views itself) but has not committed yet: this
      // store's read does not see it, and its insert of x waits for that commit, then does nothing.
      await other.query('BEGIN');
      await other.query(`INSERT INTO events (event_id, user_id, sku, type, occurred_at) VALUES ('x', 'u', 'A', 'VIEW', $1)`, [T0]);
      const racing = post.trackEvents([x, y]);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await other.query('COMMIT');
      result = await racing;
    } finally {
      await other.end();
    }
    expect(result).toEqual({ accepted: 1, duplicates: 1, stale: 0 });
    // The pair x–y, counted once each way: by y, the one this store inserted.
    expect([...(await post.getCoViewsBySkus(['A', 'B'], 10))]).toEqual([
      ['A', [{ sku: 'B', count: 1 }]],
      ['B', [{ sku: 'A', count: 1 }]],
    ]);
    expect(await post.trackEvents([x, y])).toEqual({ accepted: 0, duplicates: 2, stale: 0 });
  });

  it('seeds the same events and co-views as SQLite, and as ingestion would count them', async () => {
    const lite = createBehaviorStore({ kind: 'sqlite', db: sqlite('behavior').db }, { sessionMs: SESSION_MS });
    const { db } = await pg('behavior', 'behavior_seed');
    const post = createPostgresBehaviorStore(db, { sessionMs: SESSION_MS });
    const events: DemoEvent[] = [...demoEvents(DEMO_SCALES.small, T0)];
    // A replayed eventId: INSERT OR IGNORE keeps the first, and the count still counts it.
    events.push({ ...events[0], sku: 'other' });
    await same(lite, post, (s) => s.seed(events));
    const catalogSkus = demoCatalog(DEMO_SCALES.small).map((p) => p.sku);
    await same(lite, post, async (s) => [...(await s.getCoViewsBySkus(catalogSkus, 1000))]);
    await same(lite, post, (s) => s.getTrendingRanking(T0 - 31 * 86_400_000, T0, 50));

    // The same events through trackEvents, in batches: the same co-view counts as the seed's join.
    const { db: db2 } = await pg('behavior', 'behavior_ingest');
    const ingested = createPostgresBehaviorStore(db2, { sessionMs: SESSION_MS });
    for (let i = 0; i < events.length; i += 500) await ingested.trackEvents(events.slice(i, i + 500));
    expect([...(await ingested.getCoViewsBySkus(catalogSkus, 1000))]).toEqual([...(await post.getCoViewsBySkus(catalogSkus, 1000))]);

    // More events on top of the seed, both stores.
    for (const batch of randomBatches(3, 10)) {
      const onCatalog = batch.map((e) => ({ ...e, userId: `u-0000${e.userId.slice(-1)}`, sku: catalogSkus[e.sku.charCodeAt(0) % 40], occurredAt: T0 - 86_400_000 + (e.occurredAt - T0) }));
      await same(lite, post, (s) => s.trackEvents(onCatalog));
    }
    await same(lite, post, async (s) => [...(await s.getCoViewsBySkus(catalogSkus, 1000))]);
  });
});
