import { Counter } from 'prom-client';
import { z } from 'zod';
import { counterTotal } from '../kit/metrics';
import { GROUP_MAX_ITEMS, type IngestResult, createIngestor } from '../subgraphs/kit/ingest';
import type { IngestAuth } from '../subgraphs/kit/ingestAuth';
import { createSubgraphMetrics } from '../subgraphs/kit/subgraphMetrics';
import { product, user } from './support/fixtures';
import { type InProcessStack, startInProcessStack } from './support/inProcessStack';

const TRACK = 'mutation($events: [BrowsingEventInput!]!) { trackEvents(events: $events) { accepted duplicates stale } }';
const RECORD = 'mutation($levels: [StockLevelInput!]!) { recordStockLevels(levels: $levels) { accepted duplicates stale } }';
const UPSERT = 'mutation($users: [UserInput!]!) { upsertUsers(users: $users) { accepted duplicates stale } }';

async function post(url: string, body: string) {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  return { status: response.status, body: (await response.json()) as any };
}

describe('ingestion', () => {
  let stack: InProcessStack;
  let now: number;
  const iso = (ms: number) => new Date(ms).toISOString();
  beforeEach(async () => {
    stack = await startInProcessStack();
    now = stack.clock.now();
    await stack.stock.store.seed([product('A1', 5), product('A2', 3)]);
    await stack.crm.store.seed([user('u1')]);
  });
  afterEach(() => stack.close());

  const stockOf = async (sku: string) => (await stack.query(`{ product(sku: "${sku}") { stock { available updatedAt } } }`)).body.data.product.stock;

  describe('a batch with an invalid item', () => {
    it('is refused whole over GraphQL, naming each bad item, and nothing is applied', async () => {
      const res = await stack.query(RECORD, {
        levels: [
          { sku: 'A1', available: 1, observedAt: iso(now + 1000) },
          { sku: 'NOPE', available: 1, observedAt: iso(now + 1000) },
          { sku: 'A2', available: -4, observedAt: iso(now + 1000) },
        ],
      });
      expect(res.body).toEqual({
        data: null,
        errors: [
          {
            message: 'The stock batch was refused: 2 items are invalid, and nothing was applied.',
            path: ['recordStockLevels'],
            extensions: {
              code: 'BAD_USER_INPUT',
              items: [
                { index: 1, field: 'sku', reason: 'no product has sku "NOPE"' },
                { index: 2, field: 'available', reason: 'available must be 0 or more' },
              ],
              serviceName: 'stock',
            },
          },
        ],
      });
      expect((await stockOf('A1')).available).toBe(5);
    });

    it('is refused whole over HTTP with 400 and every bad item, and nothing is applied', async () => {
      const res = await post(
        `${stack.urls.behavior}/ingest/events`,
        JSON.stringify([
          { eventId: 'e1', userId: 'u1', sku: 'A1', type: 'VIEW', occurredAt: iso(now - 1000) },
          { eventId: 'e2', userId: 'u1', sku: 'A1', type: 'HOVER', occurredAt: iso(now - 1000) },
          { eventId: 'e3', userId: 'u1', sku: 'A1', type: 'VIEW', occurredAt: 'yesterday' },
          { eventId: 'e4', userId: 'u1', sku: 'A1', type: 'VIEW', occurredAt: iso(now + 3_600_000) },
          { eventId: 'e5', userId: 'u1', sku: 'A1', type: 'VIEW', occurredAt: iso(now), extra: 1 },
        ]),
      );
      expect(res).toEqual({
        status: 400,
        body: {
          error: {
            code: 'BAD_USER_INPUT',
            message: 'The events batch was refused: 4 items are invalid, and nothing was applied.',
            items: [
              { index: 1, field: 'type', reason: 'type must be one of VIEW, ADD_TO_CART, PURCHASE, CLICK' },
              { index: 2, field: 'occurredAt', reason: 'must be an ISO-8601 date and time with a time zone, e.g. "2026-11-28T09:30:00Z"' },
              { index: 3, field: 'occurredAt', reason: 'occurredAt is more than 300 s in the future (the allowed clock skew, TAILOR_MAX_CLOCK_SKEW_SECONDS)' },
              { index: 4, reason: 'Unrecognized key: "extra"' },
            ],
          },
        },
      });
      const recent = await stack.query('{ user(id: "u1") { recentlyViewed { product { sku } } } }');
      expect(recent.body).toEqual({ data: { user: { recentlyViewed: [] } } });
    });

    it('refuses users with a conflicting email, naming the item', async () => {
      await stack.crm.store.seed([user('u2')]);
      const res = await post(`${stack.urls.crm}/ingest/users`, JSON.stringify({ users: [{ id: 'u3', email: 'new@example.com' }, { id: 'u4', email: 'U2@example.com' }] }));
      expect(res).toEqual({
        status: 400,
        body: {
          error: {
            code: 'BAD_USER_INPUT',
            message: 'The users batch was refused: 1 item is invalid, and nothing was applied.',
            items: [{ index: 1, field: 'email', reason: 'email belongs to another user (u2)' }],
          },
        },
      });
      expect((await stack.query('{ user(id: "u3") { id } }')).body).toEqual({ data: { user: null } });
    });
  });

  describe('events', () => {
    it('count a replayed eventId once, as a duplicate', async () => {
      const events = [{ eventId: 'e1', userId: 'u1', sku: 'A1', type: 'VIEW', occurredAt: iso(now - 60_000) }];
      expect((await stack.query(TRACK, { events })).body).toEqual({ data: { trackEvents: { accepted: 1, duplicates: 0, stale: 0 } } });
      expect((await stack.query(TRACK, { events: [...events, ...events] })).body).toEqual({ data: { trackEvents: { accepted: 0, duplicates: 2, stale: 0 } } });
      const res = await post(`${stack.urls.behavior}/ingest/events`, JSON.stringify({ events }));
      expect(res).toEqual({ status: 200, body: { accepted: 0, duplicates: 1, stale: 0 } });
    });

    it('refuse an eventId that is not well-formed Unicode, naming the item, however often it is replayed', async () => {
      const events = [{ eventId: 'x\ud800', userId: 'u1', sku: 'A1', type: 'VIEW', occurredAt: iso(now - 60_000) }];
      for (let attempt = 0; attempt < 2; attempt++) {
        const res = await post(`${stack.urls.behavior}/ingest/events`, JSON.stringify(events));
        expect(res).toEqual({
          status: 400,
          body: {
            error: {
              code: 'BAD_USER_INPUT',
              message: 'The events batch was refused: 1 item is invalid, and nothing was applied.',
              items: [{ index: 0, field: 'eventId', reason: 'must be well-formed Unicode text (it holds a lone UTF-16 surrogate)' }],
            },
          },
        });
      }
      expect((await stack.query('{ user(id: "u1") { recentlyViewed { product { sku } } } }')).body).toEqual({ data: { user: { recentlyViewed: [] } } });
    });

    it('take a CLICK over HTTP and as trackEvents, each counted once however often it is replayed', async () => {
      const overHttp = { eventId: 'c1', userId: 'u1', sku: 'A1', type: 'CLICK', occurredAt: iso(now - 60_000) };
      const viaMutation = { eventId: 'c2', userId: 'u1', sku: 'A2', type: 'CLICK', occurredAt: iso(now - 30_000) };
      expect(await post(`${stack.urls.behavior}/ingest/events`, JSON.stringify([overHttp]))).toEqual({ status: 200, body: { accepted: 1, duplicates: 0, stale: 0 } });
      expect((await stack.query(TRACK, { events: [viaMutation] })).body).toEqual({ data: { trackEvents: { accepted: 1, duplicates: 0, stale: 0 } } });
      expect((await stack.query(TRACK, { events: [overHttp, viaMutation] })).body).toEqual({ data: { trackEvents: { accepted: 0, duplicates: 2, stale: 0 } } });
      expect(await post(`${stack.urls.behavior}/ingest/events`, JSON.stringify({ events: [viaMutation] }))).toEqual({ status: 200, body: { accepted: 0, duplicates: 1, stale: 0 } });
      const recent = await stack.query('{ user(id: "u1") { recentlyViewed { product { sku } } } }');
      expect(recent.body).toEqual({ data: { user: { recentlyViewed: [{ product: { sku: 'A2' } }, { product: { sku: 'A1' } }] } } });
    });

    it('refuse a CLICK from beyond the allowed clock skew with the rest of its batch', async () => {
      const res = await post(
        `${stack.urls.behavior}/ingest/events`,
        JSON.stringify([
          { eventId: 'c1', userId: 'u1', sku: 'A1', type: 'CLICK', occurredAt: iso(now - 1000) },
          { eventId: 'c2', userId: 'u1', sku: 'A2', type: 'CLICK', occurredAt: iso(now + 3_600_000) },
        ]),
      );
      expect(res).toEqual({
        status: 400,
        body: {
          error: {
            code: 'BAD_USER_INPUT',
            message: 'The events batch was refused: 1 item is invalid, and nothing was applied.',
            items: [{ index: 1, field: 'occurredAt', reason: 'occurredAt is more than 300 s in the future (the allowed clock skew, TAILOR_MAX_CLOCK_SKEW_SECONDS)' }],
          },
        },
      });
      expect((await stack.query('{ user(id: "u1") { recentlyViewed { product { sku } } } }')).body).toEqual({ data: { user: { recentlyViewed: [] } } });
    });

    it('sent at once, are each answered as if alone, a bad one refused alone, and committed together when ready together', async () => {
      const view = (eventId: string, sku: string, ago: number) => ({ eventId, userId: 'u1', sku, type: 'VIEW', occurredAt: iso(now - ago) });
      const transactions = () => counterTotal(stack.behavior.definition.metrics.dbStatements as Counter<string>, { statement: 'getLastEventRowid' });
      const answers = await Promise.all([
        post(`${stack.urls.behavior}/ingest/events`, JSON.stringify([view('p1', 'A1', 50_000), view('p2', 'A2', 40_000)])),
        post(`${stack.urls.behavior}/ingest/events`, JSON.stringify([view('p3', 'A1', 30_000), view('p3', 'A1', 30_000)])),
        post(`${stack.urls.behavior}/ingest/events`, JSON.stringify([view('p4', 'A2', 20_000), { ...view('p5', 'A1', 10_000), type: 'LOOK' }])),
        stack.query(TRACK, { events: [view('p6', 'A2', 5_000)] }),
      ]);
      expect(answers.slice(0, 3)).toEqual([
        { status: 200, body: { accepted: 2, duplicates: 0, stale: 0 } },
        { status: 200, body: { accepted: 1, duplicates: 1, stale: 0 } },
        {
          status: 400,
          body: {
            error: {
              code: 'BAD_USER_INPUT',
              message: 'The events batch was refused: 1 item is invalid, and nothing was applied.',
              items: [{ index: 1, field: 'type', reason: 'type must be one of VIEW, ADD_TO_CART, PURCHASE, CLICK' }],
            },
          },
        },
      ]);
      expect(answers[3].body).toEqual({ data: { trackEvents: { accepted: 1, duplicates: 0, stale: 0 } } });
      expect((await stack.behavior.store.getAllEventsByUserId('u1')).map((e) => e.eventId)).toEqual(['p1', 'p2', 'p3', 'p6']);
      // Made ready in one turn of the event loop (as batches read while a commit holds the process),
      // batches share one transaction: SQLite reads the last rowid once per transaction.
      const [events] = stack.behavior.definition.ingestors;
      const before = await transactions();
      const grouped = await Promise.all([events.ingest([view('q1', 'A1', 4_000)]), events.ingest([view('q1', 'A1', 4_000), view('q2', 'A2', 3_000)]), events.ingest([view('q3', 'A2', 2_000)])]);
      expect(grouped).toEqual([
        { accepted: 1, duplicates: 0, stale: 0 },
        { accepted: 1, duplicates: 1, stale: 0 },
        { accepted: 1, duplicates: 0, stale: 0 },
      ]);
      expect((await transactions()) - before).toBe(1);
    });

    it('are visible to the very next query', async () => {
      await post(`${stack.urls.behavior}/ingest/events`, JSON.stringify([{ eventId: 'e9', userId: 'u1', sku: 'A2', type: 'VIEW', occurredAt: iso(now - 1000) }]));
      const res = await stack.query('{ user(id: "u1") { recentlyViewed { product { sku } } } }');
      expect(res.body).toEqual({ data: { user: { recentlyViewed: [{ product: { sku: 'A2' } }] } } });
    });
  });

  describe('stock levels', () => {
    it('ignore an observation older than the stored one, as stale', async () => {
      const newer = { sku: 'A1', available: 9, observedAt: iso(now + 10_000) };
      const older = { sku: 'A1', available: 1, observedAt: iso(now + 5_000) };
      expect((await stack.query(RECORD, { levels: [newer] })).body).toEqual({ data: { recordStockLevels: { accepted: 1, duplicates: 0, stale: 0 } } });
      expect((await stack.query(RECORD, { levels: [older, newer] })).body).toEqual({ data: { recordStockLevels: { accepted: 0, duplicates: 1, stale: 1 } } });
      expect(await stockOf('A1')).toEqual({ available: 9, updatedAt: iso(now + 10_000) });
    });

    it('refuse an observation from beyond the allowed clock skew, so a real update after it is applied', async () => {
      const future = { sku: 'A1', available: 7, observedAt: '9999-12-31T00:00:00Z' };
      const res = await stack.query(RECORD, { levels: [future] });
      expect(res.body).toEqual({
        data: null,
        errors: [
          {
            message: 'The stock batch was refused: 1 item is invalid, and nothing was applied.',
            path: ['recordStockLevels'],
            extensions: {
              code: 'BAD_USER_INPUT',
              items: [{ index: 0, field: 'observedAt', reason: 'observedAt is more than 300 s in the future (the allowed clock skew, TAILOR_MAX_CLOCK_SKEW_SECONDS)' }],
              serviceName: 'stock',
            },
          },
        ],
      });
      const soldOut = { sku: 'A1', available: 0, observedAt: iso(now) };
      expect((await stack.query(RECORD, { levels: [soldOut] })).body).toEqual({ data: { recordStockLevels: { accepted: 1, duplicates: 0, stale: 0 } } });
      expect(await stockOf('A1')).toEqual({ available: 0, updatedAt: iso(now) });
      // Within the skew is accepted: another system's clock may run a little fast.
      const early = { sku: 'A1', available: 4, observedAt: iso(now + 240_000) };
      expect((await stack.query(RECORD, { levels: [early] })).body).toEqual({ data: { recordStockLevels: { accepted: 1, duplicates: 0, stale: 0 } } });
    });

    it('apply in order within a batch, so a late item in the same batch is stale too', async () => {
      const res = await post(
        `${stack.urls.stock}/ingest/stock`,
        JSON.stringify([
          { sku: 'A2', available: 0, observedAt: iso(now + 2_000) },
          { sku: 'A2', available: 8, observedAt: iso(now + 1_000) },
        ]),
      );
      expect(res).toEqual({ status: 200, body: { accepted: 1, duplicates: 0, stale: 1 } });
      expect((await stockOf('A2')).available).toBe(0);
    });
  });

  describe('users', () => {
    it('are created with no consent by default, and an unchanged replay is a duplicate', async () => {
      const users = [{ id: 'u9', email: 'u9@example.com', firstName: 'Nine' }];
      expect((await stack.query(UPSERT, { users })).body).toEqual({ data: { upsertUsers: { accepted: 1, duplicates: 0, stale: 0 } } });
      expect((await stack.query(UPSERT, { users })).body).toEqual({ data: { upsertUsers: { accepted: 0, duplicates: 1, stale: 0 } } });
      const res = await stack.query('{ userByEmail(email: "U9@EXAMPLE.com") { id firstName locale loyaltyTier consent { email personalization } } }');
      expect(res.body).toEqual({
        data: { userByEmail: { id: 'u9', firstName: 'Nine', locale: 'en-GB', loyaltyTier: 'NONE', consent: { email: false, personalization: false } } },
      });
    });

    it('refuses updateConsent for an unknown user with BAD_USER_INPUT', async () => {
      const res = await stack.query('mutation { updateConsent(userId: "ghost", email: true) { email } }');
      expect(res.body).toEqual({
        data: null,
        errors: [
          {
            message: 'Argument "userId": no user has id "ghost".',
            path: ['updateConsent'],
            extensions: { code: 'BAD_USER_INPUT', argument: 'userId', serviceName: 'crm' },
          },
        ],
      });
    });
  });

  describe('HTTP bodies', () => {
    it('answer malformed JSON with 400', async () => {
      expect(await post(`${stack.urls.stock}/ingest/stock`, '{"sku": ')).toEqual({
        status: 400,
        body: { error: { code: 'BAD_USER_INPUT', message: 'The request body is not valid JSON.' } },
      });
    });

    it('count the items refused, not their problems, and name every problem', async () => {
      const res = await post(`${stack.urls.stock}/ingest/stock`, JSON.stringify([{ sku: 5, available: 'x', observedAt: 'y' }]));
      expect(res.status).toBe(400);
      expect(res.body.error.message).toBe('The stock batch was refused: 1 item is invalid, and nothing was applied.');
      expect(res.body.error.items.map((i: { field: string }) => i.field)).toEqual(['sku', 'available', 'observedAt']);
    });

    it('refuse a body nested thousands of levels deep with 400, like any other bad item', async () => {
      const deep = `${'['.repeat(50_000)}${']'.repeat(50_000)}`;
      const res = await post(`${stack.urls.stock}/ingest/stock`, `[{"sku": "A1", "available": ${deep}, "observedAt": "${iso(now)}"}]`);
      expect(res).toEqual({
        status: 400,
        body: {
          error: {
            code: 'BAD_USER_INPUT',
            message: 'The stock batch was refused: 1 item is invalid, and nothing was applied.',
            items: [{ index: 0, field: 'available', reason: 'available must be a number' }],
          },
        },
      });
    });

    it('answer a body that is not a list of items with 400', async () => {
      expect(await post(`${stack.urls.stock}/ingest/stock`, '{"levels": 3}')).toEqual({
        status: 400,
        body: { error: { code: 'BAD_USER_INPUT', message: 'The stock batch must be a JSON array of items, or an object with a "stock" array.' } },
      });
    });
  });
});

