import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Fault, type FaultProxy, startFaultProxy } from '../bench/faultProxy';
import { freePort, readDevKey } from '../scripts/startStack';
import { LOOPBACK_ONLY, type ProcessStack, REPO_ROOT, get, gql, scrapeMetric, startProcessStack } from './support/processStack';

/**
 * Fault injection over real processes: the subgraphs of `npm start`, a gateway process routed to them
 * through fault-injecting proxies, and one client. Every case asserts the status and the whole
 * `{ data, errors }` an ESP sees.
 */

jest.setTimeout(240_000);

const SUBGRAPHS = ['crm', 'stock', 'behavior'] as const;
type Subgraph = (typeof SUBGRAPHS)[number];
const PERSONALIZE = readFileSync(join(REPO_ROOT, 'schema', 'operations', 'personalize-recipient.graphql'), 'utf8');
const RECIPIENT = { id: 'u-00001' };
const DEADLINE_MS = 6_000;
const ATTEMPT_MS = 2_500;

let tailor: ProcessStack;
let gateway: ChildProcess;
let gatewayUrl: string;
/** The gateway process's data folder: its keys, and the development key it makes. */
let gatewayDataDir: string;
/** `Authorization` headers with that gateway's development key. */
let auth: { authorization: string };
const proxies = {} as Record<Subgraph, FaultProxy>;
const gatewayLogs: string[] = [];
/** The answer with every service up. */
let healthy: any;

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, attempts = 200): Promise<T> {
  for (let i = 0; i < attempts; i++) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gave up waiting for ${what}`);
}

const personalize = () => gql(`${gatewayUrl}/graphql`, PERSONALIZE, RECIPIENT, auth);

/** Heals every subgraph and waits until the gateway answers without an error again (every circuit closed). */
async function heal(...subgraphs: Subgraph[]) {
  for (const name of subgraphs.length ? subgraphs : SUBGRAPHS) await proxies[name].set({ kind: 'pass' });
  await waitFor(`${subgraphs.join(', ') || 'every subgraph'} to recover`, async () => {
    const answer = await personalize();
    return answer.status === 200 && answer.body.errors === undefined ? answer : undefined;
  });
}

beforeAll(async () => {
  tailor = await startProcessStack({ scale: 'small' });
  for (const name of SUBGRAPHS) proxies[name] = await startFaultProxy(tailor.url(name));
  const port = await freePort('127.0.0.1');
  gatewayUrl = `http://127.0.0.1:${port}`;
  gatewayDataDir = mkdtempSync(join(tmpdir(), 'tailor-faults-gateway-'));
  gateway = spawn(process.execPath, ['--require', LOOPBACK_ONLY, '--import', 'tsx', join(REPO_ROOT, 'gateway', 'src', 'main.ts')], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      TAILOR_HOST: '127.0.0.1',
      TAILOR_PORT: String(port),
      TAILOR_DATA_DIR: gatewayDataDir,
      TAILOR_LOG_LEVEL: 'info',
      TAILOR_WATCH_SUPERGRAPH: 'false',
      // Four times the defaults (1.5 s, 1 s), and faults well past them: the healthy answers of a loaded machine
      // stay inside the deadline, and every rule under test works the same at any scale.
      TAILOR_REQUEST_DEADLINE_MS: String(DEADLINE_MS),
      TAILOR_SUBGRAPH_TIMEOUT_MS: String(ATTEMPT_MS),
      TAILOR_SUBGRAPH_URLS: SUBGRAPHS.map((name) => `${name}=${proxies[name].url}/graphql`).join(','),
      // The stack's secret: its subgraphs answer a gateway that signs with it only.
      TAILOR_SUBGRAPH_SECRET: tailor.subgraphSecret,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  gateway.stdout!.on('data', (chunk: Buffer) => gatewayLogs.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
  gateway.stderr!.on('data', (chunk: Buffer) => gatewayLogs.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
  await waitFor('the gateway', async () => ((await get(`${gatewayUrl}/ready`)).status === 200 ? true : undefined), 1200).catch((error) => {
    throw new Error(`${(error as Error).message}; it printed:\n${gatewayLogs.join('\n')}`);
  });
  const devKey = readDevKey(gatewayDataDir);
  if (!devKey) throw new Error(`The gateway made no development key in ${gatewayDataDir}; it printed:\n${gatewayLogs.join('\n')}`);
  auth = { authorization: `Bearer ${devKey}` };
  healthy = (await personalize()).body;
});

afterAll(async () => {
  if (gateway && gateway.exitCode === null && gateway.signalCode === null) {
    const exited = new Promise((resolve) => gateway.once('exit', resolve));
    gateway.kill('SIGTERM');
    await exited;
  }
  await Promise.all(Object.values(proxies).map((p) => p.close()));
  await tailor?.stop();
  if (gatewayDataDir) rmSync(gatewayDataDir, { recursive: true, force: true });
});

it('answers a personalized recipient with every service up', () => {
  const user = healthy.data.user;
  expect(healthy.errors).toBeUndefined();
  expect(user.recentlyViewed.length).toBeGreaterThan(0);
  expect(user.recommendations).toHaveLength(4);
  expect(user.recommendations.map((r: any) => r.reason)).not.toEqual(['TRENDING', 'TRENDING', 'TRENDING', 'TRENDING']);
});

const FAULTS: [string, Fault][] = [
  ['killed (connections refused)', { kind: 'down' }],
  ['slow past the deadline', { kind: 'slow', delayMs: 4 * DEADLINE_MS }],
  ['answering 500', { kind: 'status500' }],
  ['answering garbage', { kind: 'garbage' }],
  ['holding the connection open', { kind: 'held' }],
  ['trickling its answer a byte at a time', { kind: 'trickle', byteEveryMs: 50 }],
];

/** The profile fields of the healthy answer: crm's part, which every degraded answer keeps. */
const profileOf = (user: any) => {
  const { recentlyViewed, recommendations, ...profile } = user;
  return profile;
};

const unavailable = (service: string, path?: (string | number)[]) => ({
  message: expect.stringContaining(`The ${service} service`),
  ...(path ? { path } : {}),
  extensions: expect.objectContaining({ code: 'SUBGRAPH_UNAVAILABLE', service }),
});

describe.each(FAULTS)('a subgraph %s', (_label, fault) => {
  afterEach(async () => {
    await heal();
  });

  it('behavior: 200 with the profile, recentlyViewed [] and in-stock TRENDING recommendations, degraded: [behavior]', async () => {
    await proxies.behavior.set(fault);
    const answer = await personalize();
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      data: {
        user: {
          ...profileOf(healthy.data.user),
          recentlyViewed: [],
          recommendations: [1, 2, 3, 4].map(() => expect.objectContaining({ reason: 'TRENDING', product: expect.objectContaining({ inStock: true }) })),
        },
      },
      errors: [unavailable('behavior', ['user', 'recentlyViewed']), unavailable('behavior', ['user', 'recommendations'])],
      extensions: { degraded: ['behavior'] },
    });
  });

  it('stock: 200 with the profile, recommendations [] (never unchecked products), degraded: [stock]', async () => {
    await proxies.stock.set(fault);
    const answer = await personalize();
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      data: { user: { ...profileOf(healthy.data.user), recentlyViewed: [], recommendations: [] } },
      errors: expect.arrayContaining([unavailable('stock', ['user', 'recentlyViewed']), unavailable('stock', ['user', 'recommendations'])]),
      extensions: { degraded: ['stock'] },
    });
    // Every error is stock's; the one without a path is the failed product fetch itself.
    for (const error of answer.body.errors!) expect(error).toEqual(unavailable('stock', error.path));
  });

  it('crm: 503 with Retry-After, the recipient null and one SUBGRAPH_UNAVAILABLE error', async () => {
    await proxies.crm.set(fault);
    const answer = await personalize();
    expect(answer.status).toBe(503);
    expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(answer.body).toEqual({ data: { user: null }, errors: [unavailable('crm')], extensions: { degraded: ['crm'] } });
  });
});

