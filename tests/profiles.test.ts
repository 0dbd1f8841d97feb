import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { problemsOf } from './support/configProblems';
import { loadGatewayConfig } from '../gateway/src/config';
import { createKeyStore } from '../gateway/src/clientKeys';
import { gatewayDatabasePath, openGatewayDatabase } from '../gateway/src/gatewayDatabase';
import { loadCrmConfig } from '../subgraphs/crm/src/config';
import { type InProcessStack, startInProcessStack } from './support/inProcessStack';
import { LOOPBACK_ONLY, REPO_ROOT } from './support/processStack';
import { TEST_SUBGRAPH_SECRET } from './support/subgraphSigning';

/** TAILOR_PROFILE: production closes the development defaults and refuses to start without its secrets. */

const INGEST_KEY = 'test-ingest-key';
const PRODUCTION_SUBGRAPH_ENV = {
  TAILOR_PROFILE: 'production',
  TAILOR_SUBGRAPH_SECRET: TEST_SUBGRAPH_SECRET,
  TAILOR_INGEST_KEYS: createHash('sha256').update(INGEST_KEY).digest('hex'),
};

/** The scopes of an ESP that renders personalized email: recipients, with their names and addresses. */
const ESP_SCOPES = ['recipients:read', 'pii:read'];

/**
 * A fresh data folder whose gateway database holds one live client key (a production gateway refuses
 * to start without one), and that key's token.
 */
function productionDataDir(): { dir: string; token: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tailor-production-'));
  const db = openGatewayDatabase(gatewayDatabasePath(dir));
  try {
    return { dir, token: createKeyStore(db).create({ name: 'esp', scopes: ESP_SCOPES }).token };
  } finally {
    db.close();
  }
}