describe('ingestion size limits', () => {
  let stack: InProcessStack;
  beforeAll(async () => {
    stack = await startInProcessStack({ env: { TAILOR_INGEST_MAX_ITEMS: '3', TAILOR_INGEST_MAX_BYTES: '2048' } });
    await stack.stock.store.seed([product('A1', 5)]);
  });
  afterAll(() => stack.close());

  const level = { sku: 'A1', available: 1, observedAt: '2026-11-28T12:00:00Z' };

  it('answer a body over the byte limit with 413', async () => {
    const res = await post(`${stack.urls.stock}/ingest/stock`, JSON.stringify([{ ...level, pad: 'x'.repeat(4096) }]));
    expect(res).toEqual({
      status: 413,
      body: { error: { code: 'BATCH_TOO_LARGE', message: 'Request body is larger than the limit of 2048 bytes. Split the stock batch into smaller ones.', limitBytes: 2048 } },
    });
  });

  it('answer a batch over the item limit with 413 over HTTP and BATCH_TOO_LARGE over GraphQL', async () => {
    const levels = [level, level, level, level];
    expect(await post(`${stack.urls.stock}/ingest/stock`, JSON.stringify(levels))).toEqual({
      status: 413,
      body: { error: { code: 'BATCH_TOO_LARGE', message: 'The stock batch has 4 items; the limit is 3. Split it into smaller batches.', limit: 3, size: 4 } },
    });
    const res = await stack.query(RECORD, { levels });
    expect(res.body.errors?.[0].extensions).toEqual({ code: 'BATCH_TOO_LARGE', limit: 3, size: 4, serviceName: 'stock' });
  });
});

