/**
 * Client access end to end: the real processes of `npm start`, keys made with `npm run keys` against
 * the stack's data folder, and gateways started beside the stack for JWTs and the production profile.
 * Every case asserts the HTTP status and the whole body a client sees.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type JWTPayload, type KeyLike, SignJWT, exportJWK, generateKeyPair } from 'jose';
import { type HttpAnswer, LOOPBACK_ONLY, type ProcessStack, REPO_ROOT, get, postJson, scrapeMetric, startProcessStack } from './support/processStack';

jest.setTimeout(180_000);

const execFileAsync = promisify(execFile);
const GATEWAY_MAIN = join(REPO_ROOT, 'gateway', 'src', 'main.ts');
const MANIFEST = JSON.parse(readFileSync(join(REPO_ROOT, 'schema', 'operations', 'manifest.json'), 'utf8')) as { operations: { id: string; name: string; body: string }[] };
const TOKEN = /(?:^|\s)(tlr_[A-Za-z0-9_-]{43})(?=\s|$)/m;
const ALL_SCOPES = ['consent:write', 'ingest:write', 'pii:read', 'privacy:admin', 'recipients:read'];
const CLI_ACTOR = `cli:${userInfo().username}`;

let tailor: ProcessStack;
let gatewayUrl: string;
const scratch: string[] = [];
const spawned: SpawnedGateway[] = [];

beforeAll(async () => {
  tailor = await startProcessStack({ scale: 'small' });
  gatewayUrl = tailor.url('gateway');
}, 120_000);

afterAll(async () => {
  await Promise.all(spawned.map((g) => g.stop()));
  await tailor?.stop();
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
}, 60_000);

// ---------------------------------------------------------------------------------------------------
// Helpers

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  scratch.push(dir);
  return dir;
}

/** The environment of this process without any TAILOR_ setting, so that a child reads only what it is given. */
function cleanEnv(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => !e[0].startsWith('TAILOR_') && e[1] !== undefined));
}

/** Runs `scripts/<script>.ts` as an operator does (`npm run keys -- …`, `npm run audit -- …`). */
async function cli(script: 'keys' | 'audit', args: string[]): Promise<{ stdout: string; stderr: string }> {
  return execFileAsync(process.execPath, ['--require', LOOPBACK_ONLY, '--import', 'tsx', join('scripts', `${script}.ts`), ...args], { cwd: REPO_ROOT, env: cleanEnv() });
}

/** Creates a key with the CLI in `dataDir` (the stack's by default) and returns its token. */
async function createKey(name: string, scopes: string[], flags: string[] = [], dataDir = tailor.dataDir): Promise<string> {
  const { stdout } = await cli('keys', ['create', '--name', name, '--scopes', scopes.join(','), ...flags, '--data-dir', dataDir]);
  const token = TOKEN.exec(stdout)?.[1];
  if (!token) throw new Error(`npm run keys -- create printed no token:\n${stdout}`);
  return token;
}

async function revokeKey(name: string): Promise<string> {
  return (await cli('keys', ['revoke', name, '--data-dir', tailor.dataDir])).stdout;
}

type Body = { data?: any; errors?: any[] };

/** POSTs one operation to `/graphql` of `base` with `Authorization: Bearer <credential>` (none when undefined). */
function ask(credential: string | undefined, query: string, variables?: Record<string, unknown>, base = gatewayUrl): Promise<HttpAnswer<Body>> {
  return postJson(`${base}/graphql`, { query, variables }, credential === undefined ? {} : { authorization: `Bearer ${credential}` });
}

/** POSTs a persisted operation by its hash alone. */
function askPersisted(credential: string | undefined, name: string, variables: Record<string, unknown>, base = gatewayUrl): Promise<HttpAnswer<Body>> {
  const body = { variables, extensions: { persistedQuery: { version: 1, sha256Hash: persisted(name).id } } };
  return postJson(`${base}/graphql`, body, credential === undefined ? {} : { authorization: `Bearer ${credential}` });
}

function persisted(name: string) {
  const operation = MANIFEST.operations.find((o) => o.name === name);
  if (!operation) throw new Error(`no operation ${name} in the manifest`);
  return operation;
}

/** What the development key (every scope) gets for the same operation: the answer of a client that may read it all. */
async function fullAnswer(query: string, variables?: Record<string, unknown>): Promise<Body> {
  const answer = await ask(tailor.devKey, query, variables);
  expect({ status: answer.status, errors: answer.body.errors }).toEqual({ status: 200, errors: undefined });
  return withScoresClose(answer.body) as Body;
}

/**
 * The answer to compare another with: recommendation scores decay with the real clock, so two asks a
 * moment apart can differ in the sixth decimal; each `score` matches to four.
 */
function withScoresClose(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withScoresClose);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, key === 'score' && typeof v === 'number' ? expect.closeTo(v, 4) : withScoresClose(v)]));
}

