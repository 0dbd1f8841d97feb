/**
 * A shopper's view of live links and images, over the real processes of `npm start`
 * (scripts/startStack.ts) with the small demo data set: a campaign is rendered by the real render CLI,
 * and its links and images are then fetched as a mail client and a shopper would, with no credential.
 *
 * Every process here, the render CLI's too, preloads tests/support/loopbackOnly.cjs, which refuses any
 * connection or DNS look-up beyond 127.0.0.1; the last case checks that nothing was refused. So the
 * send, the clicks and the live images need no network: the fonts ship with the gateway, and the demo's
 * product pictures are on loopback.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOOPBACK_ONLY, type ProcessStack, REPO_ROOT, startProcessStack } from './support/processStack';

jest.setTimeout(120_000);

const RECIPIENT = 'u-00001';
const CAMPAIGN = 'spring-sale';
/** Where the demo's product pages live: `<PRODUCT_PAGE><sku>`. */
const PRODUCT_PAGE = 'https://shop.tailor.example/p/';
const INVALID_LINK = { error: { code: 'BAD_REQUEST', message: 'This link is not valid: it was changed or cut short, or its key was retired.' } };

/** One recommendation slot of the rendered email, as its HTML shows it. */
interface Slot {
  link: string;
  image: string;
  alt: string;
  /** The product the link led to right after the send (a HEAD, which records nothing). */
  sku: string;
}

let tailor: ProcessStack;
let work: string;
let render: { code: number | null; stdout: string; stderr: string };
let slots: Slot[];
let gatewayUrl: string;

/** Runs `npm run render` (examples/email/render.ts) as its own process, under the loopback guard. */
function runRenderCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--require', LOOPBACK_ONLY, '--import', 'tsx', join(REPO_ROOT, 'examples', 'email', 'render.ts'), ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, TAILOR_RENDER_TEMPLATE: '', TAILOR_RENDER_USERS: '', TAILOR_RENDER_OUT: '', TAILOR_RENDER_KEY_FILE: '', TAILOR_RENDER_CAMPAIGN: '', TAILOR_RENDER_LIVE_IMAGES: '' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A request as a shopper's browser or mail client sends it: no credential, redirects not followed. */
const shopper = (url: string, init: RequestInit = {}) => fetch(url, { redirect: 'manual', ...init });

/** The status, headers that matter and body of a redirect, as a client sees it. */
async function redirectOf(response: Response) {
  return {
    status: response.status,
    location: response.headers.get('location'),
    cacheControl: response.headers.get('cache-control'),
    body: await response.text(),
  };
}

/** A live image as a client sees it: status, type, caching and the PNG's size from its IHDR chunk. */
async function imageOf(url: string) {
  const response = await shopper(url);
  const bytes = Buffer.from(await response.arrayBuffer());
  return {
    answer: {
      status: response.status,
      contentType: response.headers.get('content-type'),
      cacheControl: response.headers.get('cache-control'),
      signature: bytes.subarray(0, 8).toString('hex'),
      chunk: bytes.toString('latin1', 12, 16),
      size: [bytes.readUInt32BE(16), bytes.readUInt32BE(20)],
    },
    bytes,
  };
}

const PNG = { status: 200, contentType: 'image/png', cacheControl: 'private, max-age=60', signature: '89504e470d0a1a0a', chunk: 'IHDR', size: [480, 640] };

const skuOf = (url: string) => {
  expect(url.startsWith(PRODUCT_PAGE)).toBe(true);
  return new URL(url).pathname.slice('/p/'.length);
};

beforeAll(async () => {
  tailor = await startProcessStack({ scale: 'small' });
  gatewayUrl = tailor.url('gateway');
  work = mkdtempSync(join(tmpdir(), 'tailor-live-links-'));
  const ids = join(work, 'ids.txt');
  writeFileSync(ids, `# ${CAMPAIGN}\n${RECIPIENT}\n`);
  render = await runRenderCli([
    '--template', join(REPO_ROOT, 'examples', 'email', 'picked-for-you.liquid'),
    '--users', ids,
    '--out', join(work, 'out'),
    '--gateway', tailor.graphqlUrl,
    '--key-file', join(tailor.dataDir, 'dev-key'),
    '--campaign', CAMPAIGN,
    '--live-images',
  ]);
  const html = readFileSync(join(work, 'out', `${RECIPIENT}.html`), 'utf8');
  const found = [...html.matchAll(/<a href="([^"]+)" style="text-decoration: none;">\s*<img class="live-img" src="([^"]+)" width="240" height="320" alt="([^"]*)"/g)];
  slots = [];
  for (const [, link, image, alt] of found) {
    // A HEAD is how a link checker looks: answered like a click, recorded as none.
    const head = await shopper(link, { method: 'HEAD' });
    slots.push({ link, image, alt, sku: skuOf(head.headers.get('location') ?? '') });
  }
}, 200_000);

afterAll(async () => {
  await tailor?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
}, 60_000);

