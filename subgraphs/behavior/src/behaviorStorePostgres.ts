import type { DemoEvent } from '../../../demo/demoData';
import type { IngestResult } from '../../kit/ingest';
import type { PgDatabase, PgExecutor } from '../../kit/postgres';
import type { BehaviorStore, EventInput } from './behaviorStore';
import type { BehaviorEvent, CoView } from './signals';

// The behaviour store on PostgreSQL: the same events and co-view counts as the SQLite store, with a
// batch's reads and writes set-based: one statement per kind, whatever the batch's size.

type EventType = BehaviorEvent['type'];

/** Rows per `unnest` statement when seeding. */
const SEED_CHUNK = 5_000;

const INSERT_EVENTS = `
INSERT INTO events (event_id, user_id, sku, type, occurred_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[])
ON CONFLICT (event_id) DO NOTHING`;

/**
 * The stored session neighbours of each new event `idx`: the user's other non-purchase events within
 * `±$5` ms on another SKU, counted by SKU. The batch's own new events (`$6`) are left out: those are
 * counted in order, in JS, as the SQLite store sees them one insert at a time.
 */
const SESSION_NEIGHBOURS = `
SELECT c.idx, e.sku, COUNT(*) AS n
FROM unnest($1::integer[], $2::text[], $3::text[], $4::bigint[]) AS c(idx, user_id, sku, occurred_at)
JOIN events e ON e.user_id = c.user_id AND e.type <> 'PURCHASE'
  AND e.occurred_at BETWEEN c.occurred_at - $5::bigint AND c.occurred_at + $5::bigint
  AND e.sku <> c.sku
WHERE e.event_id <> ALL($6::text[])
GROUP BY c.idx, e.sku`;

const ADD_COVIEWS = `
INSERT INTO coviews (sku_a, sku_b, n)
SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
ON CONFLICT (sku_a, sku_b) DO UPDATE SET n = coviews.n + excluded.n`;

/** The same pairs the ingestion path counts event by event, counted in one pass (as the SQLite seed). */
const SEED_COVIEWS = `
INSERT INTO coviews (sku_a, sku_b, n)
SELECT a.sku, b.sku, COUNT(*) FROM events a
JOIN events b ON b.user_id = a.user_id AND b.occurred_at BETWEEN a.occurred_at - $1::bigint AND a.occurred_at + $1::bigint
  AND b.sku <> a.sku AND b.type <> 'PURCHASE'
WHERE a.type <> 'PURCHASE'
GROUP BY a.sku, b.sku`;

/**
 * The events of a batch the store has not seen, in batch order: the first of each `eventId` not in
 * `known`. Every other item is a duplicate (a replay, or a repeat within the batch).
 */
function newEventsOf(events: readonly EventInput[], known: ReadonlySet<string>): EventInput[] {
  const seen = new Set(known);
  const fresh: EventInput[] = [];
  for (const event of events) {
    if (seen.has(event.eventId)) continue;
    seen.add(event.eventId);
    fresh.push(event);
  }
  return fresh;
}

/** Co-view counts to add, by ordered pair of SKUs. */
class CoViewTally {
  private readonly counts = new Map<string, Map<string, number>>();
  /** Counts `n` co-views of `a` with `b`, both ways. */
  addBothWays(a: string, b: string, n: number): void {
    this.add(a, b, n);
    this.add(b, a, n);
  }
  private add(a: string, b: string, n: number): void {
    let row = this.counts.get(a);
    if (!row) this.counts.set(a, (row = new Map()));
    row.set(b, (row.get(b) ?? 0) + n);
  }
  /** Every pair, sorted, so that concurrent batches lock the rows they share in one order. */
  rows(): { skuA: string[]; skuB: string[]; n: number[] } {
    const out = { skuA: [] as string[], skuB: [] as string[], n: [] as number[] };
    const byCodeUnit = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
    for (const a of [...this.counts.keys()].sort(byCodeUnit)) {
      const row = this.counts.get(a)!;
      for (const b of [...row.keys()].sort(byCodeUnit)) {
        out.skuA.push(a);
        out.skuB.push(b);
        out.n.push(row.get(b)!);
      }
    }
    return out;
  }
}

