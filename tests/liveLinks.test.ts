import { CARD_HEIGHT, CARD_WIDTH, createCardRenderer } from '../gateway/src/links/productCard';
import { createImageSource } from '../gateway/src/links/imageSource';
import { counterTotal } from '../kit/metrics';
import { DAY, event, product, user } from './support/fixtures';
import { type InProcessStack, startInProcessStack } from './support/inProcessStack';

// Live links and images through the whole in-process stack: stock seals `clickUrl`/`liveImageUrl`, the
// gateway opens them at the click and at the open, reads live stock and ranking through the graph, and
// records the click through trackEvents.

const EMAIL = `query Email($id: ID!, $campaign: String) {
  user(id: $id) {
    recommendations(limit: 4) { reason product { sku url } clickUrl(campaign: $campaign) liveImageUrl(campaign: $campaign) }
  }
}`;
const LIVE = `query Live($id: ID!) { user(id: $id) { recommendations(limit: 12) { reason product { sku url name brand price { formatted } imageUrl inStock } } } }`;
const SET_STOCK = `mutation($levels: [StockLevelInput!]!) { recordStockLevels(levels: $levels) { accepted stale } }`;
const FALLBACK = 'https://shop.tailor.example/';

interface Slot {
  reason: string;
  product: { sku: string; url: string };
  clickUrl: string;
  liveImageUrl: string;
}

const SKUS = Array.from({ length: 20 }, (_, i) => `P${String(i + 1).padStart(2, '0')}`);

