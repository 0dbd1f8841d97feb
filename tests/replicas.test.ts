import { createLogger } from '../kit/logger';
import { counterTotal } from '../kit/metrics';
import type { RunningService } from '../kit/runService';
import { loadGatewayConfig } from '../gateway/src/config';
import { type RunningGateway, startGateway } from '../gateway/src/startGateway';
import { loadBehaviorConfig } from '../subgraphs/behavior/src/config';
import { type BehaviorSubgraph, createBehaviorSubgraph } from '../subgraphs/behavior/src/createBehaviorSubgraph';
import { loadCrmConfig } from '../subgraphs/crm/src/config';
import { type CrmSubgraph, createCrmSubgraph } from '../subgraphs/crm/src/createCrmSubgraph';
import { loadStockConfig } from '../subgraphs/stock/src/config';
import { type StockSubgraph, createStockSubgraph } from '../subgraphs/stock/src/createStockSubgraph';
import { startSubgraph } from '../subgraphs/kit/subgraphServer';
import { createFakeClock } from './support/fakeClock';
import { DAY, product, user } from './support/fixtures';
import { RELAXED_DEADLINES } from './support/inProcessStack';
import { scrapeMetric } from './support/processStack';
import { type TestDatabase, createTestDatabase } from './support/postgresServer';
import { connectTestRedis, dropKeys } from './support/redisServer';
import { type TcpProxy, startTcpProxy } from './support/tcpProxy';
import { TEST_SUBGRAPH_SECRET } from './support/subgraphSigning';

// Replicas: two of each subgraph on one PostgreSQL database and one Redis, and three gateways over
// them: A routes every subgraph to its replica 1, B to its replica 2, C to both. The freshness cases
// write through A (replicas 1) and read through B (replicas 2); the rotation cases run through C.
// Every process reaches Redis through a TCP proxy, which the outage case cuts ("kills" Redis for
// them) and restores, without touching the machine's Redis that other suites use.

type Name = 'crm' | 'stock' | 'behavior';
type Subgraph = CrmSubgraph | StockSubgraph | BehaviorSubgraph;

const clock = createFakeClock();
const silent = (name: string) => createLogger(name, 'silent');
const prefix = `tailor-test-replicas-${process.pid}-${Date.now()}:`;

let database: TestDatabase;
let redisProxy: TcpProxy;
const replicas: Record<Name, { subgraph: Subgraph; service: RunningService }[]> = { crm: [], stock: [], behavior: [] };
const gateways: Record<'A' | 'B' | 'C', RunningGateway> = {} as never;

function env(): Record<string, string> {
  return {
    TAILOR_SEED: 'none',
    TAILOR_DATABASE_URL: database.url,
    TAILOR_REDIS_URL: `redis://127.0.0.1:${redisProxy.port}`,
    TAILOR_REDIS_PREFIX: prefix,
    TAILOR_SUBGRAPH_SECRET: TEST_SUBGRAPH_SECRET,
    TAILOR_BEHAVIOR_URL: replicas.behavior[0] ? `${replicas.behavior[0].service.url}/graphql` : 'http://127.0.0.1:9/graphql',
  };
}

/** Starts replica `index` of `name` (on `port`, or a free one). */
async function startReplica(name: Name, index: number, port = 0): Promise<void> {
  const source = { env: env(), argv: [] };
  const options = { clock, logger: silent(name) };
  const subgraph =
    name === 'crm'
      ? await createCrmSubgraph(loadCrmConfig(source), options)
      : name === 'stock'
        ? await createStockSubgraph(loadStockConfig(source), options)
        : await createBehaviorSubgraph(loadBehaviorConfig(source), options);
  const service = await startSubgraph(subgraph.definition as never, { host: '127.0.0.1', port, subgraphSecret: loadCrmConfig(source).subgraphSecret });
  replicas[name][index] = { subgraph, service };
}

const urlOf = (name: Name, index: number) => `${replicas[name][index].service.url}/graphql`;

async function startGatewayOver(pick: (name: Name) => string): Promise<RunningGateway> {
  const routes = (['crm', 'stock', 'behavior'] as const).map((name) => `${name}=${pick(name)}`).join(',');
  return startGateway(
    loadGatewayConfig({
      env: {
        ...RELAXED_DEADLINES,
        TAILOR_DATA_DIR: ':memory:',
        TAILOR_SUBGRAPH_SECRET: TEST_SUBGRAPH_SECRET,
        TAILOR_SUBGRAPH_URLS: routes,
        TAILOR_SUBGRAPH_HEALTH_INTERVAL_MS: '100',
        TAILOR_REDIS_URL: `redis://127.0.0.1:${redisProxy.port}`,
        TAILOR_REDIS_PREFIX: prefix,
      },
      argv: ['--port', '0'],
    }),
    silent('gateway'),
    { clock },
  );
}