describe('batches applied in groups (createIngestor with applyGroup)', () => {
  const result = (accepted: number): IngestResult => ({ accepted, duplicates: 0, stale: 0 });
  /** An ingestor of numbers whose group apply and single apply are recorded, and fail as `fails` says. */
  function numbers(fails: { group?: boolean; alone?: (items: number[]) => boolean } = {}) {
    const groups: number[][][] = [];
    const alone: number[][] = [];
    const ingestor = createIngestor<number>({
      kind: 'numbers',
      itemSchema: z.number(),
      apply: async (items) => {
        alone.push(items);
        if (fails.alone?.(items)) throw new Error(`cannot apply ${items.join(',')}`);
        return result(items.length);
      },
      applyGroup: async (batches) => {
        groups.push(batches);
        if (fails.group) throw new Error('the group failed');
        return batches.map((b) => result(b.length));
      },
      maxItems: GROUP_MAX_ITEMS,
      maxBodyBytes: 1 << 20,
      metrics: createSubgraphMetrics('test'),
      auth: {} as IngestAuth,
    });
    return { ingestor, groups, alone };
  }

  it('applies the batches ready together as one group, in arrival order, each caller getting its own result', async () => {
    const { ingestor, groups, alone } = numbers();
    expect(await Promise.all([ingestor.ingest([1]), ingestor.ingest([2, 3]), ingestor.ingest([4, 5, 6])])).toEqual([result(1), result(2), result(3)]);
    expect(groups).toEqual([[[1], [2, 3], [4, 5, 6]]]);
    expect(alone).toEqual([]);
    // One batch on its own is applied alone.
    expect(await ingestor.ingest([7])).toEqual(result(1));
    expect(alone).toEqual([[7]]);
  });

  it('applies each batch alone when the group fails, so that only a batch that fails alone is refused', async () => {
    const { ingestor, groups, alone } = numbers({ group: true, alone: (items) => items.includes(2) });
    const answers = await Promise.allSettled([ingestor.ingest([1]), ingestor.ingest([2]), ingestor.ingest([3])]);
    expect(answers).toEqual([
      { status: 'fulfilled', value: result(1) },
      { status: 'rejected', reason: new Error('cannot apply 2') },
      { status: 'fulfilled', value: result(1) },
    ]);
    expect(groups).toEqual([[[1], [2], [3]]]);
    expect(alone).toEqual([[1], [2], [3]]);
  });

  it('holds at most GROUP_MAX_ITEMS items in one group', async () => {
    const { ingestor, groups } = numbers();
    const half = Array.from({ length: GROUP_MAX_ITEMS / 2 }, (_, i) => i);
    await Promise.all([ingestor.ingest(half), ingestor.ingest(half), ingestor.ingest(half), ingestor.ingest([1])]);
    expect(groups.map((g) => g.map((b) => b.length))).toEqual([[GROUP_MAX_ITEMS / 2, GROUP_MAX_ITEMS / 2], [GROUP_MAX_ITEMS / 2, 1]]);
  });

  it('cannot be made with a check as well', () => {
    expect(() =>
      createIngestor<number>({
        kind: 'numbers',
        itemSchema: z.number(),
        check: () => [],
        apply: async (items) => result(items.length),
        applyGroup: async (batches) => batches.map((b) => result(b.length)),
        maxItems: 10,
        maxBodyBytes: 1024,
        metrics: createSubgraphMetrics('test'),
        auth: {} as IngestAuth,
      }),
    ).toThrow('The numbers ingestor cannot both check batches against the store and apply them in groups');
  });
});