describe('live links and live images', () => {
  let stack: InProcessStack;

  /** Alice and Bob viewed P01–P04 (Bob without personalization consent); crowds made P09–P12 trending. */
  beforeEach(async () => {
    stack = await startInProcessStack();
    const now = stack.clock.now();
    await stack.stock.store.seed(SKUS.map((sku) => product(sku, 10, { imageUrl: `${stack.urls.stock}/images/${sku}.svg` })));
    await stack.crm.store.seed([user('alice'), user('bob', { consentPersonalization: false }), user('erin')]);
    const events = [];
    for (const id of ['alice', 'bob']) for (const [i, sku] of ['P01', 'P02', 'P03', 'P04'].entries()) events.push(event(id, sku, 'VIEW', now, (i + 1) * DAY));
    for (const [sku, views] of [['P09', 40], ['P10', 30], ['P11', 20], ['P12', 10]] as const) {
      for (let v = 0; v < views; v++) events.push(event(`crowd-${v}`, sku, 'VIEW', now, (v % 5) * DAY + 3_600_000));
    }
    await stack.behavior.store.trackEvents(events);
    await stack.stock.trending.ranking();
    await stack.stock.trending.idle();
  });
  afterEach(() => stack.close());

  const email = async (id: string, campaign: string | null = 'spring-sale'): Promise<Slot[]> => {
    const answer = await stack.query(EMAIL, { id, campaign });
    expect(answer.body.errors).toBeUndefined();
    return answer.body.data.user.recommendations;
  };
  const follow = (url: string, init: RequestInit = {}) => fetch(url, { redirect: 'manual', ...init });
  const soldOut = async (...skus: string[]) => {
    const observedAt = new Date(stack.clock.now()).toISOString();
    const answer = await stack.query(SET_STOCK, { levels: skus.map((sku) => ({ sku, available: 0, observedAt })) });
    expect([answer.status, answer.body]).toEqual([200, { data: { recordStockLevels: { accepted: skus.length, stale: 0 } } }]);
  };
  const clicksOf = async (id: string) => (await stack.behavior.store.getAllEventsByUserId(id)).filter((e) => e.type === 'CLICK');
  const outcomes = (name: string, outcome: string) => counterTotal(stack.gateway.metrics.registry.getSingleMetric(name) as never, { outcome });

  it('are links to the gateway whose token names no recipient, campaign or product', async () => {
    const slots = await email('alice');
    expect(slots.map((s) => s.product.sku)).toEqual(['P01', 'P02', 'P03', 'P04']);
    for (const slot of slots) {
      expect(slot.clickUrl).toMatch(new RegExp(`^${stack.gateway.url}/r/[A-Za-z0-9_-]{80,}$`));
      expect(slot.liveImageUrl).toBe(`${slot.clickUrl.replace('/r/', '/i/')}.png`);
      for (const plain of ['alice', 'spring', 'P0']) expect(slot.clickUrl).not.toContain(plain);
    }
    expect(new Set(slots.map((s) => s.clickUrl)).size).toBe(4);
    // The same data and clock give the same links; another campaign gives others.
    expect((await email('alice')).map((s) => s.clickUrl)).toEqual(slots.map((s) => s.clickUrl));
    expect((await email('alice', 'autumn')).map((s) => s.clickUrl)).not.toEqual(slots.map((s) => s.clickUrl));
  });

  it('lead to the product while it is in stock, keep the tracking parameters, and record the click', async () => {
    const [first] = await email('alice');
    const response = await follow(`${first.clickUrl}?utm_source=esp&utm_campaign=spring`);
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe('https://shop.tailor.example/p/P01?utm_source=esp&utm_campaign=spring');
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    expect(await response.text()).toBe('');
    expect(await clicksOf('alice')).toEqual([expect.objectContaining({ sku: 'P01', type: 'CLICK', occurredAt: stack.clock.now() })]);
    // A second click of the same link within the window is the same event, whichever gateway takes it.
    expect((await follow(first.clickUrl)).status).toBe(302);
    expect(await clicksOf('alice')).toHaveLength(1);
    expect(await outcomes('tailor_live_link_clicks_total', 'product')).toBe(2);
  });

  it('make the click count in the very next recommendation query', async () => {
    const before = await email('erin');
    expect(before.map((s) => s.reason)).toEqual(['TRENDING', 'TRENDING', 'TRENDING', 'TRENDING']);
    const clicked = before[2];
    expect((await follow(clicked.clickUrl)).status).toBe(302);
    const after = await email('erin');
    expect(after[0]).toMatchObject({ reason: 'RECENTLY_VIEWED', product: { sku: clicked.product.sku } });
  });

  it('lead a sold-out product to the best in-stock recommendation now that the email does not show', async () => {
    const slots = await email('alice');
    await soldOut('P02');
    const shown = new Set(slots.map((s) => s.product.sku));
    const live = (await stack.query(LIVE, { id: 'alice' })).body.data.user.recommendations as { product: { sku: string; url: string } }[];
    const expected = live.find((r) => !shown.has(r.product.sku))!;
    expect(expected.product.sku).not.toBe('P02');
    const response = await follow(`${slots[1].clickUrl}?utm_source=esp`);
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe(`${expected.product.url}?utm_source=esp`);
    expect(await outcomes('tailor_live_link_clicks_total', 'replacement')).toBe(1);
    // The shopper's interest in the sold-out product is still a signal.
    expect(await clicksOf('alice')).toEqual([expect.objectContaining({ sku: 'P02' })]);
  });

  it('lead to the fallback page when nothing the email does not already show is in stock', async () => {
    const slots = await email('alice');
    await soldOut('P02', ...SKUS.slice(4));
    const response = await follow(`${slots[1].clickUrl}?utm_source=esp`);
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe(`${FALLBACK}?utm_source=esp`);
    expect(await outcomes('tailor_live_link_clicks_total', 'fallback')).toBe(1);
  });

  it('give a recipient without personalization consent a trending replacement, and record nothing', async () => {
    const slots = await email('bob');
    expect(slots.every((s) => s.reason === 'TRENDING')).toBe(true);
    await soldOut(slots[0].product.sku);
    const shown = new Set(slots.map((s) => s.product.sku));
    const live = (await stack.query(LIVE, { id: 'bob' })).body.data.user.recommendations as { reason: string; product: { sku: string; url: string } }[];
    const expected = live.find((r) => !shown.has(r.product.sku))!;
    expect(expected.reason).toBe('TRENDING');
    const response = await follow(slots[0].clickUrl);
    expect(response.headers.get('location')).toBe(expected.product.url);
    expect(await clicksOf('bob')).toEqual([]);
  });

  it('send an expired link to the fallback page and record nothing', async () => {
    const [first] = await email('alice');
    stack.clock.advance(31 * DAY);
    const response = await follow(`${first.clickUrl}?utm_source=esp`);
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe(`${FALLBACK}?utm_source=esp`);
    expect(await clicksOf('alice')).toEqual([]);
    expect(await outcomes('tailor_live_link_clicks_total', 'expired')).toBe(1);
  });

  it('send an erased recipient to the fallback page and record nothing', async () => {
    const [first] = await email('alice');
    // The receipts of this stack's three subgraphs (a clone's registry may list a partner subgraph this
    // in-process stack does not run, whose receipt then reports it unreachable).
    const erased = await stack.query('mutation($id: ID!) { eraseUser(id: $id) { receipts { subgraph error } } }', { id: 'alice' });
    expect(erased.status).toBe(200);
    const receipts = (erased.body.data.eraseUser.receipts as { subgraph: string; error: string | null }[]).filter((r) => ['crm', 'stock', 'behavior'].includes(r.subgraph));
    expect(receipts.sort((a, b) => a.subgraph.localeCompare(b.subgraph))).toEqual(['behavior', 'crm', 'stock'].map((subgraph) => ({ subgraph, error: null })));
    const response = await follow(first.clickUrl);
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe(FALLBACK);
    expect(await stack.behavior.store.getAllEventsByUserId('alice')).toEqual([]);
    expect(await outcomes('tailor_live_link_clicks_total', 'unknown_recipient')).toBe(1);
  });

  it('refuse a changed or cut token with 400, and record nothing', async () => {
    const [first] = await email('alice');
    const token = first.clickUrl.split('/r/')[1];
    const changed = token.slice(0, 40) + (token[40] === 'A' ? 'B' : 'A') + token.slice(41);
    for (const url of [`${stack.gateway.url}/r/${changed}`, `${stack.gateway.url}/r/${token.slice(0, -3)}`, `${stack.gateway.url}/r/not-a-token`, `${stack.gateway.url}/i/${changed}.png`]) {
      const response = await follow(url);
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({ error: { code: 'BAD_REQUEST', message: 'This link is not valid: it was changed or cut short, or its key was retired.' } });
    }
    expect(await clicksOf('alice')).toEqual([]);
    const post = await follow(first.clickUrl, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('answer a HEAD (a link checker) like a click but record nothing', async () => {
    const [first] = await email('alice');
    const response = await follow(first.clickUrl, { method: 'HEAD' });
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe('https://shop.tailor.example/p/P01');
    expect(await clicksOf('alice')).toEqual([]);
    expect((await follow(`${stack.gateway.url}/r/not-a-token`, { method: 'HEAD' })).status).toBe(400);
    expect(await outcomes('tailor_live_link_clicks_total', 'product')).toBe(0);
    expect(await outcomes('tailor_live_link_clicks_total', 'invalid')).toBe(0);
  });

  describe('live images', () => {
    const renderer = createCardRenderer();
    const pictures = createImageSource({ timeoutMs: 5_000, maxBytes: 2 * 1024 * 1024, maxEntries: 10, ttlMs: 60_000 });
    const png = async (url: string) => {
      const response = await fetch(url);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('image/png');
      expect(response.headers.get('cache-control')).toBe('private, max-age=60');
      const bytes = Buffer.from(await response.arrayBuffer());
      expect(bytes.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
      expect([bytes.readUInt32BE(16), bytes.readUInt32BE(20)]).toEqual([CARD_WIDTH, CARD_HEIGHT]);
      return bytes;
    };
    /** The card the gateway should show for a product of the LIVE query. */
    const cardOf = async (p: { name: string; brand: string; price: { formatted: string }; imageUrl: string }, badge?: { text: string; tone: 'urgent' | 'positive' | 'neutral' }) => {
      const picture = await pictures.get(p.imageUrl);
      expect(picture).toBeDefined();
      return renderer.render({ name: p.name, brand: p.brand, price: p.price.formatted, picture, ...(badge ? { badge } : {}) });
    };

    it('show the slot product while it is in stock, and the link replacement once it sold out', async () => {
      const slots = await email('alice');
      const live = (await stack.query(LIVE, { id: 'alice' })).body.data.user.recommendations;
      const own = await png(slots[1].liveImageUrl);
      expect(own.equals(await cardOf(live.find((r: { product: { sku: string } }) => r.product.sku === 'P02').product))).toBe(true);
      await soldOut('P02');
      const shown = new Set(slots.map((s) => s.product.sku));
      const replacement = (await stack.query(LIVE, { id: 'alice' })).body.data.user.recommendations.find((r: { product: { sku: string } }) => !shown.has(r.product.sku));
      const after = await png(slots[1].liveImageUrl);
      expect(after.equals(own)).toBe(false);
      expect(after.equals(await cardOf(replacement.product, { text: 'Picked for you', tone: 'neutral' }))).toBe(true);
      // The image shows what the link leads to.
      expect((await follow(slots[1].clickUrl)).headers.get('location')).toBe(replacement.product.url);
      expect(await outcomes('tailor_live_images_total', 'replacement')).toBe(1);
    });

    it('show "Only N left" for low stock, and render each (product, stock state) once', async () => {
      const slots = await email('alice');
      const observedAt = new Date(stack.clock.now()).toISOString();
      await stack.query(SET_STOCK, { levels: [{ sku: 'P03', available: 2, observedAt }] });
      const live = (await stack.query(LIVE, { id: 'alice' })).body.data.user.recommendations;
      const first = await png(slots[2].liveImageUrl);
      expect(first.equals(await cardOf(live.find((r: { product: { sku: string } }) => r.product.sku === 'P03').product, { text: 'Only 2 left', tone: 'urgent' }))).toBe(true);
      const renders = (result: string) => counterTotal(stack.gateway.metrics.registry.getSingleMetric('tailor_live_image_renders_total') as never, { result });
      expect((await png(slots[2].liveImageUrl)).equals(first)).toBe(true);
      expect([await renders('miss'), await renders('hit')]).toEqual([1, 1]);
      // Another recipient's link to the same product in the same state is the same card.
      const bob = await email('bob');
      await stack.query(SET_STOCK, { levels: [{ sku: bob[0].product.sku, available: 2, observedAt }] });
      await png(bob[0].liveImageUrl);
      expect(await renders('miss')).toBe(2);
    });

    it('show the fallback card for an expired link', async () => {
      const [first] = await email('alice');
      stack.clock.advance(31 * DAY);
      const bytes = await png(first.liveImageUrl);
      expect(bytes.equals(await renderer.render({ name: "See what's new" }))).toBe(true);
      expect(await outcomes('tailor_live_images_total', 'expired')).toBe(1);
    });
  });

  describe('repeated renders of one recipient', () => {
    const personalization = (query: string, authorization = stack.auth.authorization) => fetch(`${stack.gateway.url}/api/v1/users/alice/personalization${query}`, { headers: { authorization } });
    const fetchesSoFar = async () => (await stack.fetches('crm')) + (await stack.fetches('stock')) + (await stack.fetches('behavior'));
    const kept = (result: string) => counterTotal(stack.gateway.metrics.registry.getSingleMetric('tailor_rest_answer_cache_total') as never, { result });

    it('answer the repeats of one (campaign, recipient, client) from the kept answer, with its live links', async () => {
      const first = await personalization('?campaign=spring-sale');
      expect(first.status).toBe(200);
      const body = await first.json();
      expect(body.recommendations.map((r: { sku: string }) => r.sku)).toEqual(['P01', 'P02', 'P03', 'P04']);
      const before = await fetchesSoFar();
      for (let render = 0; render < 3; render++) {
        const repeat = await personalization('?campaign=spring-sale');
        expect([repeat.status, repeat.headers.get('etag'), await repeat.json()]).toEqual([200, first.headers.get('etag'), body]);
      }
      expect(await fetchesSoFar()).toBe(before);
      expect([await kept('miss'), await kept('hit')]).toEqual([1, 3]);
      // The kept answer's links still check stock at the click.
      await soldOut('P01');
      expect((await personalization('?campaign=spring-sale')).status).toBe(200);
      expect((await follow(body.recommendations[0].clickUrl)).headers.get('location')).not.toBe(body.recommendations[0].url);
    });

    it('are dropped by a mutation, so a consent withdrawn or an erasure shows in the very next answer', async () => {
      const first = await (await personalization('?campaign=spring-sale')).json();
      expect(first.consent).toEqual({ email: true, personalization: true });
      const withdrawn = await stack.query('mutation($id: ID!) { updateConsent(userId: $id, personalization: false) { personalization } }', { id: 'alice' });
      expect([withdrawn.status, withdrawn.body]).toEqual([200, { data: { updateConsent: { personalization: false } } }]);
      const after = await (await personalization('?campaign=spring-sale')).json();
      expect(after.consent).toEqual({ email: true, personalization: false });
      expect(after.recommendations.every((r: { reason: string }) => r.reason === 'TRENDING')).toBe(true);
      expect(await kept('hit')).toBe(0);
      // A click recorded by a live link is no such change: the kept answer stays.
      await follow((await email('erin'))[0].clickUrl);
      expect((await stack.behavior.store.getAllEventsByUserId('erin')).map((e) => e.type)).toEqual(['CLICK']);
      await personalization('?campaign=spring-sale');
      expect(await kept('hit')).toBe(1);
      await stack.query('mutation($id: ID!) { eraseUser(id: $id) { complete } }', { id: 'alice' });
      const erased = await personalization('?campaign=spring-sale');
      expect([erased.status, await erased.json()]).toEqual([404, { error: { code: 'NOT_FOUND', message: 'No user with id "alice".' } }]);
    });

    it('compute again for another campaign, another client, or a request without a campaign', async () => {
      await personalization('?campaign=spring-sale');
      const before = await fetchesSoFar();
      await personalization('?campaign=autumn');
      const afterCampaign = await fetchesSoFar();
      expect(afterCampaign).toBeGreaterThan(before);
      // Another client with the very same scopes: its quota and audit trail are its own, so is its answer.
      const devScopes = stack.gateway.keys.list().find((k) => stack.gateway.keys.verify(stack.gateway.devKey!)?.id === k.id)!.scopes;
      const { token } = stack.gateway.keys.create({ name: 'other-esp', scopes: devScopes });
      expect((await personalization('?campaign=spring-sale', `Bearer ${token}`)).status).toBe(200);
      const afterClient = await fetchesSoFar();
      expect(afterClient).toBeGreaterThan(afterCampaign);
      await personalization('');
      await personalization('');
      expect(await fetchesSoFar()).toBeGreaterThan(afterClient);
      expect(await kept('hit')).toBe(0);
      // A route whose operation takes no campaign refuses the parameter, and nothing is looked up.
      const profile = await fetch(`${stack.gateway.url}/api/v1/users/alice/profile?campaign=spring-sale`, { headers: stack.auth });
      expect([profile.status, await profile.json()]).toEqual([400, { error: { code: 'BAD_USER_INPUT', message: 'Unknown parameter "campaign". Known: none.', parameter: 'campaign' } }]);
      expect([await kept('miss'), await kept('hit')]).toEqual([3, 0]);
    });
  });
});