async function query(gateway: RunningGateway, text: string, variables?: Record<string, unknown>) {
  const response = await fetch(`${gateway.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${gateway.devKey}` },
    body: JSON.stringify({ query: text, variables }),
  });
  return { status: response.status, body: (await response.json()) as { data?: any; errors?: unknown[] } };
}

/** Waits (a bounded poll, not a timing assertion) until the gateway's `/ready` shows `url` up or down. */
async function untilReplica(gateway: RunningGateway, name: Name, url: string, up: boolean): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ready = (await (await fetch(`${gateway.url}/ready`)).json()) as { subgraphs: Record<string, { replicas: { url: string; up: boolean }[] }> };
    if (ready.subgraphs[name].replicas.find((r) => r.url === url)?.up === up) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${url} never became ${up ? 'up' : 'down'} on the gateway`);
}

const consentReads = (index: number) => counterTotal(replicas.crm[index].subgraph.definition.metrics.dbStatements, { statement: 'getConsentsByUserIds' });

beforeAll(async () => {
  database = await createTestDatabase('replicas');
  redisProxy = await startTcpProxy({ host: '127.0.0.1', port: 6379 });
  // Behavior first: stock's trending fetch goes to behavior's replica 1.
  for (const name of ['behavior', 'crm', 'stock'] as const) for (const index of [0, 1]) await startReplica(name, index);
  await (replicas.crm[0].subgraph as CrmSubgraph).store.seed([user('u1'), user('u2')]);
  await (replicas.stock[0].subgraph as StockSubgraph).store.seed([product('A1', 5), product('A2', 8)]);
  gateways.A = await startGatewayOver((name) => urlOf(name, 0));
  gateways.B = await startGatewayOver((name) => urlOf(name, 1));
  gateways.C = await startGatewayOver((name) => `${urlOf(name, 0)}|${urlOf(name, 1)}`);
});

afterAll(async () => {
  // The database and the keys go whatever else failed: runs never leave them behind.
  try {
    await Promise.allSettled(Object.values(gateways).map((g) => g.close()));
    await Promise.allSettled(Object.values(replicas).flat().map((r) => r.service.close()));
    await redisProxy?.close();
    const redis = await connectTestRedis();
    await dropKeys(redis, prefix);
    redis.disconnect();
  } finally {
    await database?.drop();
  }
});

describe('freshness across replicas: written through gateway A and replicas 1, read at once through gateway B and replicas 2', () => {
  it('sees a user upserted on the other replica, though it had the profile in its cache', async () => {
    const READ = '{ user(id: "u1") { firstName consent { email personalization } } }';
    // Replica 2 caches u1's profile (a non-critical field)…
    expect((await query(gateways.B, READ)).body).toEqual({ data: { user: { firstName: 'First u1', consent: { email: true, personalization: true } } } });
    const crm2 = replicas.crm[1].subgraph as CrmSubgraph;
    expect(crm2.profiles.getMany(['u1']).found.has('u1')).toBe(true);
    // …replica 1 takes the change…
    const upsert = await query(gateways.A, 'mutation($users: [UserInput!]!) { upsertUsers(users: $users) { accepted } }', {
      users: [{ id: 'u1', email: 'u1@example.com', firstName: 'Renamed' }],
    });
    expect(upsert.body).toEqual({ data: { upsertUsers: { accepted: 1 } } });
    // …and the very next read through replica 2 has it: the broadcast dropped its entry.
    expect((await query(gateways.B, READ)).body).toEqual({ data: { user: { firstName: 'Renamed', consent: { email: true, personalization: true } } } });
  });

  it('sees consent changed on the other replica', async () => {
    const change = await query(gateways.A, 'mutation { updateConsent(userId: "u2", personalization: false) { personalization } }');
    expect(change.body).toEqual({ data: { updateConsent: { personalization: false } } });
    expect((await query(gateways.B, '{ user(id: "u2") { consent { personalization } } }')).body).toEqual({ data: { user: { consent: { personalization: false } } } });
  });

  it('sees a stock level recorded on the other replica', async () => {
    const READ = '{ product(sku: "A1") { name inStock stock { available } } }';
    expect((await query(gateways.B, READ)).body).toEqual({ data: { product: { name: 'Product A1', inStock: true, stock: { available: 5 } } } });
    const record = await query(gateways.A, 'mutation($levels: [StockLevelInput!]!) { recordStockLevels(levels: $levels) { accepted } }', {
      levels: [{ sku: 'A1', available: 0, observedAt: new Date(clock.now()).toISOString() }],
    });
    expect(record.body).toEqual({ data: { recordStockLevels: { accepted: 1 } } });
    expect((await query(gateways.B, READ)).body).toEqual({ data: { product: { name: 'Product A1', inStock: false, stock: { available: 0 } } } });
  });

  it('sees an event tracked on the other replica', async () => {
    const READ = '{ user(id: "u1") { recentlyViewed { product { sku } } } }';
    expect((await query(gateways.B, READ)).body).toEqual({ data: { user: { recentlyViewed: [] } } });
    const track = await query(gateways.A, 'mutation($events: [BrowsingEventInput!]!) { trackEvents(events: $events) { accepted } }', {
      events: [{ eventId: 'r-1', userId: 'u1', sku: 'A2', type: 'VIEW', occurredAt: new Date(clock.now() - DAY / 24).toISOString() }],
    });
    expect(track.body).toEqual({ data: { trackEvents: { accepted: 1 } } });
    expect((await query(gateways.B, READ)).body).toEqual({ data: { user: { recentlyViewed: [{ product: { sku: 'A2' } }] } } });
  });
});

describe('a gateway routing each subgraph to two replicas', () => {
  const READ = '{ user(id: "u1") { id consent { email } } }';

  it('spreads fetches over both replicas', async () => {
    const before = [await consentReads(0), await consentReads(1)];
    for (let i = 0; i < 6; i++) expect((await query(gateways.C, READ)).status).toBe(200);
    expect((await consentReads(0)) - before[0]).toBe(3);
    expect((await consentReads(1)) - before[1]).toBe(3);
  });

  it('answers every query in full while a replica is down, and takes it back once it answers again', async () => {
    const first = replicas.crm[0];
    const url = urlOf('crm', 0);
    const port = first.service.port;
    await first.service.close();
    // Every answer whole: the attempt that finds replica 1 gone is retried on replica 2, and replica 1 leaves the rotation.
    for (let i = 0; i < 6; i++) expect(await query(gateways.C, READ)).toEqual({ status: 200, body: { data: { user: { id: 'u1', consent: { email: true } } } } });
    await untilReplica(gateways.C, 'crm', url, false);
    expect(await scrapeMetric(gateways.C.url, 'tailor_subgraph_replica_up', { subgraph: 'crm', url })).toBe(0);

    await startReplica('crm', 0, port);
    await untilReplica(gateways.C, 'crm', url, true);
    const before = await consentReads(0);
    for (let i = 0; i < 4; i++) expect((await query(gateways.C, READ)).status).toBe(200);
    expect((await consentReads(0)) - before).toBe(2);
  });
});

describe('Redis killed and restarted', () => {
  const READ = '{ user(id: "u2") { firstName consent { email } } }';
  const crm2 = () => replicas.crm[1].subgraph as CrmSubgraph;
  /** Waits (a bounded poll) until replica 2 of crm is, or is not, subscribed to invalidations. */
  async function untilListening(listening: boolean): Promise<void> {
    for (let i = 0; i < 200; i++) {
      if (crm2().profiles.tier!.listening() === listening) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`crm replica 2 never ${listening ? 'subscribed again' : 'lost its subscription'}`);
  }

  it('answers correctly throughout: from the store while Redis is away, never stale after it returns', async () => {
    // Replica 2 has u2's profile in its LRU and in Redis.
    expect((await query(gateways.B, READ)).body).toEqual({ data: { user: { firstName: 'First u2', consent: { email: true } } } });

    await redisProxy.cut();
    await untilListening(false);
    // Written through replica 1 while no invalidation can be sent: Redis keeps the old entry.
    const during = await query(gateways.A, 'mutation($users: [UserInput!]!) { upsertUsers(users: $users) { accepted } }', {
      users: [{ id: 'u2', email: 'u2@example.com', firstName: 'During' }],
    });
    expect(during).toEqual({ status: 200, body: { data: { upsertUsers: { accepted: 1 } } } });
    // Replica 2 cannot hear invalidations: it reads the store, not its LRU.
    expect(await query(gateways.B, READ)).toEqual({ status: 200, body: { data: { user: { firstName: 'During', consent: { email: true } } } } });

    await redisProxy.restore();
    await untilListening(true);
    // The entry Redis kept from before the outage is of an older epoch: never served.
    expect(await query(gateways.B, READ)).toEqual({ status: 200, body: { data: { user: { firstName: 'During', consent: { email: true } } } } });
    expect(await query(gateways.A, READ)).toEqual({ status: 200, body: { data: { user: { firstName: 'During', consent: { email: true } } } } });
  });
});
