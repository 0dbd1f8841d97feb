/**
 * The benchmark's floor (`bench/floor.ts`) answers the two persisted operations the benchmark sends
 * exactly as Tailor does through its gateway: the whole JSON body, on the small demo, with the clock
 * held still so that scores and live link tokens are of one instant. Bad input gets a 400.
 */
import BetterSqlite3 from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Floor, type RunningFloor, createFloor, loadFloorSettings, startFloorServer } from '../bench/floor';
import { demoIds, persistedBody, persistedHash } from '../bench/workloads';
import { product } from './support/fixtures';
import { type InProcessStack, startInProcessStack } from './support/inProcessStack';
import { TEST_LINK_KEYS } from './support/subgraphSigning';

jest.setTimeout(120_000);

const CAMPAIGN = persistedHash('CampaignBatch');
const RECIPIENT = persistedHash('PersonalizeRecipient');
/** Every demo user, and two ids no user has. */
const IDS = [...demoIds(150), 'u-99999', ...demoIds(300).slice(150), 'nobody'];

interface Answer {
  status: number;
  body: any;
}

async function post(url: string, body: string, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  return { status: response.status, body: await response.json() };
}

describe('the benchmark floor', () => {
  let dir: string;
  let stack: InProcessStack;
  let floor: Floor;
  let server: RunningFloor;
  let behaviorDb: BetterSqlite3.Database;
  const tailor = (body: string) => post(`${stack.gateway.url}/graphql`, body, stack.auth);
  const fromFloor = (body: string) => post(server.graphqlUrl, body);
  /** Asks Tailor and the floor the same request and expects the same status and the same whole body. */
  const expectSameAnswer = async (variables: Record<string, unknown>, hash = CAMPAIGN): Promise<Answer> => {
    const body = persistedBody(hash, variables);
    const expected = await tailor(body);
    if (expected.status !== 200) throw new Error(JSON.stringify(expected.body).slice(0, 500));
    expect(Object.keys(expected.body)).toEqual(['data']);
    const answer = await fromFloor(body);
    expect(answer).toEqual(expected);
    // Byte for byte too: the same keys in the same order.
    expect(JSON.stringify(answer.body)).toBe(JSON.stringify(expected.body));
    return expected;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tailor-floor-test-'));
    // SQLite files in a folder of the test's own, so that the floor can open them; the fake clock holds
    // still. A cost budget that lets every demo user have 50 recommendations in one batch.
    stack = await startInProcessStack({ seed: 'demo', env: { TAILOR_DATA_DIR: dir }, gatewayEnv: { TAILOR_MAX_OPERATION_COST: '1000000', TAILOR_MAX_REQUEST_COST: '1000000' } });
    // A running stock has a trending ranking, saved in its database (where the floor reads it at start).
    await stack.stock.trending.ranking();
    await stack.stock.trending.idle();
    floor = createFloor({ dataDir: dir, settings: loadFloorSettings({ TAILOR_LINK_KEYS: TEST_LINK_KEYS, TAILOR_LINK_BASE_URL: stack.gateway.url }), clock: stack.clock });
    server = await startFloorServer(floor, { host: '127.0.0.1', port: 0, clock: stack.clock });
    behaviorDb = new BetterSqlite3(join(dir, 'behavior.db'), { readonly: true });
  });
  afterAll(async () => {
    behaviorDb?.close();
    await server?.close();
    await stack?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Demo users of `IDS` with a purchase within the signal window (30 days). */
  const buyers = () => {
    const since = stack.clock.now() - 30 * 86_400_000;
    return behaviorDb.prepare("SELECT DISTINCT user_id FROM events WHERE type = 'PURCHASE' AND occurred_at >= ?").all(since).map((r: any) => r.user_id as string);
  };

  it('answers a CampaignBatch of every demo user and two unknown ids as Tailor does, by the default limit and by 50 with a campaign', async () => {
    const byDefault = await expectSameAnswer({ ids: IDS });
    const users = byDefault.body.data.users;
    expect(users).toHaveLength(302);
    expect(users.filter((u: unknown) => u === null)).toHaveLength(2);
    // The sample holds users without personalization consent (trending only) and users with purchases.
    const withoutConsent = users.filter((u: any) => u && !u.consent.personalization);
    expect(withoutConsent.length).toBeGreaterThan(10);
    for (const u of withoutConsent) expect(new Set(u.recommendations.map((r: any) => r.reason))).toEqual(new Set(['TRENDING']));
    expect(buyers().filter((id) => IDS.includes(id)).length).toBeGreaterThan(10);

    const long = await expectSameAnswer({ ids: IDS, limit: 50, campaign: 'floor-test' });
    // With 50 places, consenting users' candidates run out and trending fills the rest.
    const consenting = long.body.data.users.filter((u: any) => u?.consent.personalization);
    expect(consenting.some((u: any) => u.recommendations.some((r: any) => r.reason === 'TRENDING'))).toBe(true);
    expect(consenting.some((u: any) => u.recommendations.some((r: any) => r.reason === 'SIMILAR'))).toBe(true);
    expect(long.body.data.users.find((u: any) => u).recommendations[0].clickUrl).toMatch(/\/r\/[A-Za-z0-9_-]+$/);
  });

  it('answers PersonalizeRecipient as Tailor does: consenting, not consenting, unknown, with and without a campaign', async () => {
    const consenting = await expectSameAnswer({ id: 'u-00001' }, RECIPIENT);
    expect(consenting.body.data.user.recentlyViewed.length).toBeGreaterThan(0);
    const declined = await expectSameAnswer({ id: 'u-00002', limit: 6, campaign: 'spring' }, RECIPIENT);
    expect(declined.body.data.user.recentlyViewed).toEqual([]);
    await expectSameAnswer({ id: 'u-00003', limit: 12 }, RECIPIENT);
    for (const id of buyers().slice(0, 5)) await expectSameAnswer({ id, limit: 20 }, RECIPIENT);
    expect((await expectSameAnswer({ id: 'u-99999' }, RECIPIENT)).body).toEqual({ data: { user: null } });
  });

  it('reads stock and consent live: after most products sell out, new ones arrive and a consent is withdrawn, it still answers as Tailor does, the in-stock catalog filling lists the ranking cannot', async () => {
    const now = stack.clock.now();
    const skus = await stack.stock.store.getInStockSkus(1, [], 10_000);
    // Every product but one in eight sells out; three new products (viewed by nobody) arrive in stock.
    await stack.stock.store.recordStockLevels(skus.filter((_, i) => i % 8 !== 0).map((sku) => ({ sku, available: 0, observedAt: now })));
    await stack.stock.store.seed([product('ZZ-NEW-1', 3), product('ZZ-NEW-2', 1), product('ZZ-NEW-3', 7)]);
    await stack.crm.store.updateConsent('u-00001', { personalization: false });
    const long = await expectSameAnswer({ ids: IDS, limit: 50 });
    const fills = long.body.data.users.flatMap((u: any) => u?.recommendations ?? []).filter((r: any) => r.reason === 'TRENDING' && r.score === 0);
    expect(fills.map((r: any) => r.product.sku)).toContain('ZZ-NEW-1');
    expect(long.body.data.users[0].consent.personalization).toBe(false);
    await expectSameAnswer({ ids: IDS });
    await expectSameAnswer({ id: 'u-00001', limit: 50 }, RECIPIENT);
    await expectSameAnswer({ id: 'u-00003', limit: 50, campaign: 'later' }, RECIPIENT);
  });

  it('reads each table once for a whole batch: one statement each for users, consent, events, co-views, stock levels and products', async () => {
    const before = floor.statements();
    await fromFloor(persistedBody(CAMPAIGN, { ids: demoIds(300).slice(100, 300) }));
    const after = floor.statements();
    const delta = Object.fromEntries(Object.keys(after).map((k) => [k, after[k] - before[k]]));
    expect(delta.consents).toBe(1);
    expect(delta.events).toBe(1);
    expect(delta.stock_levels).toBe(1);
    for (const cachedTable of ['users', 'coviews', 'products']) expect(delta[cachedTable]).toBeLessThanOrEqual(1);
  });

  it('refuses anything else with a 400 and a clear message, and keeps answering', async () => {
    const refused = async (body: string, message: RegExp, headers: Record<string, string> = {}) => {
      const answer = await post(server.graphqlUrl, body, headers);
      expect([answer.status, answer.body.errors?.[0]?.message]).toEqual([400, expect.stringMatching(message)]);
    };
    await refused('{not json', /not JSON/);
    await refused('[1, 2]', /JSON object/);
    await refused(JSON.stringify({ query: '{ __typename }' }), /by hash only/);
    await refused(JSON.stringify({ variables: { id: 'u-00001' } }), /sha256Hash is missing/);
    await refused(persistedBody('0'.repeat(64), { id: 'u-00001' }), /unknown persisted operation/);
    await refused(persistedBody(persistedHash('RecipientProfile'), { id: 'u-00001' }), /unknown persisted operation/);
    await refused(persistedBody(CAMPAIGN, {}), /variables.ids: must be a list/);
    await refused(persistedBody(CAMPAIGN, { ids: 'u-00001' }), /variables.ids: must be a list/);
    await refused(persistedBody(CAMPAIGN, { ids: [{ id: 1 }] }), /variables.ids\[0\]: must be an ID/);
    await refused(persistedBody(CAMPAIGN, { ids: demoIds(501) }), /at most 500 ids/);
    await refused(persistedBody(CAMPAIGN, { ids: ['u-00001'], limit: -1 }), /variables.limit/);
    await refused(persistedBody(CAMPAIGN, { ids: ['u-00001'], limit: null }), /variables.limit/);
    await refused(persistedBody(CAMPAIGN, { ids: ['u-00001'], campaign: 'no spaces!' }), /variables.campaign/);
    await refused(persistedBody(CAMPAIGN, { ids: ['u-00001'], extra: 1 }), /no variable "extra"/);
    await refused(persistedBody(RECIPIENT, {}), /variables.id: required/);
    await refused(persistedBody(RECIPIENT, { id: 'u-00001' }), /tailor-floor-now/, { 'tailor-floor-now': 'yesterday' });
    await refused(JSON.stringify({ variables: { id: 'u-00001' }, extensions: { persistedQuery: { version: 2, sha256Hash: RECIPIENT } } }), /version must be 1/);
    const wrongRoute = await fetch(`${server.url}/other`);
    expect([wrongRoute.status, (await wrongRoute.json()).errors[0].message]).toEqual([400, expect.stringContaining('POST /graphql only')]);
    await refused(JSON.stringify({ pad: 'x'.repeat(2 * 1024 * 1024) }), /larger than 1048576 bytes/);
    expect((await fromFloor(persistedBody(RECIPIENT, { id: 'u-00001' }))).status).toBe(200);
  });

  it('computes at a pinned instant when asked: the signals at tailor-floor-now, the link tokens at tailor-floor-link-now', async () => {
    const body = persistedBody(RECIPIENT, { id: 'u-00003', limit: 8 });
    const now = stack.clock.now();
    const pinned = await post(server.graphqlUrl, body, { 'tailor-floor-now': String(now), 'tailor-floor-link-now': String(now) });
    expect(pinned).toEqual(await fromFloor(body));
    const later = await post(server.graphqlUrl, body, { 'tailor-floor-now': String(now), 'tailor-floor-link-now': String(now + 86_400_000) });
    expect(later.body.data.user.recommendations.map((r: any) => r.score)).toEqual(pinned.body.data.user.recommendations.map((r: any) => r.score));
    expect(later.body.data.user.recommendations[0].clickUrl).not.toBe(pinned.body.data.user.recommendations[0].clickUrl);
  });
});