/** The FORBIDDEN error of a field the client may not read. */
function forbidden(field: string, path: string[], missing: string[]) {
  return {
    message: `Not allowed: ${field} needs the scope${missing.length > 1 ? 's' : ''} ${missing.join(' and ')}, which this client's credential does not carry.`,
    path,
    extensions: { code: 'FORBIDDEN', field, missingScopes: missing },
  };
}

/** Expects a GraphQL answer to be 401 UNAUTHENTICATED with a Bearer challenge; status first, then the challenge, then the body. */
function expectUnauthenticated(answer: HttpAnswer<any>, message: unknown = expect.any(String)) {
  expect(answer.status).toBe(401);
  expect(answer.headers.get('www-authenticate')).toBe('Bearer realm="tailor"');
  expect(answer.body).toEqual({ errors: [{ message, extensions: { code: 'UNAUTHENTICATED' } }] });
}

/** A gateway process started beside the stack. */
interface SpawnedGateway {
  child: ChildProcess;
  /** Everything it printed. */
  output: string[];
  /** Its base URL once it listens; rejects if it exits first. */
  listening: Promise<string>;
  /** Its exit code once it exits. */
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/**
 * Spawns `gateway/src/main.ts` on a free loopback port over `dataDir`, routed to the stack's
 * subgraphs with the stack's secret, plus `env`.
 */
function spawnGateway(dataDir: string, env: Record<string, string>): SpawnedGateway {
  const routes = ['crm', 'stock', 'behavior'].map((name) => `${name}=${tailor.url(name)}/graphql`).join(',');
  const child = spawn(process.execPath, ['--require', LOOPBACK_ONLY, '--import', 'tsx', GATEWAY_MAIN, '--port', '0', '--data-dir', dataDir], {
    cwd: REPO_ROOT,
    env: {
      ...cleanEnv(),
      TAILOR_HOST: '127.0.0.1',
      TAILOR_LOG_LEVEL: 'warn',
      TAILOR_WATCH_SUPERGRAPH: 'false',
      TAILOR_REQUEST_DEADLINE_MS: '60000',
      TAILOR_SUBGRAPH_TIMEOUT_MS: '30000',
      TAILOR_SUBGRAPH_SECRET: tailor.subgraphSecret,
      TAILOR_SUBGRAPH_URLS: routes,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const output: string[] = [];
  child.stdout!.on('data', (chunk: Buffer) => output.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
  child.stderr!.on('data', (chunk: Buffer) => output.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const listening = new Promise<string>((resolve, reject) => {
    child.on('message', (message: { type?: string; url?: string }) => {
      if (message?.type === 'listening' && message.url) resolve(message.url);
    });
    void exited.then((code) => reject(new Error(`the gateway exited with code ${code} before listening:\n${output.join('\n')}`)));
  });
  listening.catch(() => undefined);
  const gateway: SpawnedGateway = {
    child,
    output,
    listening,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
  spawned.push(gateway);
  return gateway;
}

/** How a gateway process that should refuse to start ended: its exit code, or the URL it listens on after all. */
function startOutcome(gateway: SpawnedGateway): Promise<{ exitCode: number | null } | { listening: string }> {
  return Promise.race([
    gateway.exited.then((exitCode) => ({ exitCode })),
    gateway.listening.then(
      (listening) => ({ listening }),
      () => new Promise<never>(() => undefined),
    ),
  ]);
}

// ---------------------------------------------------------------------------------------------------

describe('a request without a valid credential', () => {
  let revoked: string;
  const unknownKey = `tlr_${'A'.repeat(43)}`;

  beforeAll(async () => {
    revoked = await createKey('revoked-before-use', ['recipients:read']);
    await revokeKey('revoked-before-use');
  });

  const QUERY = '{ user(id: "u-00001") { id } }';

  it.each([
    ['no Authorization header', undefined],
    ['a malformed header (Basic x)', 'Basic x'],
    ['an unknown tlr_ key', `Bearer ${unknownKey}`],
  ])('answers /graphql 401 UNAUTHENTICATED with a Bearer challenge for %s', async (_label, header) => {
    const answer = await postJson(`${gatewayUrl}/graphql`, { query: QUERY }, header === undefined ? {} : { authorization: header });
    expectUnauthenticated(answer);
  });

  it('answers /graphql 401 UNAUTHENTICATED for a revoked key', async () => {
    expectUnauthenticated(await ask(revoked, QUERY));
  });

  it('answers a persisted operation (hash only) 401 without a credential and with a revoked key', async () => {
    expectUnauthenticated(await askPersisted(undefined, 'RecipientProfile', { id: 'u-00001' }));
    expectUnauthenticated(await askPersisted(revoked, 'RecipientProfile', { id: 'u-00001' }));
  });

  it.each([
    ['no Authorization header', {}],
    ['a malformed header (Basic x)', { authorization: 'Basic x' }],
    ['an unknown tlr_ key', { authorization: `Bearer ${unknownKey}` }],
  ])('answers a REST route 401 UNAUTHENTICATED, in the REST face\'s error shape, for %s', async (_label, headers) => {
    const answer = await get(`${gatewayUrl}/api/v1/users/u-00001/profile`, headers);
    expect(answer.status).toBe(401);
    expect(answer.headers.get('www-authenticate')).toBe('Bearer realm="tailor"');
    expect(answer.body).toEqual({ error: { code: 'UNAUTHENTICATED', message: expect.any(String) } });
  });

  it('answers a REST route 401 for a revoked key', async () => {
    const answer = await get(`${gatewayUrl}/api/v1/users/u-00001/recommendations`, { authorization: `Bearer ${revoked}` });
    expect({ status: answer.status, body: answer.body }).toEqual({ status: 401, body: { error: { code: 'UNAUTHENTICATED', message: 'The API key is unknown or revoked.' } } });
  });

  it('leaves /health, /ready and /metrics open to probes without a credential', async () => {
    const [health, ready, metrics] = await Promise.all([get(`${gatewayUrl}/health`), get(`${gatewayUrl}/ready`), get(`${gatewayUrl}/metrics`)]);
    expect(health).toMatchObject({ status: 200, body: { status: 'ok', service: 'gateway' } });
    expect(ready).toMatchObject({ status: 200, body: { status: 'ready' } });
    expect(metrics.status).toBe(200);
    expect(String(metrics.body)).toContain('tailor_');
  });
});

// ---------------------------------------------------------------------------------------------------

/** One check on the way from the root to a field: denied when the client lacks any of `needs`. */
interface Gate {
  field: string;
  path: string[];
  /** Every scope this step needs: the field's own and those of the type it returns. */
  needs: string[];
  /** The `data` of the answer when the client is stopped here. */
  deniedData: unknown;
  deniedStatus: number;
}

interface FieldCase {
  field: string;
  query: string;
  variables?: () => Record<string, unknown>;
  /** The checks in order from the root; the first one the client fails is the one it is told of. */
  gates: Gate[];
}

const fixtures = { email: '', sku: '' };
const USER_GATE: Gate = { field: 'Query.user', path: ['user'], needs: ['recipients:read'], deniedData: { user: null }, deniedStatus: 403 };
const userField = (field: string, selection = field): FieldCase => ({ field: `User.${field}`, query: `{ user(id: "u-00001") { ${selection} } }`, gates: [USER_GATE] });
const mutationGate = (field: string, scope: string): Gate => ({ field: `Mutation.${field}`, path: [field], needs: [scope], deniedData: null, deniedStatus: 403 });

const FIELDS: FieldCase[] = [
  { field: 'Query.user', query: '{ user(id: "u-00001") { id } }', gates: [USER_GATE] },
  {
    field: 'Query.users',
    query: '{ users(ids: ["u-00001", "u-00002"]) { id } }',
    gates: [{ field: 'Query.users', path: ['users'], needs: ['recipients:read'], deniedData: null, deniedStatus: 403 }],
  },
  {
    field: 'Query.userByEmail',
    query: 'query ($email: String!) { userByEmail(email: $email) { id } }',
    variables: () => ({ email: fixtures.email }),
    gates: [{ field: 'Query.userByEmail', path: ['userByEmail'], needs: ['pii:read', 'recipients:read'], deniedData: { userByEmail: null }, deniedStatus: 403 }],
  },
  { field: 'Query.product', query: 'query ($sku: ID!) { product(sku: $sku) { sku name } }', variables: () => ({ sku: fixtures.sku }), gates: [] },
  { field: 'Query.products', query: 'query ($sku: ID!) { products(skus: [$sku, "NO-SUCH-SKU"]) { sku } }', variables: () => ({ sku: fixtures.sku }), gates: [] },
  { field: 'Query.trendingProducts', query: '{ trendingProducts(limit: 3) { sku } }', gates: [] },
  {
    field: 'Query.exportUser',
    query: '{ exportUser(id: "u-00001") { userId complete } }',
    gates: [{ field: 'Query.exportUser', path: ['exportUser'], needs: ['privacy:admin'], deniedData: null, deniedStatus: 403 }],
  },
  userField('id'),
  userField('firstName'),
  userField('locale'),
  userField('timezone'),
  userField('loyaltyTier'),
  userField('segments'),
  userField('consent', 'consent { email personalization }'),
  userField('recentlyViewed', 'recentlyViewed(limit: 2) { viewedAt product { sku } }'),
  userField('recommendations', 'recommendations(limit: 2) { reason product { sku } }'),
  {
    field: 'User.email',
    query: '{ user(id: "u-00001") { email } }',
    gates: [USER_GATE, { field: 'User.email', path: ['user', 'email'], needs: ['pii:read'], deniedData: { user: null }, deniedStatus: 200 }],
  },
  {
    field: 'User.lastName',
    query: '{ user(id: "u-00001") { lastName } }',
    gates: [USER_GATE, { field: 'User.lastName', path: ['user', 'lastName'], needs: ['pii:read'], deniedData: { user: { lastName: null } }, deniedStatus: 200 }],
  },
  // Empty batches, a consent change that sets no flag and the erasure of an unknown id: valid, and they change nothing.
  { field: 'Mutation.upsertUsers', query: 'mutation { upsertUsers(users: []) { accepted } }', gates: [mutationGate('upsertUsers', 'ingest:write')] },
  { field: 'Mutation.trackEvents', query: 'mutation { trackEvents(events: []) { accepted } }', gates: [mutationGate('trackEvents', 'ingest:write')] },
  { field: 'Mutation.recordStockLevels', query: 'mutation { recordStockLevels(levels: []) { accepted } }', gates: [mutationGate('recordStockLevels', 'ingest:write')] },
  { field: 'Mutation.updateConsent', query: 'mutation { updateConsent(userId: "u-00009") { email personalization } }', gates: [mutationGate('updateConsent', 'consent:write')] },
  { field: 'Mutation.eraseUser', query: 'mutation { eraseUser(id: "u-nobody") { userId complete } }', gates: [mutationGate('eraseUser', 'privacy:admin')] },
];

const SCOPE_SETS: { label: string; key: string; scopes: string[] }[] = [
  { label: 'ingest:write only', key: 'matrix-ingest', scopes: ['ingest:write'] },
  { label: 'recipients:read', key: 'matrix-recipients', scopes: ['recipients:read'] },
  { label: 'recipients:read,pii:read', key: 'matrix-pii', scopes: ['recipients:read', 'pii:read'] },
  { label: 'consent:write', key: 'matrix-consent', scopes: ['consent:write'] },
  { label: 'privacy:admin', key: 'matrix-privacy', scopes: ['privacy:admin'] },
  { label: 'all five', key: 'matrix-all', scopes: ALL_SCOPES },
];

const deniedAt = (fieldCase: FieldCase, scopes: string[]) => fieldCase.gates.find((gate) => gate.needs.some((s) => !scopes.includes(s)));

const MATRIX = FIELDS.flatMap((fieldCase) =>
  SCOPE_SETS.map((set) => {
    const gate = deniedAt(fieldCase, set.scopes);
    return { fieldCase, set, title: `${fieldCase.field} with ${set.label}: ${gate ? `FORBIDDEN at ${gate.field}` : 'allowed'}` };
  }),
);

describe('scopes', () => {
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    for (const set of SCOPE_SETS) tokens[set.key] = await createKey(set.key, set.scopes);
    const seen = await fullAnswer('{ user(id: "u-00001") { email } trendingProducts(limit: 1) { sku } }');
    fixtures.email = seen.data.user.email;
    fixtures.sku = seen.data.trendingProducts[0].sku;
  });

  it.each(MATRIX)('$title', async ({ fieldCase, set }) => {
    const variables = fieldCase.variables?.();
    const answer = await ask(tokens[set.key], fieldCase.query, variables);
    const gate = deniedAt(fieldCase, set.scopes);
    if (!gate) {
      const full = await fullAnswer(fieldCase.query, variables);
      expect({ status: answer.status, body: answer.body }).toEqual({ status: 200, body: full });
      return;
    }
    const missing = gate.needs.filter((s) => !set.scopes.includes(s));
    expect({ status: answer.status, body: answer.body }).toEqual({
      status: gate.deniedStatus,
      body: { data: gate.deniedData, errors: [forbidden(gate.field, gate.path, missing)] },
    });
  });

  it('nulls the nearest nullable parent of a denied non-null field: user with firstName and email for recipients:read is null, with one error at user.email', async () => {
    const answer = await ask(tokens['matrix-recipients'], '{ user(id: "u-00001") { firstName email } }');
    expect({ status: answer.status, body: answer.body }).toEqual({
      status: 200,
      body: { data: { user: null }, errors: [forbidden('User.email', ['user', 'email'], ['pii:read'])] },
    });
  });

  it('keeps the rest of the answer: a denied nullable field is null, its siblings and the other root fields stand', async () => {
    const query = '{ user(id: "u-00001") { firstName lastName } trendingProducts(limit: 1) { sku } }';
    const full = await fullAnswer(query);
    const answer = await ask(tokens['matrix-recipients'], query);
    expect({ status: answer.status, body: answer.body }).toEqual({
      status: 200,
      body: {
        data: { user: { firstName: full.data.user.firstName, lastName: null }, trendingProducts: full.data.trendingProducts },
        errors: [forbidden('User.lastName', ['user', 'lastName'], ['pii:read'])],
      },
    });
    expect(full.data.user.firstName).toEqual(expect.any(String));
    expect(full.data.trendingProducts).toHaveLength(1);
  });

  it('gives paths as response keys from the root, aliases and fragments included, and no list indices', async () => {
    const query = `{
      recipient: user(id: "u-00001") { ...Contact }
      batch: users(ids: ["u-00001", "u-00002"]) { id surname: lastName }
    }
    fragment Contact on User { firstName address: email }`;
    const full = await fullAnswer(query);
    const answer = await ask(tokens['matrix-recipients'], query);
    expect({ status: answer.status, body: answer.body }).toEqual({
      status: 200,
      body: {
        data: { recipient: null, batch: full.data.batch.map((u: { id: string }) => ({ id: u.id, surname: null })) },
        errors: [forbidden('User.email', ['recipient', 'address'], ['pii:read']), forbidden('User.lastName', ['batch', 'surname'], ['pii:read'])],
      },
    });
    expect(full.data.batch.map((u: { id: string }) => u.id)).toEqual(['u-00001', 'u-00002']);
  });

  it('answers 403 when every root field is denied', async () => {
    const answer = await ask(tokens['matrix-ingest'], '{ user(id: "u-00001") { id } users(ids: ["u-00002"]) { id } }');
    expect({ status: answer.status, body: answer.body }).toEqual({
      status: 403,
      body: {
        data: null,
        errors: [forbidden('Query.user', ['user'], ['recipients:read']), forbidden('Query.users', ['users'], ['recipients:read'])],
      },
    });
  });

  it('runs none of a mutation with one denied field: 403, and the allowed upsert was not applied', async () => {
    const consentBefore = await fullAnswer('{ user(id: "u-00002") { consent { email personalization updatedAt } } }');
    const answer = await ask(
      tokens['matrix-ingest'],
      `mutation {
        upsertUsers(users: [{ id: "u-all-or-nothing", email: "all.or.nothing@example.test", firstName: "Nadia" }]) { accepted }
        updateConsent(userId: "u-00002", email: false) { email }
      }`,
    );
    expect({ status: answer.status, body: answer.body }).toEqual({
      status: 403,
      body: { data: null, errors: [forbidden('Mutation.updateConsent', ['updateConsent'], ['consent:write'])] },
    });
    expect(await fullAnswer('{ user(id: "u-all-or-nothing") { id } }')).toEqual({ data: { user: null } });
    expect(await fullAnswer('{ user(id: "u-00002") { consent { email personalization updatedAt } } }')).toEqual(consentBefore);
  });

  it('does not deny a field that @include(if: false) leaves out of the operation', async () => {
    const query = 'query ($withEmail: Boolean!) { user(id: "u-00001") { id email @include(if: $withEmail) } }';
    const answer = await ask(tokens['matrix-recipients'], query, { withEmail: false });
    expect({ status: answer.status, body: answer.body }).toEqual({ status: 200, body: { data: { user: { id: 'u-00001' } } } });
  });

  describe('persisted operations', () => {
    it('answers RecipientRecommendations to recipients:read as to a client with every scope', async () => {
      const variables = { id: 'u-00001', limit: 2 };
      const answer = await askPersisted(tokens['matrix-recipients'], 'RecipientRecommendations', variables);
      expect({ status: answer.status, body: answer.body }).toEqual({ status: 200, body: await fullAnswer(persisted('RecipientRecommendations').body, variables) });
    });

    it('denies RecipientProfile\'s email and lastName to recipients:read: user null, one error for each', async () => {
      const answer = await askPersisted(tokens['matrix-recipients'], 'RecipientProfile', { id: 'u-00001' });
      expect({ status: answer.status, body: answer.body }).toEqual({
        status: 200,
        body: {
          data: { user: null },
          errors: [forbidden('User.email', ['user', 'email'], ['pii:read']), forbidden('User.lastName', ['user', 'lastName'], ['pii:read'])],
        },
      });
    });

    it('answers 403 to ingest:write only', async () => {
      const answer = await askPersisted(tokens['matrix-ingest'], 'RecipientRecommendations', { id: 'u-00001' });
      expect({ status: answer.status, body: answer.body }).toEqual({
        status: 403,
        body: { data: { user: null }, errors: [forbidden('Query.user', ['user'], ['recipients:read'])] },
      });
    });

    it('answers RecipientProfile in full to recipients:read,pii:read', async () => {
      const answer = await askPersisted(tokens['matrix-pii'], 'RecipientProfile', { id: 'u-00001' });
      expect({ status: answer.status, body: answer.body }).toEqual({ status: 200, body: await fullAnswer(persisted('RecipientProfile').body, { id: 'u-00001' }) });
    });
  });

  describe('REST routes', () => {
    const rest = (token: string, path: string) => get(`${gatewayUrl}${path}`, { authorization: `Bearer ${token}` });

    it('answers /recommendations to recipients:read as to a client with every scope', async () => {
      const path = '/api/v1/users/u-00001/recommendations?limit=2';
      const [answer, full] = await Promise.all([rest(tokens['matrix-recipients'], path), rest(tailor.devKey, path)]);
      expect({ status: answer.status, body: answer.body }).toEqual({ status: 200, body: withScoresClose(full.body) });
      expect(full.body).toMatchObject({ id: 'u-00001', recommendations: [expect.anything(), expect.anything()] });
    });

    it('answers /profile to recipients:read,pii:read with the email', async () => {
      const path = '/api/v1/users/u-00001/profile';
      const [answer, full] = await Promise.all([rest(tokens['matrix-pii'], path), rest(tailor.devKey, path)]);
      expect({ status: answer.status, body: answer.body }).toEqual({ status: 200, body: full.body });
      expect(full.body).toMatchObject({ id: 'u-00001', email: fixtures.email });
    });

    it('answers /profile, whose operation reads pii fields, 403 FORBIDDEN to a key without pii:read', async () => {
      const answer = await rest(tokens['matrix-recipients'], '/api/v1/users/u-00001/profile');
      expect({ status: answer.status, body: answer.body }).toEqual({
        status: 403,
        body: { error: expect.objectContaining({ code: 'FORBIDDEN', message: expect.stringContaining('pii:read') }) },
      });
    });

    it('answers /recommendations 403 FORBIDDEN to a key without recipients:read', async () => {
      const answer = await rest(tokens['matrix-ingest'], '/api/v1/users/u-00001/recommendations');
      expect({ status: answer.status, body: answer.body }).toEqual({
        status: 403,
        body: { error: expect.objectContaining({ code: 'FORBIDDEN', message: expect.stringContaining('recipients:read') }) },
      });
    });
  });
});

// ---------------------------------------------------------------------------------------------------

describe('revocation', () => {
  it('refuses a key from the request right after `npm run keys -- revoke`, in the same gateway process', async () => {
    const gateway = tailor.stack.services.gateway.child;
    const pid = gateway.pid;
    const token = await createKey('revoked-while-live', ['recipients:read']);
    const before = await ask(token, '{ user(id: "u-00001") { id } }');
    expect({ status: before.status, body: before.body }).toEqual({ status: 200, body: { data: { user: { id: 'u-00001' } } } });

    expect(await revokeKey('revoked-while-live')).toMatch(/^Revoked key revoked-while-live \(key_[0-9a-f]{12}\)/);

    const after = await ask(token, '{ user(id: "u-00001") { id } }');
    expect(after.status).toBe(401);
    expect(tailor.stack.services.gateway.child.pid).toBe(pid);
    expect(gateway.exitCode).toBeNull();
    expectUnauthenticated(after, 'The API key is unknown or revoked.');
  });
});

// ---------------------------------------------------------------------------------------------------

describe('JWTs', () => {
  const ISSUER = 'https://id.example.test/';
  const AUDIENCE = 'tailor-gateway';
  const KID = 'tailor-test-1';
  let signing: { publicKey: KeyLike; privateKey: KeyLike };
  let stranger: { publicKey: KeyLike; privateKey: KeyLike };
  let fileGateway: string;
  let urlGateway: string;
  let jwksFile: string;
  let jwksServer: Server;
  const jwksRequests: string[] = [];

  const now = () => Math.floor(Date.now() / 1000);
  /** A token the identity provider would issue, with `claims` over the defaults, signed by `key` under `kid`. */
  const issue = (claims: JWTPayload, options: { key?: KeyLike; kid?: string } = {}) =>
    new SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: 'esp-jwt', iat: now(), exp: now() + 600, ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: options.kid ?? KID })
      .sign(options.key ?? signing.privateKey);

  beforeAll(async () => {
    signing = await generateKeyPair('ES256');
    stranger = await generateKeyPair('ES256');
    const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(signing.publicKey)), kid: KID, alg: 'ES256', use: 'sig' }] });
    const dir = tempDir('tailor-jwks-');
    jwksFile = join(dir, 'jwks.json');
    writeFileSync(jwksFile, jwks);
    jwksServer = createServer((req, res) => {
      jwksRequests.push(req.url ?? '');
      if (req.url !== '/jwks.json') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(jwks);
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    const jwksUrl = `http://127.0.0.1:${(jwksServer.address() as { port: number }).port}/jwks.json`;
    const jwtEnv = { TAILOR_JWT_ISSUER: ISSUER, TAILOR_JWT_AUDIENCE: AUDIENCE, TAILOR_DEV_KEY: 'false' };
    const byFile = spawnGateway(tempDir('tailor-jwt-file-'), { ...jwtEnv, TAILOR_JWKS: jwksFile });
    const byUrl = spawnGateway(tempDir('tailor-jwt-url-'), { ...jwtEnv, TAILOR_JWKS: jwksUrl });
    [fileGateway, urlGateway] = await Promise.all([byFile.listening, byUrl.listening]);
  }, 120_000);

  afterAll(async () => {
    await new Promise((resolve) => jwksServer?.close(resolve));
  });

  it('answers a JWT with scope "recipients:read" as a recipients:read key: 200, and FORBIDDEN on email', async () => {
    const token = await issue({ scope: 'recipients:read' });
    const allowed = await ask(token, '{ user(id: "u-00001") { firstName } }', undefined, fileGateway);
    expect({ status: allowed.status, body: allowed.body }).toEqual({ status: 200, body: await fullAnswer('{ user(id: "u-00001") { firstName } }') });
    const denied = await ask(token, '{ user(id: "u-00001") { firstName email } }', undefined, fileGateway);
    expect({ status: denied.status, body: denied.body }).toEqual({
      status: 200,
      body: { data: { user: null }, errors: [forbidden('User.email', ['user', 'email'], ['pii:read'])] },
    });
  });

  it('reads scopes from scp as a list too: recipients:read and pii:read may read the email', async () => {
    const token = await issue({ scp: ['recipients:read', 'pii:read'] });
    const query = '{ user(id: "u-00001") { firstName email } }';
    const answer = await ask(token, query, undefined, fileGateway);
    expect({ status: answer.status, body: answer.body }).toEqual({ status: 200, body: await fullAnswer(query) });
  });

  it('refuses an expired JWT with 401, saying it has expired', async () => {
    const token = await issue({ scope: 'recipients:read', iat: now() - 7200, exp: now() - 3600 });
    expectUnauthenticated(await ask(token, '{ user(id: "u-00001") { id } }', undefined, fileGateway), expect.stringContaining('expired'));
  });

  it.each([
    ['another issuer', () => issue({ scope: 'recipients:read', iss: 'https://elsewhere.example.test/' })],
    ['another audience', () => issue({ scope: 'recipients:read', aud: 'someone-else' })],
    ['a signature by a key not in the JWKS, under a known kid', () => issue({ scope: 'recipients:read' }, { key: stranger.privateKey })],
    ['a signature by a key not in the JWKS, under an unknown kid', () => issue({ scope: 'recipients:read' }, { key: stranger.privateKey, kid: 'not-in-the-set' })],
    [
      'no signature at all (alg: none)',
      async () => {
        const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
        return `${part({ alg: 'none', typ: 'JWT' })}.${part({ iss: ISSUER, aud: AUDIENCE, sub: 'esp-jwt', exp: now() + 600, scope: 'recipients:read' })}.`;
      },
    ],
  ])('refuses a JWT with %s: 401', async (_label, make) => {
    expectUnauthenticated(await ask(await make(), '{ user(id: "u-00001") { id } }', undefined, fileGateway));
  });

  it('verifies JWTs against a JWKS served from a URL, fetched from it', async () => {
    const token = await issue({ scope: 'recipients:read' });
    const query = '{ user(id: "u-00001") { firstName } }';
    const answer = await ask(token, query, undefined, urlGateway);
    expect({ status: answer.status, body: answer.body }).toEqual({ status: 200, body: await fullAnswer(query) });
    expect(jwksRequests).toContain('/jwks.json');
    expectUnauthenticated(await ask(await issue({ scope: 'recipients:read' }, { key: stranger.privateKey }), query, undefined, urlGateway));
  });

  it('refuses to start with TAILOR_JWKS but no TAILOR_JWT_ISSUER: exit code 2, naming TAILOR_JWT_ISSUER', async () => {
    const gateway = spawnGateway(tempDir('tailor-jwt-noissuer-'), { TAILOR_JWKS: jwksFile, TAILOR_JWT_AUDIENCE: AUDIENCE });
    expect(await startOutcome(gateway)).toEqual({ exitCode: 2 });
    expect(gateway.output.join('\n')).toContain('TAILOR_JWT_ISSUER');
  });
});

