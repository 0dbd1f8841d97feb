import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { buildSandboxAssets } from '../gateway/src/sandbox/buildSandboxAssets';
import { SANDBOX_DIST } from '../gateway/src/sandbox/createSandbox';
import { OPERATIONS_DIR, readManifest } from '../kit/operationManifest';
import { type InProcessStack, startInProcessStack } from './support/inProcessStack';

// The sandbox over HTTP, and its committed bundle: current, and free of anything loaded from elsewhere.

describe('sandbox bundle', () => {
  it('is what `npm run build:sandbox` builds from the current sources and lockfile', async () => {
    const built = await buildSandboxAssets();
    for (const [name, text] of Object.entries(built)) {
      const committed = readFileSync(join(SANDBOX_DIST, name), 'utf8');
      // A mismatch means dist/ is stale: run `npm run build:sandbox` and commit gateway/src/sandbox/dist.
      expect({ name, upToDate: committed === text }).toEqual({ name, upToDate: true });
    }
  });

  it('references nothing off the machine', () => {
    const css = readFileSync(join(SANDBOX_DIST, 'sandbox.css'), 'utf8');
    const js = readFileSync(join(SANDBOX_DIST, 'sandbox.js'), 'utf8');
    const urls = [...css.matchAll(/url\(\s*["']?([^"')\s]*)/g)].map((m) => m[1]);
    expect(urls.length).toBeGreaterThan(0);
    expect(urls.filter((url) => !url.startsWith('data:'))).toEqual([]);
    expect(css).not.toMatch(/@import/);
    // No script, stylesheet, font or image is fetched from an absolute URL (links a user may click are fine).
    expect(js.match(/(?:src|importScripts|import)\s*[(:=]\s*["'`]https?:/g)).toBeNull();
    expect(js).not.toMatch(/fonts\.googleapis|unpkg\.com|jsdelivr|cdnjs/);
  });
});

describe('sandbox over HTTP', () => {
  let stack: InProcessStack;

  beforeAll(async () => {
    stack = await startInProcessStack();
  });

  afterAll(async () => {
    await stack?.close();
  });

  it('serves the page at / with the example of schema/sandbox.yaml: a persisted operation and the demo user', async () => {
    const response = await fetch(`${stack.urls.gateway}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await response.text();
    expect(html).toMatch(/<script src="sandbox\/sandbox\.js\?v=[\w-]+"><\/script>/);
    expect(html).not.toMatch(/(?:src|href)="(?:https?:)?\/\//);
    const config = JSON.parse(html.match(/<script id="tailor-sandbox-config" type="application\/json">(.*?)<\/script>/s)![1]);
    expect(config).toEqual({
      endpoint: 'graphql',
      query: readFileSync(join(OPERATIONS_DIR, 'personalize-recipient.graphql'), 'utf8'),
      variables: JSON.stringify({ id: 'u-00001' }, null, 2),
      headers: JSON.stringify({ authorization: `Bearer ${stack.gateway.devKey}` }, null, 2),
    });
  });

  it('opens, for a browser on this machine, with the development key in its request headers', async () => {
    const devKey = stack.gateway.devKey;
    expect(devKey).toEqual(expect.any(String));
    for (const path of ['/', '/graphql']) {
      const html = await (await fetch(`${stack.urls.gateway}${path}`, { headers: { accept: 'text/html' } })).text();
      const config = JSON.parse(html.match(/<script id="tailor-sandbox-config" type="application\/json">(.*?)<\/script>/s)![1]);
      expect(config.headers).toContain(`"authorization": "Bearer ${devKey}"`);
      expect(JSON.parse(config.headers)).toEqual({ authorization: `Bearer ${devKey}` });
    }
  });

  it('serves the page on GET /graphql to a browser, and GraphQL to everyone else', async () => {
    const browser = await fetch(`${stack.urls.gateway}/graphql`, { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    expect(browser.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await browser.text()).toContain('tailor-sandbox-config');

    const withQuery = await fetch(`${stack.urls.gateway}/graphql?query=${encodeURIComponent('{ __typename }')}`, { headers: { accept: 'text/html, application/json', ...stack.auth } });
    expect(await withQuery.json()).toEqual({ data: { __typename: 'Query' } });

    const client = await fetch(`${stack.urls.gateway}/graphql`, { headers: { accept: 'application/json', ...stack.auth } });
    expect(client.headers.get('content-type')).not.toContain('text/html');
    await client.arrayBuffer();

    const post = await stack.query('{ __typename }');
    expect(post.body).toEqual({ data: { __typename: 'Query' } });
  });

  it('serves the assets, gzipped when asked, with an etag', async () => {
    const committed = readFileSync(join(SANDBOX_DIST, 'sandbox.js'));
    const plain = await fetch(`${stack.urls.gateway}/sandbox/sandbox.js`, { headers: { 'accept-encoding': 'identity' } });
    expect(plain.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(Buffer.from(await plain.arrayBuffer()).equals(committed)).toBe(true);

    const { request } = await import('node:http');
    const gzipped = await new Promise<{ encoding?: string; body: Buffer }>((resolve, reject) => {
      request(`${stack.urls.gateway}/sandbox/sandbox.js`, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ encoding: res.headers['content-encoding'], body: Buffer.concat(chunks) }));
      })
        .on('error', reject)
        .end();
    });
    expect(gzipped.encoding).toBe('gzip');
    expect(gunzipSync(gzipped.body).equals(committed)).toBe(true);

    const etag = plain.headers.get('etag')!;
    const again = await fetch(`${stack.urls.gateway}/sandbox/sandbox.js`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expect((await fetch(`${stack.urls.gateway}/sandbox/nothing.js`)).status).toBe(404);
  });
});

describe('sandbox example from configuration', () => {
  let stack: InProcessStack | undefined;
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
  });

  const pageConfig = async (url: string) => {
    const html = await (await fetch(`${url}/`)).text();
    return JSON.parse(html.match(/<script id="tailor-sandbox-config" type="application\/json">(.*?)<\/script>/s)![1]);
  };

  it('takes its variables from TAILOR_SANDBOX_VARIABLES when set', async () => {
    stack = await startInProcessStack({ gatewayEnv: { TAILOR_SANDBOX_VARIABLES: '{"id":"c-42","limit":2}' } });
    expect((await pageConfig(stack.urls.gateway)).variables).toBe(JSON.stringify({ id: 'c-42', limit: 2 }, null, 2));
  });

  it('takes another persisted operation from another example file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tailor-sandbox-'));
    try {
      writeFileSync(join(dir, 'example.yaml'), 'operation: RecipientProfile\nvariables: { id: c-7 }\n');
      stack = await startInProcessStack({ gatewayEnv: { TAILOR_SANDBOX_EXAMPLE: join(dir, 'example.yaml') } });
      expect(await pageConfig(stack.urls.gateway)).toEqual({
        endpoint: 'graphql',
        query: readFileSync(join(OPERATIONS_DIR, 'recipient-profile.graphql'), 'utf8'),
        variables: JSON.stringify({ id: 'c-7' }, null, 2),
        headers: JSON.stringify({ authorization: `Bearer ${stack.gateway.devKey}` }, null, 2),
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses to start when the example names an operation the manifest does not hold', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tailor-sandbox-'));
    try {
      writeFileSync(join(dir, 'example.yaml'), 'operation: NoSuchOperation\n');
      await expect(startInProcessStack({ gatewayEnv: { TAILOR_SANDBOX_EXAMPLE: join(dir, 'example.yaml') } })).rejects.toThrow(
        /names operation NoSuchOperation, which the manifest does not hold \(it holds: CampaignBatch, PersonalizeRecipient, RecipientProfile, RecipientRecommendations\)/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('shows the example on the plain landing page when the sandbox is off', async () => {
    stack = await startInProcessStack({ gatewayEnv: { TAILOR_SANDBOX: 'false' } });
    const html = await (await fetch(`${stack.urls.gateway}/`)).text();
    expect(html).toContain('<h2>Example: PersonalizeRecipient</h2>');
    expect(html).toContain('GET /api/v1/users/:id/profile');
    expect(html).toContain(readManifest().operations.find((op) => op.name === 'PersonalizeRecipient')!.id);
    expect(html).toContain('variables={&#34;id&#34;:&#34;u-00001&#34;}');
  });
});