describe('a campaign rendered with live links and images', () => {
  it('renders the recipient with every slot linked through the gateway, its live image beside its link', async () => {
    expect(render).toMatchObject({ code: 0, stderr: '' });
    expect(render.stdout).toContain('  rendered               1  → ');
    expect(slots).toHaveLength(4);
    for (const slot of slots) {
      expect(slot.link).toMatch(new RegExp(`^${gatewayUrl}/r/[A-Za-z0-9_-]{80,}$`));
      expect(slot.image).toBe(`${slot.link.replace('/r/', '/i/')}.png`);
      // The token is opaque: no recipient, campaign or product in readable form.
      for (const plain of [RECIPIENT, CAMPAIGN, slot.sku]) expect(slot.link).not.toContain(plain);
    }
    expect(new Set(slots.map((s) => s.sku)).size).toBe(4);
    const named = await tailor.gql('query($skus: [ID!]!) { products(skus: $skus) { name inStock } }', { skus: slots.map((s) => s.sku) });
    expect(named.body).toEqual({ data: { products: slots.map((s) => ({ name: s.alt, inStock: true })) } });
  });

  it('leads an in-stock slot to its own product page, keeps the tracking parameters, and the next query sees the click', async () => {
    const [slot] = slots;
    const query = 'query($id: ID!) { user(id: $id) { consent { personalization } recentlyViewed(limit: 1) { product { sku } viewedAt } recommendations(limit: 8) { product { sku } score } } }';
    const before = (await tailor.gql(query, { id: RECIPIENT })).body.data.user;
    expect(before.consent).toEqual({ personalization: true });

    const clickedAt = Date.now();
    expect(await redirectOf(await shopper(`${slot.link}?utm_source=esp`))).toEqual({
      status: 302,
      location: `${PRODUCT_PAGE}${slot.sku}?utm_source=esp`,
      cacheControl: 'no-store',
      body: '',
    });

    const after = await tailor.gql(query, { id: RECIPIENT });
    expect(after.status).toBe(200);
    expect(after.body.errors).toBeUndefined();
    const { recentlyViewed, recommendations } = after.body.data.user;
    expect(recentlyViewed).toEqual([{ product: { sku: slot.sku }, viewedAt: expect.any(String) }]);
    expect(Date.parse(recentlyViewed[0].viewedAt)).toBeGreaterThanOrEqual(clickedAt - 1_000);
    const score = (list: { product: { sku: string }; score: number }[]) => list.find((r) => r.product.sku === slot.sku)?.score;
    expect(score(recommendations)).toBeGreaterThan(score(before.recommendations)!);
  });

  it('serves a slot\'s live image to a mail client as a 480×640 PNG, with no credential', async () => {
    expect((await imageOf(slots[0].image)).answer).toEqual(PNG);
  });

  it('leads a slot sold out after the send to the best in-stock pick the email does not show, and its image shows that pick', async () => {
    const slot = slots[1];
    const shown = new Set(slots.map((s) => s.sku));
    const card = await imageOf(slot.image);
    expect(card.answer).toEqual(PNG);

    const soldOut = await tailor.gql('mutation($levels: [StockLevelInput!]!) { recordStockLevels(levels: $levels) { accepted duplicates stale } }', {
      levels: [{ sku: slot.sku, available: 0, observedAt: new Date().toISOString() }],
    });
    expect([soldOut.status, soldOut.body]).toEqual([200, { data: { recordStockLevels: { accepted: 1, duplicates: 0, stale: 0 } } }]);
    // What the recipient would be recommended now: the link takes the first the email does not show.
    const now = await tailor.gql('query($id: ID!) { user(id: $id) { recommendations(limit: 5) { product { sku url } } } }', { id: RECIPIENT });
    const expected = (now.body.data.user.recommendations as { product: { sku: string; url: string } }[]).map((r) => r.product).find((p) => !shown.has(p.sku))!;
    expect(expected).toBeDefined();

    const click = await redirectOf(await shopper(`${slot.link}?utm_source=esp`));
    expect(click).toEqual({ status: 302, location: `${expected.url}?utm_source=esp`, cacheControl: 'no-store', body: '' });
    const landed = skuOf(click.location!);
    expect(shown.has(landed)).toBe(false);
    const product = await tailor.gql('query($sku: ID!) { product(sku: $sku) { url inStock } }', { sku: landed });
    expect(product.body).toEqual({ data: { product: { url: expected.url, inStock: true } } });

    const replaced = await imageOf(slot.image);
    expect(replaced.answer).toEqual(PNG);
    expect(replaced.bytes.equals(card.bytes)).toBe(false);
  });

  it('refuses a changed link or image with 400 and a JSON error', async () => {
    const token = slots[2].link.split('/r/')[1];
    const changed = token.slice(0, 40) + (token[40] === 'A' ? 'B' : 'A') + token.slice(41);
    for (const url of [`${gatewayUrl}/r/${changed}?utm_source=esp`, `${gatewayUrl}/i/${changed}.png`]) {
      const response = await shopper(url);
      expect({ status: response.status, type: response.headers.get('content-type'), body: await response.json() }).toEqual({
        status: 400,
        type: expect.stringMatching(/^application\/json/),
        body: INVALID_LINK,
      });
    }
  });

  it('needed no connection beyond 127.0.0.1, in the render CLI or any process of the stack', () => {
    const refusals = [...render.stderr.split('\n'), ...tailor.logs.map((l) => l.line)].filter((line) => line.includes('tests may only connect to 127.0.0.1'));
    expect(refusals).toEqual([]);
  });
});
