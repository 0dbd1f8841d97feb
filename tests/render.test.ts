import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readManifest } from '../kit/operationManifest';
import { type ProgressOutput } from '../examples/email/createProgressBar';
import { CampaignInputError, type RenderCampaignOptions, formatSummary, htmlFileName, renderCampaign } from '../examples/email/renderCampaign';
import { DAY, event, product, user } from './support/fixtures';
import { type InProcessStack, startInProcessStack } from './support/inProcessStack';

const ROOT = join(__dirname, '..');
const TEMPLATE = join(ROOT, 'examples', 'email', 'picked-for-you.liquid');
const CAMPAIGN_HASH = readManifest().operations.find((op) => op.name === 'CampaignBatch')!.id;
const IDS = ['u-001', 'u-002', 'u-003', 'u-004', 'u-005', 'u-006', 'u-007'];

/**
 * Twelve products P01–P12, all in stock. Seven users: u-003 has no first name, u-005 has not
 * consented to email. u-001 viewed P03 (yesterday) and P05 (two days ago), so both lead their list.
 */
async function seedScenario(stack: InProcessStack): Promise<void> {
  const now = stack.clock.now();
  // Their pictures are served by stock, on loopback, so that a live image can draw them.
  await stack.stock.store.seed(Array.from({ length: 12 }, (_, i) => `P${String(i + 1).padStart(2, '0')}`).map((sku) => product(sku, 10, { imageUrl: `${stack.urls.stock}/images/${sku}.svg` })));
  await stack.crm.store.seed([
    user('u-001', { firstName: 'Ada' }),
    user('u-002', { firstName: 'Grace' }),
    user('u-003', { firstName: undefined }),
    user('u-004', { firstName: 'Alan' }),
    user('u-005', { firstName: 'Edsger', consentEmail: false }),
    user('u-006', { firstName: 'Barbara' }),
    user('u-007', { firstName: 'Ken' }),
  ]);
  await stack.behavior.store.trackEvents([event('u-001', 'P03', 'VIEW', now, DAY), event('u-001', 'P05', 'VIEW', now, 2 * DAY)]);
}

/** A stand-in for the gateway's address that records each request and lets a test answer it. */
interface Proxy {
  url: string;
  bodies: { operationName?: string; query?: string; variables: { ids: string[]; limit: number; campaign?: string }; extensions?: any }[];
  /** The `Authorization` header of each request, in the order of `bodies`. */
  authorizations: (string | undefined)[];
  maxInFlight: number;
  close(): Promise<void>;
}

type Answer = { status: number; json: unknown };
type Handler = (body: Proxy['bodies'][number], forward: () => Promise<Answer>) => Promise<Answer>;

/** An HTTP server on loopback in front of `target`: `handle` decides each answer (forward it, change it, or replace it). */
async function startProxy(target: string, handle: Handler, gate?: (inFlight: number, received: number) => boolean): Promise<Proxy> {
  let inFlight = 0;
  let received = 0;
  let waiting: (() => void)[] = [];
  const proxy: Proxy = { url: '', bodies: [], authorizations: [], maxInFlight: 0, close: async () => undefined };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const body = JSON.parse(text);
      proxy.bodies.push(body);
      const { authorization } = req.headers;
      proxy.authorizations.push(authorization);
      inFlight++;
      received++;
      proxy.maxInFlight = Math.max(proxy.maxInFlight, inFlight);
      if (gate) {
        // Hold requests until the gate opens, so concurrent requests are really in flight together.
        await new Promise<void>((release) => {
          waiting.push(release);
          if (gate(inFlight, received)) {
            for (const r of waiting) r();
            waiting = [];
          }
        });
      }
      const forward = async (): Promise<Answer> => {
        // The client's credential goes on to the gateway, as through any proxy.
        const response = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) }, body: text });
        return { status: response.status, json: await response.json() };
      };
      const answer = await handle(body, forward);
      inFlight--;
      const out = JSON.stringify(answer.json);
      res.writeHead(answer.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
      res.end(out);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  proxy.url = `http://127.0.0.1:${port}/graphql`;
  proxy.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return proxy;
}