describe('the production profile', () => {
  it('refuses to load a gateway configuration without the subgraph secret, naming it', () => {
    expect(problemsOf(() => loadGatewayConfig({ env: { TAILOR_PROFILE: 'production' }, argv: [] }))).toEqual([
      'TAILOR_SUBGRAPH_SECRET: required with TAILOR_PROFILE=production: subgraphs answer only requests the gateway signs with it',
    ]);
  });

  it('refuses to load a subgraph configuration without the subgraph secret and an ingest credential, naming both', () => {
    expect(problemsOf(() => loadCrmConfig({ env: { TAILOR_PROFILE: 'production' }, argv: [] }))).toEqual([
      'TAILOR_INGEST_WEBHOOK_SECRET (or TAILOR_INGEST_KEYS): required with TAILOR_PROFILE=production: /ingest/* must accept only signed batches or an ingest key',
      'TAILOR_SUBGRAPH_SECRET: required with TAILOR_PROFILE=production: /graphql must answer the gateway only',
    ]);
    expect(problemsOf(() => loadCrmConfig({ env: PRODUCTION_SUBGRAPH_ENV, argv: [] }))).toEqual([]);
  });

  it('refuses a profile it does not know', () => {
    expect(problemsOf(() => loadGatewayConfig({ env: { TAILOR_PROFILE: 'staging' }, argv: [] }))).toEqual([
      'TAILOR_PROFILE="staging": must be development or production',
    ]);
  });

  it('turns off introspection, the sandbox, ad-hoc queries, hints and service names unless each is switched on', () => {
    const closed = loadGatewayConfig({ env: { TAILOR_PROFILE: 'production', TAILOR_SUBGRAPH_SECRET: TEST_SUBGRAPH_SECRET }, argv: [] });
    expect([closed.introspection, closed.sandbox, closed.adHocQueries, closed.errorHints, closed.errorServiceNames]).toEqual([false, false, false, false, false]);
    const opened = loadGatewayConfig({
      env: { TAILOR_PROFILE: 'production', TAILOR_SUBGRAPH_SECRET: TEST_SUBGRAPH_SECRET, TAILOR_INTROSPECTION: 'true', TAILOR_SANDBOX: 'on' },
      argv: [],
    });
    expect([opened.introspection, opened.sandbox, opened.adHocQueries]).toEqual([true, true, false]);
    const development = loadGatewayConfig({ env: {}, argv: [] });
    expect([development.profile, development.introspection, development.sandbox, development.adHocQueries, development.errorHints]).toEqual(['development', true, true, true, true]);
  });

  it('stops a real gateway process at start-up without its secret, saying what is missing', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tailor-production-'));
    try {
      const run = spawnSync(process.execPath, ['--require', LOOPBACK_ONLY, '--import', 'tsx', join(REPO_ROOT, 'gateway', 'src', 'main.ts'), '--port', '0'], {
        cwd: REPO_ROOT,
        env: { ...process.env, TAILOR_PROFILE: 'production', TAILOR_SUBGRAPH_SECRET: '', TAILOR_DATA_DIR: dataDir },
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(run.status).not.toBe(0);
      expect(run.stdout + run.stderr).toContain('TAILOR_SUBGRAPH_SECRET: required with TAILOR_PROFILE=production');
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('a production stack, with its secrets', () => {
  let stack: InProcessStack;
  /** Data folders made for the production gateways, deleted at the end. */
  const dataDirs: string[] = [];
  /** A production gateway's settings, over a data folder of its own that holds a client key; and that key. */
  const productionGateway = (extra: Record<string, string> = {}) => {
    const { dir, token } = productionDataDir();
    dataDirs.push(dir);
    return { token, gatewayEnv: { TAILOR_PROFILE: 'production', TAILOR_SUBGRAPH_SECRET: TEST_SUBGRAPH_SECRET, TAILOR_DATA_DIR: dir, ...extra } };
  };
  let token: string;
  const personalize = readFileSync(join(REPO_ROOT, 'schema', 'operations', 'personalize-recipient.graphql'), 'utf8');
  const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'schema', 'operations', 'manifest.json'), 'utf8')) as { operations: { id: string; name: string }[] };
  const hash = manifest.operations.find((o) => o.name === 'PersonalizeRecipient')!.id;
  const post = async (body: unknown, url = `${stack.urls.gateway}/graphql`, credential = token) => {
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${credential}` }, body: JSON.stringify(body) });
    return { status: response.status, body: (await response.json()) as any };
  };

  beforeAll(async () => {
    const production = productionGateway();
    token = production.token;
    stack = await startInProcessStack({ seed: 'demo', env: PRODUCTION_SUBGRAPH_ENV, gatewayEnv: production.gatewayEnv });
  });
  afterAll(async () => {
    await stack?.close();
    for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
  });

  it('serves persisted operations by hash', async () => {
    const answer = await post({ variables: { id: 'u-00001' }, extensions: { persistedQuery: { version: 1, sha256Hash: hash } } });
    expect(answer.status).toBe(200);
    expect(answer.body.errors).toBeUndefined();
    expect(answer.body.data.user).toEqual(expect.objectContaining({ id: 'u-00001', recommendations: expect.any(Array) }));
  });

  it('refuses ad-hoc operations, even the text of a persisted one without its hash', async () => {
    expect(await post({ query: personalize, variables: { id: 'u-00001' } })).toEqual({
      status: 400,
      body: {
        errors: [
          {
            message: 'This gateway answers persisted operations only: send extensions.persistedQuery.sha256Hash of an operation in its manifest.',
            extensions: { code: 'PERSISTED_QUERY_REQUIRED' },
          },
        ],
      },
    });
  });

  it('serves the plain landing page, not the sandbox', async () => {
    const page = await (await fetch(`${stack.urls.gateway}/`)).text();
    expect(page).not.toContain('/sandbox/sandbox.js');
    expect((await fetch(`${stack.urls.gateway}/sandbox/sandbox.js`)).status).toBe(404);
  });

  it('refuses introspection and drops "Did you mean" hints and serviceName, when ad-hoc queries are switched on', async () => {
    const production = productionGateway({ TAILOR_AD_HOC_QUERIES: 'true' });
    const open = await startInProcessStack({ seed: 'demo', env: PRODUCTION_SUBGRAPH_ENV, gatewayEnv: production.gatewayEnv });
    try {
      const ask = (query: string) => post({ query }, `${open.urls.gateway}/graphql`, production.token);
      const introspection = await ask('{ __schema { queryType { name } } }');
      expect(introspection.status).toBe(400);
      expect(introspection.body.errors[0].extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
      expect(introspection.body.errors[0].message).toMatch(/introspection/i);

      const typo = await ask('{ user(id: "u-00001") { emial } }');
      expect(typo).toEqual({
        status: 400,
        body: { errors: [{ message: 'Cannot query field "emial" on type "User".', locations: [{ line: 1, column: 25 }], extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }] },
      });

      await open.stopSubgraph('behavior');
      const degraded = await ask('{ user(id: "u-00001") { firstName recentlyViewed { viewedAt } } }');
      expect(degraded.status).toBe(200);
      expect(degraded.body.errors.length).toBeGreaterThan(0);
      for (const error of degraded.body.errors) {
        expect(error.extensions.service).toBe('behavior');
        expect(error.extensions.serviceName).toBeUndefined();
      }
    } finally {
      await open.close();
    }
  });
});
