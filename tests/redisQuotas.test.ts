import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import { type Counter, Registry } from 'prom-client';
import { createLogger } from '../kit/logger';
import { counterTotal } from '../kit/metrics';
import { loadGatewayConfig } from '../gateway/src/config';
import { createQuotas, redisLimiter } from '../gateway/src/quotas';
import { type RunningGateway, startGateway } from '../gateway/src/startGateway';
import { user } from './support/fixtures';
import { type InProcessStack, RELAXED_DEADLINES, startInProcessStack } from './support/inProcessStack';
import { TEST_SUBGRAPH_SECRET } from './support/subgraphSigning';
import { REDIS_URL, connectTestRedis, dropKeys, unreachableRedisUrl } from './support/redisServer';

// With TAILOR_REDIS_URL, gateway replicas count each client's quota in one Redis; while Redis cannot be
// reached, TAILOR_QUOTA_FAILURE_MODE says whether a request passes uncounted or is refused with 503.

/** A second gateway replica on the stack's subgraphs, as the stack starts its own. */
async function startReplica(stack: InProcessStack, env: Record<string, string>): Promise<RunningGateway> {
  return startGateway(
    loadGatewayConfig({
      env: {
        ...RELAXED_DEADLINES,
        TAILOR_DATA_DIR: ':memory:',
        TAILOR_SUBGRAPH_SECRET: TEST_SUBGRAPH_SECRET,
        ...env,
        TAILOR_SUBGRAPH_URLS: `crm=${stack.urls.crm}/graphql,stock=${stack.urls.stock}/graphql,behavior=${stack.urls.behavior}/graphql`,
      },
      argv: ['--port', '0'],
    }),
    createLogger('gateway-replica', 'silent'),
  );
}

