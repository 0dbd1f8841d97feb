import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { composeSupergraph } from '../scripts/composition/composeSupergraph';
import { readRegistry } from '../scripts/composition/readRegistry';
import { loadGatewayConfig } from '../gateway/src/config';
import { startGateway } from '../gateway/src/startGateway';
import { createGatewayMetrics } from '../gateway/src/gatewayMetrics';
import { createSubgraphDataSource } from '../gateway/src/subgraphDataSource';
import { createLogger } from '../kit/logger';
import { user } from './support/fixtures';
import { RELAXED_DEADLINES, type InProcessStack, startInProcessStack } from './support/inProcessStack';
import { TEST_SUBGRAPH_SECRET } from './support/subgraphSigning';

describe('gateway', () => {
  let stack: InProcessStack;
  beforeAll(async () => {
    stack = await startInProcessStack();
    await stack.crm.store.seed([user('u1')]);
  });
  afterAll(() => stack.close());

  it('serves any supergraph file it is given, e.g. one composed from the crm subgraph alone', async () => {
    const crmOnly = composeSupergraph(readRegistry().filter((s) => s.name === 'crm'));
    if (!('supergraphSdl' in crmOnly)) throw new Error(crmOnly.errors.join('\n'));
    const dir = mkdtempSync(join(tmpdir(), 'tailor-supergraph-'));
    const file = join(dir, 'crm-only.graphql');
    writeFileSync(file, crmOnly.supergraphSdl);
    const gateway = await startGateway(
      loadGatewayConfig({ env: { ...RELAXED_DEADLINES, TAILOR_DATA_DIR: ':memory:', TAILOR_SUBGRAPH_SECRET: TEST_SUBGRAPH_SECRET, TAILOR_SUBGRAPH_URLS: `crm=${stack.urls.crm}/graphql` }, argv: ['--supergraph', file, '--port', '0'] }),
      createLogger('gateway', 'silent'),
    );
    try {
      const ask = (query: string) =>
        fetch(`${gateway.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${gateway.devKey}` }, body: JSON.stringify({ query }) }).then((r) => r.json());
      expect(await ask('{ user(id: "u1") { id firstName } }')).toEqual({ data: { user: { id: 'u1', firstName: 'First u1' } } });
      expect(await ask('{ product(sku: "A1") { sku } }')).toEqual({
        errors: [
          {
            message: 'Cannot query field "product" on type "Query".',
            locations: [{ line: 1, column: 3 }],
            extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
          },
        ],
      });
    } finally {
      await gateway.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('answers GET /graphql without custom headers beyond the credential, for ESPs that can only GET a URL', async () => {
    const query = encodeURIComponent('{ user(id: "u1") { firstName } }');
    const response = await fetch(`${stack.urls.gateway}/graphql?query=${query}`, { headers: stack.auth });
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('max-age=300, private');
    expect(await response.json()).toEqual({ data: { user: { firstName: 'First u1' } } });
  });

  it('refuses a mutation over GET', async () => {
    const query = encodeURIComponent('mutation { updateConsent(userId: "u1", email: false) { email } }');
    const response = await fetch(`${stack.urls.gateway}/graphql?query=${query}`, { headers: stack.auth });
    expect(response.status).toBe(405);
    expect((await stack.query('{ user(id: "u1") { consent { email } } }')).body).toEqual({ data: { user: { consent: { email: true } } } });
  });

  it('reports readiness with the sha256 of the supergraph it serves', async () => {
    const response = await fetch(`${stack.urls.gateway}/ready`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      status: 'ready',
      supergraph: expect.stringMatching(/^[0-9a-f]{64}$/),
      loadedAt: expect.any(String),
      // Every subgraph of the registry (a clone with a partner subgraph has one more).
      subgraphs: expect.objectContaining({
        crm: { circuit: 'closed', replicas: [{ url: `${stack.urls.crm}/graphql`, up: true }] },
        stock: { circuit: 'closed', replicas: [{ url: `${stack.urls.stock}/graphql`, up: true }] },
        behavior: { circuit: 'closed', replicas: [{ url: `${stack.urls.behavior}/graphql`, up: true }] },
      }),
    });
  });

  it('counts every fetch it sends to a subgraph', async () => {
    const before = await stack.fetches('crm');
    await stack.query('{ user(id: "u1") { id } }');
    await stack.query('{ a: user(id: "u1") { id } b: user(id: "u2") { id } }');
    expect((await stack.fetches('crm')) - before).toBe(2);
  });
});

describe('createSubgraphDataSource', () => {
  it('accepts http and https routing URLs and refuses any other scheme by name', () => {
    const metrics = createGatewayMetrics();
    const common = {
      policy: { timeoutMs: 100, retries: 0, retryDelayMs: 1, breakerFailures: 5, breakerCooldownMs: 100 },
      metrics,
      fallbacks: () => new Map(),
      logger: createLogger('test', 'silent'),
    };
    expect(() => createSubgraphDataSource({ name: 'a', urls: ['http://127.0.0.1:1/graphql'], ...common })).not.toThrow();
    expect(() => createSubgraphDataSource({ name: 'b', urls: ['https://127.0.0.1:1/graphql'], ...common })).not.toThrow();
    expect(() => createSubgraphDataSource({ name: 'c', urls: ['ftp://127.0.0.1/graphql'], ...common })).toThrow(
      'Subgraph c: routing URL must be http(s)://, got ftp://127.0.0.1/graphql',
    );
  });
});