// ---------------------------------------------------------------------------------------------------

describe('quotas', () => {
  const one = '{ user(id: "u-00001") { id } }';
  const ids = (n: number) => Array.from({ length: n }, (_, i) => `u-${String(i + 1).padStart(5, '0')}`);
  const many = (n: number) => `{ users(ids: ${JSON.stringify(ids(n))}) { id } }`;
  const rateLimited = (window: 'minute' | 'day', units: number) => ({ errors: [{ message: expect.any(String), extensions: { code: 'RATE_LIMITED', window, units } }] });

  it('lets a key with --rate-per-minute 3 run three operations, with RateLimit headers, and answers the fourth 429', async () => {
    const token = await createKey('quota-minute', ['recipients:read'], ['--rate-per-minute', '3']);
    for (const remaining of [2, 1, 0]) {
      const answer = await ask(token, one);
      expect({ status: answer.status, body: answer.body }).toEqual({ status: 200, body: { data: { user: { id: 'u-00001' } } } });
      expect(answer.headers.get('ratelimit')).toMatch(new RegExp(`^"minute";r=${remaining};t=\\d+, "day";r=\\d+;t=\\d+$`));
      expect(answer.headers.get('ratelimit-policy')).toMatch(/^"minute";q=3;w=60, "day";q=\d+;w=86400$/);
    }
    const refused = await ask(token, one);
    expect({ status: refused.status, body: refused.body }).toEqual({ status: 429, body: rateLimited('minute', 1) });
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(refused.headers.get('ratelimit')).toMatch(/^"minute";r=0;t=\d+, "day";r=\d+;t=\d+$/);
    expect(refused.headers.get('ratelimit-policy')).toMatch(/^"minute";q=3;w=60, "day";q=\d+;w=86400$/);

    expect(await scrapeMetric(gatewayUrl, 'tailor_quota_exhausted_total', { client: 'quota-minute', window: 'minute' })).toBeGreaterThanOrEqual(1);
    const other = await ask(tailor.devKey, one);
    expect({ status: other.status, body: other.body }).toEqual({ status: 200, body: { data: { user: { id: 'u-00001' } } } });
  });

  it('counts users(ids:) by its ids: 6 ids are more than a limit of 5 (429, at no cost), 4 ids take 4', async () => {
    const token = await createKey('quota-batch', ['recipients:read'], ['--rate-per-minute', '5']);
    const tooMany = await ask(token, many(6));
    expect({ status: tooMany.status, body: tooMany.body }).toEqual({ status: 429, body: rateLimited('minute', 6) });
    const four = await ask(token, many(4));
    expect({ status: four.status, body: four.body }).toEqual({ status: 200, body: { data: { users: ids(4).map((id) => ({ id })) } } });
    expect(four.headers.get('ratelimit')).toMatch(/^"minute";r=1;t=\d+, /);
  });

  it('answers a key with --daily-quota 2 with 429 window day on its third request', async () => {
    const token = await createKey('quota-day', ['recipients:read'], ['--daily-quota', '2']);
    for (const remaining of [1, 0]) {
      const answer = await ask(token, one);
      expect(answer.status).toBe(200);
      expect(answer.headers.get('ratelimit')).toMatch(new RegExp(`, "day";r=${remaining};t=\\d+$`));
      expect(answer.headers.get('ratelimit-policy')).toMatch(/^"minute";q=\d+;w=60, "day";q=2;w=86400$/);
    }
    const refused = await ask(token, one);
    expect({ status: refused.status, body: refused.body }).toEqual({ status: 429, body: rateLimited('day', 1) });
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(86_400);
    expect(await scrapeMetric(gatewayUrl, 'tailor_quota_exhausted_total', { client: 'quota-day', window: 'day' })).toBeGreaterThanOrEqual(1);
  });
});