describe('recovery, bulk, breakers and retries', () => {
  afterEach(async () => {
    await heal();
  });

  it('answers with personal recommendations again once behavior returns', async () => {
    await proxies.behavior.set({ kind: 'down' });
    expect(((await personalize()).body as any).extensions).toEqual({ degraded: ['behavior'] });
    await heal('behavior');
    const answer = await personalize();
    expect(answer.status).toBe(200);
    // Scores decay with the clock; what was chosen, and why, is the same.
    const chosen = (body: any) => body.data.user.recommendations.map((r: any) => [r.reason, r.product.sku]);
    expect(chosen(answer.body)).toEqual(chosen(healthy));
    expect({ ...answer.body.data.user, recommendations: [] }).toEqual({ ...healthy.data.user, recommendations: [] });
    expect(answer.body.errors).toBeUndefined();
  });

  it('answers the REST routes by the same rules: 200 with "degraded" when usable, 503 with Retry-After when not', async () => {
    await proxies.behavior.set({ kind: 'down' });
    const personal = await get(`${gatewayUrl}/api/v1/users/u-00001/personalization`, auth);
    expect(personal.status).toBe(200);
    expect(personal.body).toEqual(expect.objectContaining({ id: 'u-00001', firstName: healthy.data.user.firstName, recentlyViewed: [], degraded: ['behavior'] }));
    expect(personal.body.recommendations.map((r: any) => r.reason)).toEqual(['TRENDING', 'TRENDING', 'TRENDING', 'TRENDING']);
    await heal('behavior');
    await proxies.stock.set({ kind: 'down' });
    const recommendations = await get(`${gatewayUrl}/api/v1/users/u-00001/recommendations`, auth);
    expect(recommendations.status).toBe(503);
    expect(Number(recommendations.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(recommendations.body).toEqual({ error: expect.objectContaining({ code: 'SUBGRAPH_UNAVAILABLE', degraded: ['stock'] }) });
    const profile = await get(`${gatewayUrl}/api/v1/users/u-00001/profile`, auth);
    expect(profile.status).toBe(200);
    expect(profile.body.degraded).toBeUndefined();
  });

  it('keeps each recipient of users(ids:) to itself: a failed entity degrades that recipient only', async () => {
    const batch = `query($ids: [ID!]!) { users(ids: $ids) { id firstName recentlyViewed(limit: 2) { product { sku } } recommendations(limit: 2) { reason product { sku inStock } } } }`;
    const ids = ['u-00001', 'u-00003', 'u-99999', 'u-00004'];
    const before = await gql(`${gatewayUrl}/graphql`, batch, { ids }, auth);
    expect(before.body.errors).toBeUndefined();
    await proxies.behavior.set({ kind: 'nullEntities', indexes: [1] });
    const answer = await gql(`${gatewayUrl}/graphql`, batch, { ids }, auth);
    expect(answer.status).toBe(200);
    const users = before.body.data.users;
    expect(answer.body).toEqual({
      data: { users: [users[0], { ...users[1], recentlyViewed: [], recommendations: [] }, null, users[3]] },
      errors: expect.arrayContaining([unavailable('behavior', ['users', 1, 'recentlyViewed']), unavailable('behavior', ['users', 1, 'recommendations'])]),
      extensions: { degraded: ['behavior'] },
    });
    // Only recipient 1 carries an error at a field.
    const pathed = answer.body.errors!.filter((e) => e.path && e.path[0] === 'users');
    expect(new Set(pathed.map((e) => e.path![1]))).toEqual(new Set([1]));
  });

  it('opens the circuit after repeated failures, fails fast without fetching, then probes and closes it', async () => {
    const ready = async () => (await get(`${gatewayUrl}/ready`)).body.subgraphs.behavior.circuit;
    expect(await ready()).toBe('closed');
    await proxies.behavior.set({ kind: 'status500' });
    await waitFor('the circuit to open', async () => {
      await personalize();
      return (await ready()) === 'open' ? true : undefined;
    });
    expect(await scrapeMetric(gatewayUrl, 'tailor_subgraph_circuit_state', { subgraph: 'behavior' })).toBe(2);
    // While open, an answer is degraded at once and nothing reaches behavior.
    const reached = proxies.behavior.counts().requests;
    const fast = await personalize();
    expect(fast.status).toBe(200);
    expect((fast.body as any).extensions).toEqual({ degraded: ['behavior'] });
    expect(fast.body.errors![0].message).toContain('circuit is open');
    expect(proxies.behavior.counts().requests).toBe(reached);
    // Healed: after the cool-down one probe goes through and closes it.
    await heal('behavior');
    expect(await ready()).toBe('closed');
    expect(await scrapeMetric(gatewayUrl, 'tailor_subgraph_circuit_state', { subgraph: 'behavior' })).toBe(0);
    expect(gatewayLogs.some((line) => line.includes('"circuit":"open"'))).toBe(true);
    expect(gatewayLogs.some((line) => line.includes('"circuit":"closed"'))).toBe(true);
  });

  it('retries a failed query fetch once, and never a mutation', async () => {
    await proxies.crm.set({ kind: 'status500' });
    let before = proxies.crm.counts();
    const query = await gql(`${gatewayUrl}/graphql`, '{ user(id: "u-00001") { id firstName } }', undefined, auth);
    expect(query.status).toBe(503);
    expect(proxies.crm.counts().requests - before.requests).toBe(2);

    await proxies.behavior.set({ kind: 'status500' });
    before = proxies.behavior.counts();
    const event = { eventId: 'fault-e1', userId: 'u-00001', sku: 'ACC-0001', type: 'VIEW', occurredAt: new Date().toISOString() };
    const mutation = await gql(`${gatewayUrl}/graphql`, 'mutation($e: [BrowsingEventInput!]!) { trackEvents(events: $e) { accepted } }', { e: [event] }, auth);
    expect(mutation.status).toBe(503);
    expect(mutation.body).toEqual({ data: null, errors: [unavailable('behavior')], extensions: { degraded: ['behavior'] } });
    const after = proxies.behavior.counts();
    expect(after.requests - before.requests).toBe(1);
    expect(after.mutations - before.mutations).toBe(1);
  });

  it('gives a client that asks for a longer deadline (Tailor-Deadline-Ms) the time a slow subgraph needs, and refuses a bad one', async () => {
    await proxies.behavior.set({ kind: 'slow', delayMs: ATTEMPT_MS + 1_500 });
    const ask = (headers: Record<string, string>) =>
      fetch(`${gatewayUrl}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth, ...headers }, body: JSON.stringify({ query: PERSONALIZE, variables: RECIPIENT }) });
    const hurried = await ask({});
    expect(hurried.status).toBe(200);
    expect(((await hurried.json()) as any).extensions).toEqual({ degraded: ['behavior'] });
    await heal();
    await proxies.behavior.set({ kind: 'slow', delayMs: ATTEMPT_MS + 1_500 });
    const patient = await ask({ 'tailor-deadline-ms': '10000' });
    expect(patient.status).toBe(200);
    const body = (await patient.json()) as any;
    expect(body.errors).toBeUndefined();
    expect(body.data.user.recommendations.map((r: any) => r.reason)).toEqual(healthy.data.user.recommendations.map((r: any) => r.reason));
    const bad = await ask({ 'tailor-deadline-ms': 'soon' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({
      error: { code: 'BAD_REQUEST', message: 'The tailor-deadline-ms header must be a positive whole number of milliseconds (at most 30000 is used).' },
    });
  });

  it('stays within its deadline when behavior is held open: the answer comes before behavior says anything', async () => {
    await proxies.behavior.set({ kind: 'held' });
    const timeouts = await scrapeMetric(gatewayUrl, 'tailor_subgraph_fetch_failures_total', { subgraph: 'behavior', reason: 'timeout' });
    const answer = await personalize();
    expect(answer.status).toBe(200);
    expect((answer.body as any).extensions).toEqual({ degraded: ['behavior'] });
    expect(await scrapeMetric(gatewayUrl, 'tailor_subgraph_fetch_failures_total', { subgraph: 'behavior', reason: 'timeout' })).toBeGreaterThan(timeouts);
  });
});