/** Collects what `renderCampaign` prints. */
function collector(isTTY: boolean): ProgressOutput & { chunks: string[]; text(): string } {
  const chunks: string[] = [];
  return { isTTY, columns: 100, chunks, write: (text: string) => chunks.push(text), text: () => chunks.join('') };
}

describe('renderCampaign', () => {
  let stack: InProcessStack;
  let dir: string;
  let gatewayUrl: string;
  const render = (options: Partial<RenderCampaignOptions> = {}) =>
    renderCampaign({ template: TEMPLATE, users: IDS, outDir: join(dir, 'out'), gatewayUrl, credential: stack.gateway.devKey, output: null, retryDelayMs: 1, ...options });
  const email = (id: string, out = join(dir, 'out')) => readFileSync(join(out, `${id}.html`), 'utf8');

  beforeEach(async () => {
    stack = await startInProcessStack({ seed: 'none' });
    await seedScenario(stack);
    gatewayUrl = `${stack.urls.gateway}/graphql`;
    dir = mkdtempSync(join(tmpdir(), 'tailor-render-'));
  });
  afterEach(async () => {
    await stack.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads ids from a file, skips an unknown id and renders every other recipient, greeting each by first name', async () => {
    const idsFile = join(dir, 'ids.txt');
    writeFileSync(idsFile, '# campaign test\nu-001\n\n  u-002  \nu-404\n# u-006 is commented out\nu-003\n');
    const summary = await render({ users: idsFile });

    expect(summary).toMatchObject({ total: 4, rendered: 3, unknown: ['u-404'], noConsent: [], failed: [] });
    expect(readdirSync(join(dir, 'out')).sort()).toEqual(['u-001.html', 'u-002.html', 'u-003.html']);
    expect(email('u-001')).toContain('Hi Ada,');
    expect(email('u-002')).toContain('Hi Grace,');
    expect(email('u-003')).toContain('Hi there,');
    expect(email('u-001')).toContain('<title>Picked for you</title>');
  });

  it('skips a recipient who has not consented to email, and counts them apart from unknown ids', async () => {
    const summary = await render();

    expect(summary).toMatchObject({ total: 7, rendered: 6, unknown: [], noConsent: ['u-005'], failed: [] });
    expect(existsSync(join(dir, 'out', 'u-005.html'))).toBe(false);
  });

  it('never names a product that went out of stock just before rendering, and still fills the email with in-stock ones', async () => {
    const before = join(dir, 'before');
    await render({ users: ['u-001'], outDir: before });
    expect(email('u-001', before)).toContain('Product P03');

    await stack.stock.store.recordStockLevels([{ sku: 'P03', available: 0, observedAt: stack.clock.now() + 1 }]);
    const summary = await render({ users: ['u-001'] });

    expect(summary.rendered).toBe(1);
    const html = email('u-001');
    expect(html).not.toContain('Product P03');
    expect(html).toContain('Product P05');
    expect(html.match(/>Shop now</g)).toHaveLength(4);
  });

  it('links every slot through its live link, on picture, name and button, and shows the product picture by default', async () => {
    await render({ users: ['u-001'] });
    const html = email('u-001');
    const links = [...html.matchAll(/<a href="([^"]+)"/g)].map((m) => m[1]).filter((href) => href.startsWith(stack.gateway.url));
    expect(links).toHaveLength(12);
    expect(new Set(links).size).toBe(4);
    for (const link of links) expect(link).toMatch(new RegExp(`^${stack.gateway.url}/r/[A-Za-z0-9_-]+$`));
    expect(html).not.toContain('https://shop.tailor.example/p/');
    expect(html).not.toContain('/i/');
    expect(html).toContain(`<img class="product-img" src="${stack.urls.stock}/images/P03.svg" width="250" height="250" alt="Product P03"`);
    expect(html).toContain('>You looked at this<');
    // A shopper who clicks the first slot lands on its product.
    const click = await fetch(links[0], { redirect: 'manual' });
    expect([click.status, click.headers.get('location')]).toEqual([302, 'https://shop.tailor.example/p/P03']);
  });

  it('shows each slot\'s live image at a fixed 240×320 with liveImages, and no text written at the send under it', async () => {
    await render({ users: ['u-001'], liveImages: true });
    const html = email('u-001');
    const images = [...html.matchAll(/<img class="live-img" src="([^"]+)" width="240" height="320" alt="([^"]+)"/g)];
    expect(images.map((m) => m[2])).toEqual(['Product P03', 'Product P05', 'Product P01', 'Product P02']);
    const links = [...html.matchAll(/<a href="([^"]+)" style="text-decoration: none;">\s*<img/g)].map((m) => m[1]);
    // Each image is the picture of its own slot's link.
    expect(images.map((m) => m[1])).toEqual(links.map((link) => `${link.replace('/r/', '/i/')}.png`));
    expect(html).not.toContain('product-img" src');
    expect(html).not.toContain('>You looked at this<');
    expect(html.match(/>Shop now</g)).toHaveLength(4);
    const picture = await fetch(images[0][1]);
    expect([picture.status, picture.headers.get('content-type')]).toEqual([200, 'image/png']);
  });

  it('sends the campaign as the $campaign of CampaignBatch, so the links of two campaigns differ', async () => {
    const proxy = await startProxy(gatewayUrl, (_body, forward) => forward());
    try {
      await render({ gatewayUrl: proxy.url, users: ['u-001'], campaign: 'spring-sale', outDir: join(dir, 'spring') });
      await render({ gatewayUrl: proxy.url, users: ['u-001'], campaign: 'autumn.2026:a', outDir: join(dir, 'autumn') });
      await render({ gatewayUrl: proxy.url, users: ['u-001'], outDir: join(dir, 'none') });
      expect(proxy.bodies.map((b) => b.variables)).toEqual([
        { campaign: 'spring-sale', ids: ['u-001'], limit: 4 },
        { campaign: 'autumn.2026:a', ids: ['u-001'], limit: 4 },
        { ids: ['u-001'], limit: 4 },
      ]);
    } finally {
      await proxy.close();
    }
    const firstLink = (out: string) => email('u-001', join(dir, out)).match(/<a href="([^"]*\/r\/[^"]+)"/)![1];
    expect(new Set([firstLink('spring'), firstLink('autumn'), firstLink('none')]).size).toBe(3);
  });

  it('refuses a campaign name that clickUrl would refuse, before sending anything', async () => {
    const crmBefore = await stack.fetches('crm');
    for (const campaign of ['', '-sale', 'spring sale', 'x'.repeat(65), 'été']) {
      await expect(render({ campaign })).rejects.toThrow(
        new CampaignInputError(`The campaign name ${JSON.stringify(campaign)} must be 1-64 letters, digits, _ . : - (starting with a letter or digit).`),
      );
    }
    expect(await stack.fetches('crm')).toBe(crmBefore);
  });

  it('fetches recipients in batches: 7 ids with a batch size of 3 cost exactly 3 fetches to crm', async () => {
    const crmBefore = await stack.fetches('crm');
    const summary = await render({ batchSize: 3 });

    expect(await stack.fetches('crm')).toBe(crmBefore + 3);
    expect(summary).toMatchObject({ batches: 3, requests: 3, rendered: 6 });
  });

  it('sends the persisted CampaignBatch operation by its hash only, never its text, with its credential', async () => {
    const proxy = await startProxy(gatewayUrl, (_body, forward) => forward());
    try {
      const summary = await render({ gatewayUrl: proxy.url, batchSize: 3, limit: 4 });
      expect(summary.rendered).toBe(6);
      expect(proxy.bodies).toHaveLength(3);
      expect(proxy.authorizations).toEqual(Array(3).fill(`Bearer ${stack.gateway.devKey}`));
      for (const body of proxy.bodies) {
        expect(body.query).toBeUndefined();
        expect(body.extensions).toEqual({ persistedQuery: { version: 1, sha256Hash: CAMPAIGN_HASH } });
        expect(body.variables.limit).toBe(4);
      }
      expect(proxy.bodies.flatMap((b) => b.variables.ids).sort()).toEqual(IDS);
    } finally {
      await proxy.close();
    }
  });

  it('keeps at most `concurrency` requests in flight', async () => {
    // The proxy holds requests until two are in flight (or all 7 have arrived).
    const proxy = await startProxy(gatewayUrl, (_body, forward) => forward(), (inFlight, received) => inFlight >= 2 || received === 7);
    try {
      const summary = await render({ gatewayUrl: proxy.url, batchSize: 1, concurrency: 2 });
      expect(summary).toMatchObject({ batches: 7, requests: 7, rendered: 6 });
      expect(proxy.maxInFlight).toBe(2);
    } finally {
      await proxy.close();
    }
  });

  it('retries a batch that got a 503, then renders it', async () => {
    let calls = 0;
    const proxy = await startProxy(gatewayUrl, async (_body, forward) =>
      ++calls === 1 ? { status: 503, json: { errors: [{ message: 'busy' }] } } : forward(),
    );
    try {
      const summary = await render({ gatewayUrl: proxy.url });
      expect(summary).toMatchObject({ requests: 2, rendered: 6, failed: [] });
    } finally {
      await proxy.close();
    }
  });

  it('counts the recipients of a batch that keeps failing as failed, and renders the other batches', async () => {
    const proxy = await startProxy(gatewayUrl, async (body, forward) =>
      body.variables.ids.includes('u-004') ? { status: 503, json: { errors: [{ message: 'down for maintenance' }] } } : forward(),
    );
    try {
      const summary = await render({ gatewayUrl: proxy.url, batchSize: 3, retries: 2 });
      // Batches: [u-001..u-003] [u-004..u-006] [u-007]; the middle one is tried 1 + 2 times.
      expect(summary.requests).toBe(5);
      expect(summary.rendered).toBe(4);
      expect(summary.failed.map((f) => f.id).sort()).toEqual(['u-004', 'u-005', 'u-006']);
      expect(summary.failed[0].reason).toContain('HTTP 503: down for maintenance');
      expect(readdirSync(join(dir, 'out')).sort()).toEqual(['u-001.html', 'u-002.html', 'u-003.html', 'u-007.html']);
    } finally {
      await proxy.close();
    }
  });

  it('fails only the recipient a GraphQL error points at (path users.i…)', async () => {
    const proxy = await startProxy(gatewayUrl, async (_body, forward) => {
      const answer = (await forward()) as { status: number; json: { data: { users: unknown[] }; errors?: unknown[] } };
      answer.json.data.users[1] = null;
      answer.json.errors = [{ message: 'Recommendations could not be computed.', path: ['users', 1, 'recommendations'], extensions: { code: 'INTERNAL_SERVER_ERROR' } }];
      return answer;
    });
    try {
      const summary = await render({ gatewayUrl: proxy.url, users: ['u-001', 'u-002', 'u-003'] });
      expect(summary).toMatchObject({ requests: 1, rendered: 2, unknown: [] });
      expect(summary.failed).toEqual([{ id: 'u-002', reason: 'Recommendations could not be computed. (INTERNAL_SERVER_ERROR)' }]);
      expect(existsSync(join(dir, 'out', 'u-002.html'))).toBe(false);
    } finally {
      await proxy.close();
    }
  });

  it('renders a recipient whose fields took their declared fallbacks, and counts them as degraded', async () => {
    // What the gateway answers while behavior is down for one recipient: 200, that recipient's fields at
    // their fallbacks, and errors with extensions.fallback at them.
    const proxy = await startProxy(gatewayUrl, async (_body, forward) => {
      const answer = (await forward()) as { status: number; json: { data: { users: { recommendations: unknown[] }[] }; errors?: unknown[] } };
      answer.json.data.users[1].recommendations = [];
      const extensions = { code: 'SUBGRAPH_UNAVAILABLE', service: 'stock', fallback: true };
      answer.json.errors = [{ message: 'The stock service is unavailable; recommendations holds its declared fallback.', path: ['users', 1, 'recommendations'], extensions }];
      return answer;
    });
    try {
      const summary = await render({ gatewayUrl: proxy.url, users: ['u-001', 'u-002', 'u-003'] });
      expect(summary).toMatchObject({ requests: 1, rendered: 3, unknown: [], failed: [], degraded: ['u-002'] });
      expect(existsSync(join(dir, 'out', 'u-002.html'))).toBe(true);
      expect(formatSummary(summary)).toContain('with fallbacks         1  (u-002) (rendered; a service was down)');
    } finally {
      await proxy.close();
    }
  });

  it('counts nulls as failed, not as unknown ids, when the gateway reports a subgraph down, after retrying', async () => {
    // What the gateway answers while stock is down: 503, a pathless error, and a null for every user.
    const proxy = await startProxy(gatewayUrl, async (body) => ({
      status: 503,
      json: {
        errors: [{ message: 'The stock service is unavailable.', extensions: { code: 'SUBGRAPH_UNAVAILABLE', service: 'stock' } }],
        data: { users: body.variables.ids.map(() => null) },
      },
    }));
    try {
      const summary = await render({ gatewayUrl: proxy.url, users: ['u-001', 'u-404'], retries: 1 });
      expect(summary).toMatchObject({ requests: 2, rendered: 0, unknown: [] });
      expect(summary.failed).toEqual([
        { id: 'u-001', reason: 'the gateway answered HTTP 503: The stock service is unavailable.' },
        { id: 'u-404', reason: 'the gateway answered HTTP 503: The stock service is unavailable.' },
      ]);
    } finally {
      await proxy.close();
    }
  });

  it('prints one plain progress line per batch when the output is not a TTY', async () => {
    const output = collector(false);
    await render({ batchSize: 3, output });

    const lines = output.text().split('\n').filter(Boolean);
    expect(lines).toHaveLength(3);
    for (const line of lines) expect(line).toMatch(/^batch [1-3]\/3: \d+\/7 recipients \(\d+%\), [\d.]+ recipients\/s, ETA /);
    expect(lines[2]).toContain('7/7 recipients (100%)');
    expect(output.text()).not.toContain('\r');
  });

  it('redraws a single progress bar in place when the output is a TTY', async () => {
    const output = collector(true);
    await render({ batchSize: 3, output });

    const text = output.text();
    expect(text.match(/\n/g)).toHaveLength(1);
    expect(text.endsWith('\n')).toBe(true);
    expect(output.chunks.slice(0, -1).every((chunk) => chunk.startsWith('\r'))).toBe(true);
    expect(output.chunks.at(-2)).toMatch(/\] 7\/7 recipients \(100%\), [\d.]+ recipients\/s, ETA 0s$/);
  });

  it('refuses a missing template or ids file, or a file with no ids, before sending anything', async () => {
    const crmBefore = await stack.fetches('crm');
    await expect(render({ template: join(dir, 'nope.liquid') })).rejects.toThrow(new CampaignInputError(`Cannot read the template ${join(dir, 'nope.liquid')}: no such file.`));
    await expect(render({ users: join(dir, 'nope.txt') })).rejects.toThrow(`Cannot read the recipient ids file ${join(dir, 'nope.txt')}: no such file.`);
    writeFileSync(join(dir, 'empty.txt'), '# nobody\n\n');
    await expect(render({ users: join(dir, 'empty.txt') })).rejects.toThrow('holds no ids');
    expect(await stack.fetches('crm')).toBe(crmBefore);
  });
});

