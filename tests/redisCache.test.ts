import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import type { Counter } from 'prom-client';
import { createLogger } from '../kit/logger';
import { counterTotal } from '../kit/metrics';
import { loadCrmConfig } from '../subgraphs/crm/src/config';
import { type CrmSubgraph, createCrmSubgraph } from '../subgraphs/crm/src/createCrmSubgraph';
import { createCrmLoaders } from '../subgraphs/crm/src/crmLoaders';
import { user } from './support/fixtures';
import { createFakeClock } from './support/fakeClock';
import { REDIS_URL, connectTestRedis, dropKeys, unreachableRedisUrl } from './support/redisServer';

// With TAILOR_REDIS_URL, a subgraph's non-critical caches get a shared Redis tier under their LRUs:
// one replica's store read serves the others, an upsert on one drops the entry in every replica, and
// without Redis the caches fall back to the store.

/** One CRM replica on its own in-memory database, seeded with the same users (as replicas of one database are). */
async function replica(env: Record<string, string>): Promise<CrmSubgraph> {
  const crm = await createCrmSubgraph(
    loadCrmConfig({ env: { TAILOR_DATA_DIR: ':memory:', TAILOR_SEED: 'none', TAILOR_DB_SYNC: 'NORMAL', ...env }, argv: [] }),
    { clock: createFakeClock(), logger: createLogger('crm', 'silent') },
  );
  await crm.store.seed([user('u1'), user('u2')]);
  await crm.profiles.tier?.ready;
  return crm;
}

const statements = (crm: CrmSubgraph) => counterTotal(crm.definition.metrics.dbStatements);
const tierErrors = (crm: CrmSubgraph, operation: string) =>
  counterTotal(crm.definition.metrics.registry.getSingleMetric('tailor_cache_tier_errors_total') as Counter<string>, { operation });
/** A profile read through a fresh request's loaders, as a resolver reads it. */
const read = (crm: CrmSubgraph, id: string) => createCrmLoaders(crm.store, crm.profiles, { batching: true }).userById.load(id);

/** Waits until `crm`'s LRU no longer holds `id`; gives up after 200 checks. */
async function dropped(crm: CrmSubgraph, id: string): Promise<boolean> {
  for (let i = 0; i < 200; i++) {
    if (!crm.profiles.getMany([id]).found.has(id)) return true;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return false;
}

describe('the Redis cache tier', () => {
  let redis: Redis;
  let prefix: string;
  let replicas: CrmSubgraph[];
  beforeAll(async () => {
    redis = await connectTestRedis();
  });
  afterAll(() => redis.quit());
  beforeEach(() => {
    prefix = `tailor-test:${randomUUID()}:`;
    replicas = [];
  });
  afterEach(async () => {
    await Promise.all(replicas.map((crm) => crm.definition.onClose?.()));
    await dropKeys(redis, prefix);
  });

  it("serves one replica's store read to another from Redis, with the cache's TTL", async () => {
    const [a, b] = (replicas = [await replica({ TAILOR_REDIS_URL: REDIS_URL, TAILOR_REDIS_PREFIX: prefix }), await replica({ TAILOR_REDIS_URL: REDIS_URL, TAILOR_REDIS_PREFIX: prefix })]);
    const before = [await statements(a), await statements(b)];
    expect((await read(a, 'u1'))?.firstName).toBe('First u1');
    expect(await statements(a)).toBe(before[0] + 1);

    const ttl = await redis.pttl(`${prefix}crm_user_profile:u1`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(a.profiles.ttlMs);
    expect(await read(b, 'u1')).toEqual(await read(a, 'u1'));
    expect(await statements(b)).toBe(before[1]); // from Redis, not b's store
    expect(b.profiles.getMany(['u1']).found.has('u1')).toBe(true); // and now in b's LRU
    expect(await tierErrors(a, 'get')).toBe(0);
  });

  it("drops the entry from every replica's LRU and from Redis when one replica upserts it", async () => {
    const [a, b] = (replicas = [await replica({ TAILOR_REDIS_URL: REDIS_URL, TAILOR_REDIS_PREFIX: prefix }), await replica({ TAILOR_REDIS_URL: REDIS_URL, TAILOR_REDIS_PREFIX: prefix })]);
    await read(a, 'u1');
    await read(b, 'u1');
    expect(b.profiles.getMany(['u1']).found.has('u1')).toBe(true);

    // One database behind both replicas: b's copy changes too, but only a's upsert touches the caches.
    const renamed = { id: 'u1', email: 'u1@example.com', firstName: 'Renamed' };
    await b.store.upsertUsers([renamed]);
    await a.definition.ingestors![0].ingest([renamed]);
    expect(await dropped(b, 'u1')).toBe(true);
    expect(await redis.exists(`${prefix}crm_user_profile:u1`)).toBe(0);
    expect((await read(b, 'u1'))?.firstName).toBe('Renamed');
    expect((await read(a, 'u1'))?.firstName).toBe('Renamed');
  });

  it('answers from the store, and counts the failures, while Redis cannot be reached', async () => {
    const url = await unreachableRedisUrl();
    const [a] = (replicas = [await replica({ TAILOR_REDIS_URL: url, TAILOR_REDIS_PREFIX: prefix })]);
    const before = await statements(a);
    expect((await read(a, 'u1'))?.firstName).toBe('First u1');
    expect(await statements(a)).toBe(before + 1);
    expect(await tierErrors(a, 'get')).toBe(1);
    expect(await tierErrors(a, 'set')).toBe(1);
    // Deaf to the other replicas' invalidations, the replica keeps nothing in its LRU: every read goes
    // to the store, slower but never stale.
    expect(a.profiles.getMany(['u1']).found.size).toBe(0);
    expect((await read(a, 'u1'))?.firstName).toBe('First u1');
    expect(await statements(a)).toBe(before + 2);
    await a.definition.ingestors![0].ingest([{ id: 'u1', email: 'u1@example.com', firstName: 'Renamed' }]);
    expect((await read(a, 'u1'))?.firstName).toBe('Renamed');
    expect(await tierErrors(a, 'invalidate')).toBe(1);
  });
});
