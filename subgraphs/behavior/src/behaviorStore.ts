import { z } from 'zod';
import type { Clock } from '../../../kit/clock';
import type { Database } from '../../kit/database';
import { type StoreBackend, type Synchronous, asAsync } from '../../kit/storeBackend';
import { createPostgresBehaviorStore } from './behaviorStorePostgres';
import { zPastDateTime } from '../../kit/dateTime';
import type { DemoEvent } from '../../../demo/demoData';
import type { IngestResult } from '../../kit/ingest';
import type { BehaviorEvent, CoView } from './signals';

export const EVENT_TYPES = ['VIEW', 'ADD_TO_CART', 'PURCHASE', 'CLICK'] as const;

/** Validates one item of a `trackEvents` batch; events from the future (beyond clock skew) are refused. */
export function eventInputSchema(clock: Clock, maxClockSkewMs: number) {
  return z.strictObject({
    eventId: z.string().trim().min(1, 'eventId must not be empty').max(128, 'eventId must be at most 128 characters'),
    userId: z.string().trim().min(1, 'userId must not be empty').max(128, 'userId must be at most 128 characters'),
    sku: z.string().trim().min(1, 'sku must not be empty').max(64, 'sku must be at most 64 characters'),
    type: z.enum(EVENT_TYPES, { message: `type must be one of ${EVENT_TYPES.join(', ')}` }),
    occurredAt: zPastDateTime('occurredAt', clock, maxClockSkewMs),
  });
}
export type EventInput = z.output<ReturnType<typeof eventInputSchema>>;


/** The behaviour service's store: events, and co-view counts kept up to date as events arrive. */
export interface BehaviorStore {
  /** Each user's events with `since <= occurredAt <= until`. */
  getEventsByUserIds(userIds: readonly string[], since: number, until: number): Promise<Map<string, BehaviorEvent[]>>;
  /** For each SKU, the SKUs most co-viewed with it (at most `perSku`), most first. */
  getCoViewsBySkus(skus: readonly string[], perSku: number): Promise<Map<string, CoView[]>>;
  /** Products by views in `[since, until]`, most first. */
  getTrendingRanking(since: number, until: number, limit: number): Promise<{ sku: string; views: number }[]>;
  /** Records a validated batch atomically; replays of a known `eventId` count as duplicates. */
  trackEvents(events: EventInput[]): Promise<IngestResult>;
  /**
   * Records several validated batches in one transaction, with the result of each: what applying them
   * one after the other, in order, gives (an event of a later batch that an earlier one holds is a
   * duplicate of it), with one commit for all.
   */
  trackEventBatches(batches: EventInput[][]): Promise<IngestResult[]>;
  /**
   * Deletes every event of the user, the only table keyed to a user, and counts them; 0 for an unknown
   * or already erased user. Co-view counts stay: they count pairs of products over all users and
   * name no user.
   */
  eraseUser(userId: string): Promise<{ events: number }>;
  /** Every stored event of the user, oldest first (`[]` for an unknown one). */
  getAllEventsByUserId(userId: string): Promise<{ eventId: string; sku: string; type: BehaviorEvent['type']; occurredAt: number }[]>;
  isEmpty(): Promise<boolean>;
  seed(events: Iterable<DemoEvent>): Promise<number>;
}

/**
 * Creates the behaviour store on `db`. Two events of one user within `sessionMs` of each other, on
 * different products, are a co-view; each ordered pair counts once, whether it arrived at seeding
 * or later through ingestion, and in whatever order the events arrive.
 */
export function createBehaviorStore(backend: StoreBackend, options: { sessionMs: number }): BehaviorStore {
  return backend.kind === 'postgres' ? createPostgresBehaviorStore(backend.db, options) : asAsync<BehaviorStore>(createSqliteBehaviorStore(backend.db, options));
}