describe('htmlFileName', () => {
  it('keeps a plain id as <id>.html, and keeps any other id inside the output folder under a distinct name', () => {
    expect(htmlFileName('u-00001')).toBe('u-00001.html');
    const names = ['../etc/passwd', '..', 'a/b', 'a_b', 'a b'].map(htmlFileName);
    for (const name of names) expect(name).toMatch(/^[A-Za-z0-9_-][A-Za-z0-9._-]*\.html$/);
    expect(new Set(names).size).toBe(names.length);
  });
});

describe('npm run render (the CLI)', () => {
  let keyDir: string;
  let keyFile: string;
  beforeAll(() => {
    // A key file of the CLI's own, so that no run reads the repository's data/dev-key.
    keyDir = mkdtempSync(join(tmpdir(), 'tailor-render-key-'));
    keyFile = join(keyDir, 'key');
    writeFileSync(keyFile, `tlr_${'x'.repeat(43)}\n`, { mode: 0o600 });
  });
  afterAll(() => rmSync(keyDir, { recursive: true, force: true }));

  const runCli = (args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ['--require', join(__dirname, 'support', 'loopbackOnly.cjs'), '--import', 'tsx', join(ROOT, 'examples', 'email', 'render.ts'), '--key-file', keyFile, ...args], {
        cwd: ROOT,
        env: { ...process.env, TAILOR_RENDER_TEMPLATE: '', TAILOR_RENDER_USERS: '', TAILOR_RENDER_OUT: '', TAILOR_RENDER_KEY_FILE: '' },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c) => (stdout += c));
      child.stderr.on('data', (c) => (stderr += c));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });

  it('exits 2 with a message naming the flag when a flag is bad', async () => {
    const { code, stderr } = await runCli(['--template', TEMPLATE, '--users', 'ids.txt', '--out', 'out', '--batch-size', '501']);
    expect(code).toBe(2);
    expect(stderr).toContain('--batch-size="501": must be at most 500');
  });

  it('exits 2 naming every missing flag', async () => {
    const { code, stderr } = await runCli(['--gateway', 'http://127.0.0.1:1/graphql']);
    expect(code).toBe(2);
    for (const flag of ['--template', '--users', '--out']) expect(stderr).toContain(`required: ${flag}`);
  });

  it('exits 2 naming --campaign when the campaign name is not one clickUrl takes', async () => {
    const { code, stderr } = await runCli(['--template', TEMPLATE, '--users', 'ids.txt', '--out', 'out', '--campaign', 'spring sale!']);
    expect(code).toBe(2);
    expect(stderr).toBe('Invalid configuration:\n  - --campaign="spring sale!": must be 1-64 letters, digits, _ . : - (starting with a letter or digit)\n\nRun with --help for usage.\n');
  });

  it('takes --live-images alone, as a switch, beside a good --campaign', async () => {
    const { code, stderr } = await runCli(['--live-images', '--campaign', 'spring-sale', '--gateway', 'http://127.0.0.1:1/graphql']);
    expect(code).toBe(2);
    expect(stderr.split('\n').filter((line) => line.startsWith('  - '))).toEqual([
      '  - TAILOR_RENDER_TEMPLATE="": required: --template <file.liquid>',
      '  - TAILOR_RENDER_USERS="": required: --users <file of ids, one per line>',
      '  - TAILOR_RENDER_OUT="": required: --out <folder>',
    ]);
  });

  it('lists --campaign and --live-images in --help', async () => {
    const { code, stdout } = await runCli(['--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('  --campaign <name>     the campaign or send, kept in every live link and image');
    expect(stdout).toContain('  --live-images         set the template\'s live_images');
  });

  it('exits 2 with a clear message when the template file does not exist', async () => {
    const { code, stderr } = await runCli(['--template', 'no/such.liquid', '--users', 'ids.txt', '--out', 'out']);
    expect(code).toBe(2);
    expect(stderr).toBe('Cannot read the template no/such.liquid: no such file.\n');
  });
});
