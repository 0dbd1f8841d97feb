import { statSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Counter } from 'prom-client';
import { ConfigError } from '../kit/config';
import { createLogger } from '../kit/logger';
import { counterTotal } from '../kit/metrics';
import {
  SIGNATURE_HEADER,
  createCredentialVerifier,
  parseSubgraphKeys,
  signRequest,
  verifyRequest,
} from '../kit/subgraphCredential';
import { loadGatewayConfig } from '../gateway/src/config';
import { createGatewayMetrics } from '../gateway/src/gatewayMetrics';
import { createSubgraphDataSource } from '../gateway/src/subgraphDataSource';
import { loadCrmConfig } from '../subgraphs/crm/src/config';
import { SUBGRAPH_SECRET_FILE, ensureSubgraphSecret } from '../scripts/startStack';
import { DAY, event, product, user } from './support/fixtures';
import { type InProcessStack, startInProcessStack } from './support/inProcessStack';
import { TEST_SUBGRAPH_SECRET, signedHeaders } from './support/subgraphSigning';

const SECRET = 'a'.repeat(64);
const OTHER = 'b'.repeat(64);
const T0 = 1_800_000_000_000;
const BODY = '{"query":"{ __typename }"}';

describe('signRequest / verifyRequest', () => {
  const keyring = parseSubgraphKeys(SECRET);
  const verify = (header: string | string[] | undefined, body: string | Buffer = BODY, now = T0, ring = keyring) =>
    verifyRequest({ keyring: ring, header, body, now, toleranceSeconds: 30 });

  it('makes a header t=<unix s>,n=<nonce>,k=<key id>,v1=<hex> that verifies over the same body', () => {
    const header = signRequest(SECRET, BODY, T0);
    expect(header).toMatch(/^t=1800000000,n=[0-9a-f]{32},k=default,v1=[0-9a-f]{64}$/);
    expect(verify(header)).toEqual({ ok: true, keyId: 'default' });
    // A Buffer and the string it encodes are the same bytes.
    expect(verify(header, Buffer.from(BODY))).toEqual({ ok: true, keyId: 'default' });
  });

  it('gives every request a fresh nonce', () => {
    const nonces = new Set(Array.from({ length: 50 }, () => signRequest(SECRET, BODY, T0).split(',')[1]));
    expect(nonces.size).toBe(50);
  });

  it('refuses a signature made with another secret', () => {
    expect(verify(signRequest(OTHER, BODY, T0))).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('refuses an unknown key id', () => {
    expect(verify(signRequest(parseSubgraphKeys(`k9=${SECRET}`), BODY, T0))).toEqual({ ok: false, reason: 'unknown_key' });
  });

  it('signs with the first key and accepts any key of the ring (rotation)', () => {
    const rotated = parseSubgraphKeys(`new=${OTHER},default=${SECRET}`);
    expect(signRequest(rotated, BODY, T0)).toContain(',k=new,');
    expect(verify(signRequest(rotated, BODY, T0), BODY, T0, rotated)).toEqual({ ok: true, keyId: 'new' });
    // A gateway still on the old secret is accepted during the rotation…
    expect(verify(signRequest(SECRET, BODY, T0), BODY, T0, rotated)).toEqual({ ok: true, keyId: 'default' });
    // …and refused once the old key is dropped.
    expect(verify(signRequest(SECRET, BODY, T0), BODY, T0, parseSubgraphKeys(`new=${OTHER}`))).toEqual({ ok: false, reason: 'unknown_key' });
    // A key id cannot be swapped for another key's: the MAC covers it.
    const forged = signRequest(rotated, BODY, T0).replace(',k=new,', ',k=default,');
    expect(verify(forged, BODY, T0, rotated)).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('refuses a body that was changed after signing, by one byte', () => {
    const header = signRequest(SECRET, BODY, T0);
    expect(verify(header, BODY.replace('__typename', '__typenamf'))).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verify(header, `${BODY} `)).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('refuses a credential older or newer than the tolerance, and accepts one at its edge', () => {
    expect(verify(signRequest(SECRET, BODY, T0 - 31_000))).toEqual({ ok: false, reason: 'expired' });
    expect(verify(signRequest(SECRET, BODY, T0 + 31_000))).toEqual({ ok: false, reason: 'future' });
    expect(verify(signRequest(SECRET, BODY, T0 - 30_000)).ok).toBe(true);
    expect(verify(signRequest(SECRET, BODY, T0 + 30_000)).ok).toBe(true);
    // The timestamp is under the MAC: moving it forward breaks the signature.
    const old = signRequest(SECRET, BODY, T0 - 60_000);
    expect(verify(old.replace(/^t=\d+/, `t=${T0 / 1000}`))).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('accepts a nonce once within the tolerance (replay), and only a good signature records one', () => {
    let now = T0;
    const verifier = createCredentialVerifier({ keyring, toleranceSeconds: 30, now: () => now });
    const header = signRequest(SECRET, BODY, T0);
    const nonce = header.split(',')[1].slice(2);
    // A forgery with the same nonce does not burn it.
    expect(verifier.verify(signRequest(OTHER, BODY, T0, nonce), BODY)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verifier.verify(header, BODY)).toEqual({ ok: true, keyId: 'default' });
    expect(verifier.verify(header, BODY)).toEqual({ ok: false, reason: 'replayed' });
    now = T0 + 29_000;
    expect(verifier.verify(header, BODY)).toEqual({ ok: false, reason: 'replayed' });
    now = T0 + 31_000;
    expect(verifier.verify(header, BODY)).toEqual({ ok: false, reason: 'expired' });
  });

  it('refuses a missing or malformed header', () => {
    const good = signRequest(SECRET, BODY, T0);
    expect(verify(undefined)).toEqual({ ok: false, reason: 'missing' });
    expect(verify('')).toEqual({ ok: false, reason: 'missing' });
    for (const header of [
      'garbage',
      'Bearer abc',
      good.replace(/,v1=.*/, ''),
      good.replace(/^t=\d+,/, ''),
      `${good},v1=${'0'.repeat(64)}`,
      good.replace(/^t=\d+/, 't=soon'),
      good.replace(/v1=[0-9a-f]{64}/, 'v1=xyz'),
      good.replace(/v1=([0-9a-f]{64})/, 'v1=$1ab'),
      good.replace(/n=[0-9a-f]+/, 'n=short'),
      good.replace(/k=default/, 'k='),
      `${good},x=1`,
      'x'.repeat(10_000),
    ]) {
      expect([header.slice(0, 40), verify(header)]).toEqual([header.slice(0, 40), { ok: false, reason: 'malformed' }]);
    }
    expect(verify([good, good])).toEqual({ ok: false, reason: 'malformed' });
  });

  it('reads TAILOR_SUBGRAPH_SECRET as one secret or kid=secret pairs, and stops start-up on a bad one', () => {
    expect(parseSubgraphKeys(SECRET).keys).toEqual([{ id: 'default', secret: SECRET }]);
    expect(parseSubgraphKeys(`k2=${OTHER}, k1=${SECRET}`).keys.map((k) => k.id)).toEqual(['k2', 'k1']);
    expect(() => parseSubgraphKeys('short')).toThrow(/at least 32/);
    expect(() => parseSubgraphKeys(`k1=${SECRET},k1=${OTHER}`)).toThrow(/twice/);
    expect(() => parseSubgraphKeys(`k1=${SECRET},,k2=${OTHER}`)).toThrow(/empty/);
    expect(() => parseSubgraphKeys(`k1=${SECRET},${OTHER}`)).toThrow(/entry 2/);
    expect(loadCrmConfig({ env: {}, argv: [] }).subgraphSecret).toBeUndefined();
    for (const load of [loadCrmConfig, loadGatewayConfig] as ((s: { env: Record<string, string>; argv: string[] }) => unknown)[]) {
      let error: unknown;
      try {
        load({ env: { TAILOR_SUBGRAPH_SECRET: 'too-short' }, argv: [] });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toContain('TAILOR_SUBGRAPH_SECRET');
      expect((error as Error).message).toMatch(/at least 32/);
    }
    expect(() => loadCrmConfig({ env: { TAILOR_SUBGRAPH_CREDENTIAL_TOLERANCE_SECONDS: '0' }, argv: [] })).toThrow(ConfigError);
  });
});

describe("npm start's secret file", () => {
  it('is created in the data folder with mode 0600 on first start, and reused on the next', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tailor-secret-'));
    try {
      const dataDir = join(dir, 'data'); // not there yet, as on a first start
      const secret = ensureSubgraphSecret(dataDir);
      expect(secret).toMatch(/^[0-9a-f]{64}$/);
      const file = join(dataDir, SUBGRAPH_SECRET_FILE);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(ensureSubgraphSecret(dataDir)).toBe(secret);
      expect(parseSubgraphKeys(secret).keys).toHaveLength(1);
      writeFileSync(file, 'short\n');
      expect(() => ensureSubgraphSecret(dataDir)).toThrow(/at least 32/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the gateway data source', () => {
  let server: Server;
  let url: string;
  const seen: { header: string | undefined; body: string }[] = [];
  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ header: req.headers[SIGNATURE_HEADER] as string | undefined, body: Buffer.concat(chunks).toString('utf8') });
        // The first attempt fails, so that the retry is seen too.
        res.writeHead(seen.length === 1 ? 500 : 200, { 'content-type': 'application/json' });
        res.end(seen.length === 1 ? '{}' : '{"data":{"__typename":"Query"}}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  it('signs the exact body of every attempt, with a fresh nonce on the retry', async () => {
    const keyring = parseSubgraphKeys(TEST_SUBGRAPH_SECRET);
    const source = createSubgraphDataSource({
      name: 'crm',
      urls: [url],
      policy: { timeoutMs: 5_000, retries: 1, retryDelayMs: 1, breakerFailures: 5, breakerCooldownMs: 500 },
      metrics: createGatewayMetrics(),
      fallbacks: () => new Map(),
      logger: createLogger('gateway', 'silent'),
      sign: (body) => signRequest(keyring, body),
    });
    const answer = await source.process({ request: { query: '{ __typename }', variables: {} }, context: { deadline: Date.now() + 10_000 } } as never);
    expect(answer).toEqual({ data: { __typename: 'Query' } });
    expect(seen).toHaveLength(2);
    const verifier = createCredentialVerifier({ keyring, toleranceSeconds: 30 });
    for (const { header, body } of seen) expect(verifier.verify(header, body)).toEqual({ ok: true, keyId: 'default' });
    expect(seen[0].header!.split(',')[1]).not.toBe(seen[1].header!.split(',')[1]);
  });
});

describe('subgraphs answer the gateway only (real HTTP, in-process stack)', () => {
  let stack: InProcessStack;
  beforeAll(async () => {
    stack = await startInProcessStack();
    const now = stack.clock.now();
    await stack.crm.store.seed([user('u-00001'), user('u-00002', { consentPersonalization: false })]);
    await stack.stock.store.seed([product('P01'), product('P02')]);
    await stack.behavior.store.trackEvents([
      event('u-00002', 'P01', 'VIEW', now, 1 * DAY),
      event('u-00002', 'P02', 'VIEW', now, 2 * DAY),
      event('u-00001', 'P02', 'VIEW', now, 1 * DAY),
    ]);
  });
  afterAll(() => stack.close());

  const CRM_ENTITIES = {
    query: 'query($r: [_Any!]!) { _entities(representations: $r) { ... on User { id email firstName lastName consent { email personalization } } } }',
    variables: { r: [{ __typename: 'User', id: 'u-00001' }, { __typename: 'User', id: 'u-00002' }] },
  };
  // The forged representation: the caller claims consent that u-00002 never gave.
  const FORGED = {
    query: 'query($r: [_Any!]!) { _entities(representations: $r) { ... on User { recentViews { skus } } } }',
    variables: { r: [{ __typename: 'User', id: 'u-00002', consent: { personalization: true } }] },
  };
  const cases: [name: string, target: 'crm' | 'behavior', operation: object][] = [
    ['crm _entities (email, names, consent)', 'crm', CRM_ENTITIES],
    ["behavior _entities with a forged consent for u-00002's recent views", 'behavior', FORGED],
  ];

  /** Sends `body` to a subgraph's /graphql with `header` as its credential (none when undefined). */
  async function send(target: 'crm' | 'behavior' | 'stock', body: string, header?: string) {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (header !== undefined) headers[SIGNATURE_HEADER] = header;
    const response = await fetch(`${stack.urls[target]}/graphql`, { method: 'POST', headers, body });
    return { status: response.status, body: (await response.json()) as any };
  }

  /** Expects `attempt` to be refused with 401 UNAUTHENTICATED and to run no SQL statement in any subgraph. */
  async function expectRefused(attempt: () => Promise<{ status: number; body: any }>) {
    const before = await Promise.all((['crm', 'stock', 'behavior'] as const).map((s) => stack.statements(s)));
    const answer = await attempt();
    expect(answer.status).toBe(401);
    expect(answer.body).toEqual({ errors: [{ message: expect.stringMatching(/^This subgraph answers the gateway only: /), extensions: { code: 'UNAUTHENTICATED' } }] });
    expect(JSON.stringify(answer.body)).not.toMatch(/u-0000|example\.com|P0\d/);
    const after = await Promise.all((['crm', 'stock', 'behavior'] as const).map((s) => stack.statements(s)));
    expect(after).toEqual(before);
  }

  describe.each(cases)('%s', (_name, target, operation) => {
    const body = JSON.stringify(operation);
    it('is refused without a credential', () => expectRefused(() => send(target, body)));
    it('is refused with a credential signed with another secret', () => expectRefused(() => send(target, body, signRequest('w'.repeat(64), body))));
    it('is refused with an expired credential', () => expectRefused(() => send(target, body, signRequest(TEST_SUBGRAPH_SECRET, body, Date.now() - 31_000))));
    it('is refused with a credential for another body', () => expectRefused(() => send(target, body, signRequest(TEST_SUBGRAPH_SECRET, '{"query":"{ __typename }"}'))));
    it('is refused with a malformed credential', () => expectRefused(() => send(target, body, 'v1=letmein')));
    it('is refused when a credential that was used is replayed', async () => {
      const header = signRequest(TEST_SUBGRAPH_SECRET, body);
      const first = await send(target, body, header);
      expect(first.status).toBe(200);
      await expectRefused(() => send(target, body, header));
    });
  });

  it('is refused over GET too, and a signed GET (over its query string) is answered', async () => {
    const query = `query=${encodeURIComponent('{ __typename }')}`;
    const unsigned = await fetch(`${stack.urls.crm}/graphql?${query}`);
    expect(unsigned.status).toBe(401);
    expect(((await unsigned.json()) as any).errors[0].extensions.code).toBe('UNAUTHENTICATED');
    const forOther = await fetch(`${stack.urls.crm}/graphql?${query}`, { headers: { [SIGNATURE_HEADER]: signRequest(TEST_SUBGRAPH_SECRET, 'query=x') } });
    expect(forOther.status).toBe(401);
    const signed = await fetch(`${stack.urls.crm}/graphql?${query}`, { headers: { 'apollo-require-preflight': 'true', [SIGNATURE_HEADER]: signRequest(TEST_SUBGRAPH_SECRET, query) } });
    expect({ status: signed.status, body: await signed.json() }).toEqual({ status: 200, body: { data: { __typename: 'Query' } } });
  });

  it('verifies the exact bytes it then parses (a body that is not UTF-8 is not re-encoded first)', async () => {
    const body = Buffer.concat([Buffer.from('{"query":"{ __typename }","extensions":{"x":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}}')]);
    const response = await fetch(`${stack.urls.crm}/graphql`, { method: 'POST', headers: signedHeaders(body), body });
    expect(response.status).not.toBe(401);
  });

  it('leaves /health and /metrics open', async () => {
    for (const target of ['crm', 'stock', 'behavior'] as const) {
      expect((await fetch(`${stack.urls[target]}/health`)).status).toBe(200);
      expect((await fetch(`${stack.urls[target]}/metrics`)).status).toBe(200);
    }
  });

  it('with the credential, the forged call would read the history: only the gateway may hold it', async () => {
    const body = JSON.stringify(FORGED);
    const answer = await send('behavior', body, signRequest(TEST_SUBGRAPH_SECRET, body));
    expect(answer.status).toBe(200);
    expect(answer.body.data._entities[0].recentViews.skus.length).toBeGreaterThan(0);
  });

  it('answers the same data through the gateway, which signs, with u-00002 refusing personalization', async () => {
    const res = await stack.query('{ users(ids: ["u-00001", "u-00002"]) { id email firstName consent { personalization } recentlyViewed { product { sku } } } }');
    expect(res.status).toBe(200);
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data.users).toEqual([
      { id: 'u-00001', email: 'u-00001@example.com', firstName: 'First u-00001', consent: { personalization: true }, recentlyViewed: [{ product: { sku: 'P02' } }] },
      { id: 'u-00002', email: 'u-00002@example.com', firstName: 'First u-00002', consent: { personalization: false }, recentlyViewed: [] },
    ]);
  });

  it("signs stock's own trending fetch from behavior", async () => {
    await stack.stock.trending.ranking();
    await stack.stock.trending.idle();
    const refreshes = stack.stock.definition.metrics.registry.getSingleMetric('tailor_trending_refresh_total') as Counter<string>;
    expect(await counterTotal(refreshes, { result: 'ok' })).toBeGreaterThan(0);
    expect(await counterTotal(refreshes, { result: 'error' })).toBe(0);
  });
});