/** The behaviour store on SQLite. */
function createSqliteBehaviorStore(db: Database, options: { sessionMs: number }): Synchronous<BehaviorStore> {
  const { sessionMs } = options;
  const eventsByUsers = db.statement<{ user_id: string; sku: string; type: BehaviorEvent['type']; occurred_at: number }>(
    'getEventsByUserIds',
    `SELECT user_id, sku, type, occurred_at FROM events
     WHERE user_id IN (SELECT value FROM json_each(?)) AND occurred_at BETWEEN ? AND ?`,
  );
  const coViewsBySkus = db.statement<{ sku_a: string; sku_b: string; n: number }>(
    'getCoViewsBySkus',
    'SELECT sku_a, sku_b, n FROM coviews WHERE sku_a IN (SELECT value FROM json_each(?)) ORDER BY sku_a, n DESC, sku_b',
  );
  // Views only: a click in an email opens the product's page, which web analytics reports as a VIEW
  // too, so counting clicks as well would count that one visit twice.
  const trending = db.statement<{ sku: string; views: number }>(
    'getTrendingRanking',
    `SELECT sku, COUNT(*) AS views FROM events WHERE type = 'VIEW' AND occurred_at BETWEEN ? AND ?
     GROUP BY sku ORDER BY views DESC, sku LIMIT ?`,
  );
  const knownEventIds = db.statement<{ event_id: string }>(
    'getKnownEventIds',
    'SELECT event_id FROM events WHERE event_id IN (SELECT value FROM json_each(?))',
  );
  const lastRowid = db.statement<{ id: number | null }>('getLastEventRowid', 'SELECT MAX(rowid) AS id FROM events');
  // The co-views of a batch in one statement: every event inserted after rowid `?` pairs with each
  // event of the same user within the session that came before it (an older row, or one earlier in the
  // batch), both ways. That is what counting each arriving event against the stored ones gives, one
  // pair of events once, in whatever order the events arrive.
  const addBatchCoViews = db.statement(
    'addBatchCoViews',
    `WITH pairs AS MATERIALIZED (
       SELECT a.sku AS x, b.sku AS y, COUNT(*) AS n FROM events a
       JOIN events b ON b.user_id = a.user_id AND b.occurred_at BETWEEN a.occurred_at - ? AND a.occurred_at + ?
       WHERE a.rowid > ? AND a.type <> 'PURCHASE' AND b.type <> 'PURCHASE' AND b.sku <> a.sku AND b.rowid < a.rowid
       GROUP BY a.sku, b.sku
     )
     INSERT INTO coviews (sku_a, sku_b, n)
     SELECT sku_a, sku_b, SUM(n) FROM (SELECT x AS sku_a, y AS sku_b, n FROM pairs UNION ALL SELECT y, x, n FROM pairs)
     WHERE true GROUP BY sku_a, sku_b
     ON CONFLICT(sku_a, sku_b) DO UPDATE SET n = n + excluded.n`,
  );
  const insertEvent = db.statement(
    'insertEvent',
    'INSERT INTO events (event_id, user_id, sku, type, occurred_at) VALUES (?, ?, ?, ?, ?)',
  );
  const deleteEventsOfUser = db.statement('deleteEventsOfUser', 'DELETE FROM events WHERE user_id = ?');
  const allEventsByUserId = db.statement<{ event_id: string; sku: string; type: BehaviorEvent['type']; occurred_at: number }>(
    'getAllEventsByUserId',
    'SELECT event_id, sku, type, occurred_at FROM events WHERE user_id = ? ORDER BY occurred_at, event_id',
  );
  const anyEvent = db.statement<{ n: number }>('countEvents', 'SELECT COUNT(*) AS n FROM (SELECT 1 FROM events LIMIT 1)');

  const store: Synchronous<BehaviorStore> = {
    getEventsByUserIds(userIds, since, until) {
      const byUser = new Map<string, BehaviorEvent[]>();
      for (const row of eventsByUsers.all(JSON.stringify(userIds), since, until)) {
        let list = byUser.get(row.user_id);
        if (!list) byUser.set(row.user_id, (list = []));
        list.push({ sku: row.sku, type: row.type, occurredAt: row.occurred_at });
      }
      return byUser;
    },
    getCoViewsBySkus(skus, perSku) {
      const bySku = new Map<string, CoView[]>();
      for (const row of coViewsBySkus.all(JSON.stringify(skus))) {
        let list = bySku.get(row.sku_a);
        if (!list) bySku.set(row.sku_a, (list = []));
        if (list.length < perSku) list.push({ sku: row.sku_b, count: row.n });
      }
      return bySku;
    },
    getTrendingRanking(since, until, limit) {
      return trending.all(since, until, limit);
    },
    trackEvents(events) {
      return store.trackEventBatches([events])[0];
    },
    trackEventBatches(batches) {
      return db.transaction(() => {
        const known = new Set(knownEventIds.all(JSON.stringify(batches.flatMap((events) => events.map((e) => e.eventId)))).map((r) => r.event_id));
        // Rows inserted in this transaction get rowids above every stored one (SQLite's rowid is the
        // largest plus one), so `rowid > before` picks out exactly these batches' events.
        const before = lastRowid.get()!.id ?? 0;
        let inserted = 0;
        const results = batches.map((events) => {
          let accepted = 0;
          let duplicates = 0;
          for (const event of events) {
            if (known.has(event.eventId)) {
              duplicates++;
              continue;
            }
            known.add(event.eventId);
            insertEvent.run(event.eventId, event.userId, event.sku, event.type, event.occurredAt);
            accepted++;
          }
          inserted += accepted;
          return { accepted, duplicates, stale: 0 };
        });
        // Once for all the batches: a pair of events counts once whichever batch brought either.
        if (inserted > 0) addBatchCoViews.run(sessionMs, sessionMs, before);
        return results;
      });
    },
    eraseUser(userId) {
      return db.transaction(() => ({ events: deleteEventsOfUser.run(userId).changes }));
    },
    getAllEventsByUserId(userId) {
      return allEventsByUserId.all(userId).map((row) => ({ eventId: row.event_id, sku: row.sku, type: row.type, occurredAt: row.occurred_at }));
    },
    isEmpty: () => anyEvent.get()!.n === 0,
    seed(events) {
      let count = 0;
      db.transaction(() => {
        const before = lastRowid.get()!.id ?? 0;
        const insert = db.raw.prepare('INSERT OR IGNORE INTO events (event_id, user_id, sku, type, occurred_at) VALUES (?, ?, ?, ?, ?)');
        for (const e of events) {
          insert.run(e.eventId, e.userId, e.sku, e.type, e.occurredAt);
          count++;
        }
        // The seeded events' co-views, counted by the statement ingestion counts a batch's with.
        addBatchCoViews.run(sessionMs, sessionMs, before);
      });
      return count;
    },
  };
  return store;
}