/**
 * Counts, for each new non-purchase event, its neighbours among the batch's new events before it:
 * the ones the SQLite store has already inserted when it reads that event's neighbours. `counted`
 * says which events' co-views count (the ones this transaction inserted).
 */
function addInBatchNeighbours(tally: CoViewTally, fresh: readonly EventInput[], sessionMs: number, counted: (event: EventInput) => boolean): void {
  const byUser = new Map<string, EventInput[]>();
  for (const event of fresh) {
    if (event.type === 'PURCHASE') continue;
    let earlier = byUser.get(event.userId);
    if (!earlier) byUser.set(event.userId, (earlier = []));
    if (counted(event)) {
      for (const before of earlier) {
        if (before.sku !== event.sku && Math.abs(before.occurredAt - event.occurredAt) <= sessionMs) tally.addBothWays(event.sku, before.sku, 1);
      }
    }
    earlier.push(event);
  }
}

/** The behaviour store on PostgreSQL (`db`'s schema migrated with `migrations/postgres/`). */
export function createPostgresBehaviorStore(db: PgDatabase, options: { sessionMs: number }): BehaviorStore {
  const { sessionMs } = options;

  /** Records one batch inside the transaction `tx`. */
  async function trackBatch(tx: PgExecutor, events: EventInput[]): Promise<IngestResult> {
    const knownRows = await tx.rows<{ event_id: string }>('getKnownEventIds', 'SELECT event_id FROM events WHERE event_id = ANY($1::text[])', [
      events.map((e) => e.eventId),
    ]);
    const fresh = newEventsOf(
      events,
      new Set(knownRows.map((r) => r.event_id)),
    );
    if (fresh.length === 0) return { accepted: 0, duplicates: events.length, stale: 0 };
    const freshIds = fresh.map((e) => e.eventId);

    // The stored neighbours of every new non-purchase event, read before the batch is inserted.
    const sessionEvents = fresh.map((event, idx) => ({ event, idx })).filter(({ event }) => event.type !== 'PURCHASE');
    const stored = sessionEvents.length
      ? await tx.rows<{ idx: number; sku: string; n: string }>('getSessionNeighbours', SESSION_NEIGHBOURS, [
          sessionEvents.map((s) => s.idx),
          sessionEvents.map((s) => s.event.userId),
          sessionEvents.map((s) => s.event.sku),
          sessionEvents.map((s) => s.event.occurredAt),
          sessionMs,
          freshIds,
        ])
      : [];

    // Only what this transaction inserted counts: a replica racing on the same eventId counts it once.
    const insertedRows = await tx.rows<{ event_id: string }>('insertEvent', `${INSERT_EVENTS} RETURNING event_id`, [
      freshIds,
      fresh.map((e) => e.userId),
      fresh.map((e) => e.sku),
      fresh.map((e) => e.type),
      fresh.map((e) => e.occurredAt),
    ]);
    const inserted = new Set(insertedRows.map((r) => r.event_id));

    const tally = new CoViewTally();
    for (const row of stored) {
      const event = fresh[row.idx];
      if (inserted.has(event.eventId)) tally.addBothWays(event.sku, row.sku, Number(row.n));
    }
    addInBatchNeighbours(tally, fresh, sessionMs, (event) => inserted.has(event.eventId));
    const pairs = tally.rows();
    if (pairs.skuA.length > 0) await tx.run('addCoView', ADD_COVIEWS, [pairs.skuA, pairs.skuB, pairs.n]);

    return { accepted: inserted.size, duplicates: events.length - inserted.size, stale: 0 };
  }

  return {
    async getEventsByUserIds(userIds, since, until) {
      // SQLite answers this from its (user_id, occurred_at) index: by user, then oldest first.
      const rows = await db.rows<{ user_id: string; sku: string; type: EventType; occurred_at: string }>(
        'getEventsByUserIds',
        `SELECT user_id, sku, type, occurred_at FROM events
         WHERE user_id = ANY($1::text[]) AND occurred_at BETWEEN $2 AND $3
         ORDER BY user_id COLLATE "C", occurred_at, event_id COLLATE "C"`,
        [userIds, since, until],
      );
      const byUser = new Map<string, BehaviorEvent[]>();
      for (const row of rows) {
        let list = byUser.get(row.user_id);
        if (!list) byUser.set(row.user_id, (list = []));
        list.push({ sku: row.sku, type: row.type, occurredAt: Number(row.occurred_at) });
      }
      return byUser;
    },
    async getCoViewsBySkus(skus, perSku) {
      const rows = await db.rows<{ sku_a: string; sku_b: string; n: string }>(
        'getCoViewsBySkus',
        'SELECT sku_a, sku_b, n FROM coviews WHERE sku_a = ANY($1::text[]) ORDER BY sku_a COLLATE "C", n DESC, sku_b COLLATE "C"',
        [skus],
      );
      const bySku = new Map<string, CoView[]>();
      for (const row of rows) {
        let list = bySku.get(row.sku_a);
        if (!list) bySku.set(row.sku_a, (list = []));
        if (list.length < perSku) list.push({ sku: row.sku_b, count: Number(row.n) });
      }
      return bySku;
    },
    async getTrendingRanking(since, until, limit) {
      // Views only: a click in an email opens the product's page, which web analytics reports as a
      // VIEW too, so counting clicks as well would count that one visit twice.
      const rows = await db.rows<{ sku: string; views: string }>(
        'getTrendingRanking',
        `SELECT sku, COUNT(*) AS views FROM events WHERE type = 'VIEW' AND occurred_at BETWEEN $1 AND $2
         GROUP BY sku ORDER BY views DESC, sku COLLATE "C" LIMIT $3`,
        [since, until, limit],
      );
      return rows.map((r) => ({ sku: r.sku, views: Number(r.views) }));
    },
    trackEvents(events) {
      return db.transaction((tx) => trackBatch(tx, events));
    },
    trackEventBatches(batches) {
      return db.transaction(async (tx) => {
        // One after the other on one connection: a later batch's reads see what an earlier one wrote.
        const results: IngestResult[] = [];
        for (const events of batches) results.push(await trackBatch(tx, events));
        return results;
      });
    },
    eraseUser(userId) {
      return db.transaction(async (tx) => ({ events: await tx.run('deleteEventsOfUser', 'DELETE FROM events WHERE user_id = $1', [userId]) }));
    },
    async getAllEventsByUserId(userId) {
      const rows = await db.rows<{ event_id: string; sku: string; type: EventType; occurred_at: string }>(
        'getAllEventsByUserId',
        'SELECT event_id, sku, type, occurred_at FROM events WHERE user_id = $1 ORDER BY occurred_at, event_id COLLATE "C"',
        [userId],
      );
      return rows.map((row) => ({ eventId: row.event_id, sku: row.sku, type: row.type, occurredAt: Number(row.occurred_at) }));
    },
    async isEmpty() {
      const [row] = await db.rows<{ n: string }>('countEvents', 'SELECT COUNT(*) AS n FROM (SELECT 1 FROM events LIMIT 1) AS any_event');
      return Number(row.n) === 0;
    },
    seed(events: Iterable<DemoEvent>) {
      return db.transaction(async (tx) => {
        let count = 0;
        let chunk: DemoEvent[] = [];
        const flush = async () => {
          if (chunk.length === 0) return;
          // As the SQLite seed's INSERT OR IGNORE: a repeated eventId keeps its first row.
          await tx.run('seedEvents', INSERT_EVENTS, [
            chunk.map((e) => e.eventId),
            chunk.map((e) => e.userId),
            chunk.map((e) => e.sku),
            chunk.map((e) => e.type),
            chunk.map((e) => e.occurredAt),
          ]);
          chunk = [];
        };
        for (const event of events) {
          chunk.push(event);
          count++;
          if (chunk.length === SEED_CHUNK) await flush();
        }
        await flush();
        await tx.run('seedCoViews', SEED_COVIEWS, [sessionMs]);
        return count;
      });
    },
  };
}