// ---------------------------------------------------------------------------------------------------

describe('audit log', () => {
  const SUBJECT = { id: 'u-audit-subject', email: 'audit.subject@example.test', firstName: 'Auditha', lastName: 'Privatova' };

  it('records who did what and how it ended, with no personal value', async () => {
    const writer = await createKey('audit-writer', ['ingest:write']);
    const reader = await createKey('audit-reader', ['recipients:read']);
    const upsert = await ask(
      writer,
      'mutation IngestProfiles($users: [UserInput!]!) { upsertUsers(users: $users) { accepted } }',
      { users: [SUBJECT] },
    );
    expect({ status: upsert.status, body: upsert.body }).toEqual({ status: 200, body: { data: { upsertUsers: { accepted: 1 } } } });
    const consent = await ask(reader, 'mutation ($id: ID!) { updateConsent(userId: $id, email: false) { email } }', { id: SUBJECT.id });
    expect(consent.status).toBe(403);
    await createKey('audit-temporary', ['recipients:read']);
    await revokeKey('audit-temporary');

    const { stdout } = await cli('audit', ['--json', '--data-dir', tailor.dataDir]);
    const entries = JSON.parse(stdout) as { actor: string; action: string; target: string | null; outcome: string }[];
    expect(entries).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ actor: 'audit-writer', action: 'upsertUsers', target: 'IngestProfiles', outcome: 'ok' }),
        expect.objectContaining({ actor: 'audit-reader', action: 'updateConsent', outcome: 'forbidden' }),
        expect.objectContaining({ actor: CLI_ACTOR, action: 'key.create', target: 'audit-writer', outcome: 'ok' }),
        expect.objectContaining({ actor: CLI_ACTOR, action: 'key.create', target: 'audit-temporary', outcome: 'ok' }),
        expect.objectContaining({ actor: CLI_ACTOR, action: 'key.revoke', target: 'audit-temporary', outcome: 'ok' }),
      ]),
    );
    // The privacy operations and mutations of this file name users too: none of them may be in the log.
    const personal = [...Object.values(SUBJECT), 'u-00001', 'u-00002', 'u-00009', 'u-all-or-nothing', 'all.or.nothing@example.test', fixtures.email].filter(Boolean);
    for (const value of personal) expect(stdout).not.toContain(value);
  });
});

// ---------------------------------------------------------------------------------------------------

describe('the production profile', () => {
  it('refuses to start without a client credential (exit 2, naming npm run keys and TAILOR_JWKS), then starts once a key exists', async () => {
    const dataDir = tempDir('tailor-production-');
    const env = { TAILOR_PROFILE: 'production' };
    const refused = spawnGateway(dataDir, env);
    expect(await startOutcome(refused)).toEqual({ exitCode: 2 });
    expect(refused.output.some((line) => line.includes('npm run keys') && line.includes('TAILOR_JWKS'))).toBe(true);

    const token = await createKey('production-esp', ['recipients:read'], [], dataDir);
    const gateway = spawnGateway(dataDir, env);
    const url = await gateway.listening;
    expect(await get(`${url}/health`)).toMatchObject({ status: 200, body: { status: 'ok' } });
    const variables = { id: 'u-00001', limit: 2 };
    const answer = await askPersisted(token, 'RecipientRecommendations', variables, url);
    expect({ status: answer.status, body: answer.body }).toEqual({ status: 200, body: await fullAnswer(persisted('RecipientRecommendations').body, variables) });
    expectUnauthenticated(await askPersisted(undefined, 'RecipientRecommendations', variables, url));
    await gateway.stop();
  });
});