/** Posts `{ __typename }` (one operation unit) to a gateway with a client key. */
async function typename(gateway: RunningGateway, token: string) {
  const response = await fetch(`${gateway.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: '{ __typename }' }),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as any };
}

const storeErrors = (gateway: RunningGateway, mode: string) =>
  counterTotal(gateway.metrics.registry.getSingleMetric('tailor_quota_store_errors_total') as Counter<string>, { mode });

describe('quotas in Redis', () => {
  let redis: Redis;
  let prefix: string;
  beforeAll(async () => {
    redis = await connectTestRedis();
  });
  afterAll(() => redis.quit());
  beforeEach(() => {
    prefix = `tailor-test:${randomUUID()}:`;
  });
  afterEach(() => dropKeys(redis, prefix));

  it('shares one count between two quota instances with their own Redis connections', async () => {
    const replicas = [new Redis(REDIS_URL), new Redis(REDIS_URL)];
    try {
      const [a, b] = replicas.map((client) => createQuotas({ registry: new Registry(), limiter: redisLimiter(client, prefix) }));
      await Promise.all(replicas.map((client) => new Promise((resolve) => (client.status === 'ready' ? resolve(undefined) : client.once('ready', resolve)))));
      const policy = { ratePerMinute: 4, dailyQuota: 1000 };
      const answers = [];
      for (const quotas of [a, b, a, b, a]) answers.push(await quotas.take('acme', policy, 1));
      expect(answers.map((d) => d.allowed)).toEqual([true, true, true, true, false]);
      expect(answers.map((d) => d.headers.ratelimit?.match(/"minute";r=(\d+)/)?.[1])).toEqual(['3', '2', '1', '0', '0']);
      expect(answers[4]).toMatchObject({ window: 'minute' });
      // The day counted the four taken units only: the refused one was handed back.
      expect(Number(await redis.get(`${prefix}tailor_quota:minute:4:acme`))).toBe(4);
      expect(Number(await redis.get(`${prefix}tailor_quota:day:1000:acme:${new Date().toISOString().slice(0, 10)}`))).toBe(4);
    } finally {
      await Promise.all(replicas.map((client) => client.quit()));
    }
  });

  describe('through two gateway replicas', () => {
    let stack: InProcessStack;
    let replica: RunningGateway | undefined;
    afterEach(async () => {
      await replica?.close();
      replica = undefined;
      await stack.close();
    });

    it('gives a client N answers across both, and the N+1th a 429 with Retry-After', async () => {
      const env = { TAILOR_REDIS_URL: REDIS_URL, TAILOR_REDIS_PREFIX: prefix };
      stack = await startInProcessStack({ gatewayEnv: env });
      replica = await startReplica(stack, env);
      const gateways = [stack.gateway, replica];
      // The same client, with a key on each replica (each has its own key store).
      const [tokenA, tokenB] = gateways.map((g) => g.keys.create({ name: 'braze', scopes: ['recipients:read'], ratePerMinute: 3 }).token);

      const answers = [];
      for (const [gateway, token] of [[stack.gateway, tokenA], [replica, tokenB], [stack.gateway, tokenA]] as const) answers.push(await typename(gateway, token));
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
      expect(answers.map((a) => a.headers.get('ratelimit')?.match(/"minute";r=(\d+)/)?.[1])).toEqual(['2', '1', '0']);

      const fourth = await typename(replica, tokenB);
      expect(fourth.status).toBe(429);
      expect(Number(fourth.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(Number(fourth.headers.get('retry-after'))).toBeLessThanOrEqual(60);
      expect(fourth.body.errors).toEqual([expect.objectContaining({ extensions: expect.objectContaining({ code: 'RATE_LIMITED', window: 'minute' }) })]);
      expect(await storeErrors(stack.gateway, 'open')).toBe(0);
      expect(await storeErrors(replica, 'open')).toBe(0);
    });

    it("drops the other replica's kept answers when one runs a mutation", async () => {
      const env = { TAILOR_REDIS_URL: REDIS_URL, TAILOR_REDIS_PREFIX: prefix };
      stack = await startInProcessStack({ gatewayEnv: env });
      await stack.crm.store.seed([user('u1')]);
      replica = await startReplica(stack, env);
      const other = replica;
      const consentOnReplica = async () => {
        const response = await fetch(`${other.url}/api/v1/users/u1/personalization?campaign=spring-sale`, { headers: { authorization: `Bearer ${other.devKey}` } });
        expect(response.status).toBe(200);
        return ((await response.json()) as { consent: { personalization: boolean } }).consent.personalization;
      };
      const kept = (result: string) => counterTotal(other.metrics.registry.getSingleMetric('tailor_rest_answer_cache_total') as Counter<string>, { result });
      expect([await consentOnReplica(), await consentOnReplica()]).toEqual([true, true]);
      expect([await kept('miss'), await kept('hit')]).toEqual([1, 1]);

      const withdrawn = await stack.query('mutation { updateConsent(userId: "u1", personalization: false) { personalization } }');
      expect([withdrawn.status, withdrawn.body]).toEqual([200, { data: { updateConsent: { personalization: false } } }]);
      // The message crosses Redis after the mutation's answer: wait for it, within a bound far below the TTL (60 s).
      let seen = true;
      for (let attempt = 0; attempt < 50 && seen; attempt++) {
        seen = await consentOnReplica();
        if (seen) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(seen).toBe(false);
      expect(await kept('miss')).toBe(2);
    });
  });

  describe('while Redis cannot be reached', () => {
    let stack: InProcessStack;
    afterEach(() => stack.close());

    it('open: lets every request pass uncounted, without RateLimit headers, and counts each failure', async () => {
      const url = await unreachableRedisUrl();
      stack = await startInProcessStack({ gatewayEnv: { TAILOR_REDIS_URL: url, TAILOR_QUOTA_FAILURE_MODE: 'open' } });
      const { token } = stack.gateway.keys.create({ name: 'braze', scopes: ['recipients:read'], ratePerMinute: 1 });
      const answers = [await typename(stack.gateway, token), await typename(stack.gateway, token)];
      expect(answers.map((a) => a.status)).toEqual([200, 200]);
      expect(answers[1].body).toEqual({ data: { __typename: 'Query' } });
      expect(answers.map((a) => a.headers.get('ratelimit'))).toEqual([null, null]);
      expect(await storeErrors(stack.gateway, 'open')).toBe(2);
      expect(await storeErrors(stack.gateway, 'closed')).toBe(0);
    });

    it('closed: refuses with 503 QUOTA_UNAVAILABLE and Retry-After, in the GraphQL error shape and on REST routes', async () => {
      const url = await unreachableRedisUrl();
      stack = await startInProcessStack({ gatewayEnv: { TAILOR_REDIS_URL: url, TAILOR_QUOTA_FAILURE_MODE: 'closed' } });
      const { token } = stack.gateway.keys.create({ name: 'braze', scopes: ['recipients:read'] });
      const answer = await typename(stack.gateway, token);
      expect(answer.status).toBe(503);
      expect(Number(answer.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(answer.headers.get('ratelimit')).toBeNull();
      expect(answer.body).toEqual({
        errors: [{ message: expect.stringContaining("quota cannot be checked"), extensions: { code: 'QUOTA_UNAVAILABLE' } }],
      });

      const rest = await fetch(`${stack.gateway.url}/api/v1/users/u1/profile`, { headers: { authorization: `Bearer ${token}` } });
      expect(rest.status).toBe(503);
      expect(Number(rest.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(((await rest.json()) as any).error.code).toBe('QUOTA_UNAVAILABLE');
      expect(await storeErrors(stack.gateway, 'closed')).toBe(2);
      expect(await storeErrors(stack.gateway, 'open')).toBe(0);
    });
  });
});
