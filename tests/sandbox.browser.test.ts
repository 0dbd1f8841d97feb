import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { OPERATIONS_DIR } from '../kit/operationManifest';
import { type InProcessStack, startInProcessStack } from './support/inProcessStack';

// The sandbox in a real browser: GraphiQL loads from the gateway alone, runs the example operation for
// the demo user, and the page never asks anything of a host other than the gateway's 127.0.0.1.

const CHROMIUM = process.env.TAILOR_CHROMIUM ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const WAIT = { timeout: 45_000 };

/** True for a URL the page may load: the local gateway, or data the page made itself. */
function isLocal(url: string): boolean {
  if (url.startsWith('data:') || url.startsWith('blob:')) return true;
  const { protocol, hostname } = new URL(url);
  return (protocol === 'http:' || protocol === 'https:') && hostname === '127.0.0.1';
}

describe('sandbox in a browser', () => {
  let stack: InProcessStack;
  let browser: Browser;

  beforeAll(async () => {
    stack = await startInProcessStack({ seed: 'demo' });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  it('runs the example operation for u-00001 with requests to the gateway only', async () => {
    const direct = await stack.query<{ user: { recommendations: { product: { name: string } }[] } }>(
      'query($id: ID!) { user(id: $id) { recommendations(limit: 4) { product { name } } } }',
      { id: 'u-00001' },
    );
    const firstName = direct.body.data!.user.recommendations[0].product.name;
    expect(firstName).toEqual(expect.any(String));

    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const requests: string[] = [];
    context.on('request', (request) => requests.push(request.url()));
    const page = await context.newPage();
    try {
      await page.goto(`${stack.urls.gateway}/`, { waitUntil: 'load' });

      // Opens on the example of schema/sandbox.yaml: a persisted operation, and the demo user's variables.
      await page.locator('.graphiql-query-editor .CodeMirror', { hasText: 'query PersonalizeRecipient' }).waitFor(WAIT);
      expect(await editorValue(page, '.graphiql-query-editor')).toBe(readFileSync(join(OPERATIONS_DIR, 'personalize-recipient.graphql'), 'utf8'));
      // A browser on this machine opens on the headers, which carry the development key.
      expect(JSON.parse(await editorValue(page, '.graphiql-editor-tool .CodeMirror:visible'))).toEqual({ authorization: `Bearer ${stack.gateway.devKey}` });
      await page.locator('.graphiql-editor-tools button[data-name="variables"]').click();
      await page.locator('.graphiql-editor-tool .CodeMirror:visible', { hasText: 'u-00001' }).waitFor(WAIT);
      expect(JSON.parse(await editorValue(page, '.graphiql-editor-tool .CodeMirror:visible'))).toEqual({ id: 'u-00001' });

      await page.locator('.graphiql-execute-button').click();
      // The answer is longer than the pane, and CodeMirror renders only what is in view: wait for its top.
      await page.locator('.graphiql-response .CodeMirror', { hasText: '"data"' }).waitFor(WAIT);
      const response = JSON.parse(await editorValue(page, '.graphiql-response'));
      expect(response.errors).toBeUndefined();
      expect(response.data.user.recommendations[0].product.name).toBe(firstName);

      // Schema docs, with the SDL's descriptions, come from introspection of the same gateway.
      await page.locator('.graphiql-sidebar button[aria-label="Show Documentation Explorer"]').click();
      await page.locator('.graphiql-doc-explorer a', { hasText: /^Query$/ }).first().click();
      await page.locator('.graphiql-doc-explorer', { hasText: 'One recipient by id' }).waitFor(WAIT);

      mkdirSync(join(__dirname, '..', '.tmp'), { recursive: true });
      await page.screenshot({ path: join(__dirname, '..', '.tmp', 'sandbox.png') });

      // The editor completes fields from the schema: a new line in `user { … }` starting `las` offers `lastName`.
      await page.locator('.graphiql-query-editor .CodeMirror').first().evaluate((element) => {
        const editor = (element as unknown as { CodeMirror: { focus(): void; setCursor(pos: { line: number; ch: number }): void; getLine(n: number): string; lineCount(): number } }).CodeMirror;
        let line = 0;
        while (line < editor.lineCount() && !editor.getLine(line).trim().startsWith('firstName')) line++;
        editor.focus();
        editor.setCursor({ line, ch: editor.getLine(line).length });
      });
      await page.keyboard.press('Enter');
      await page.keyboard.type('las');
      await page.locator('.CodeMirror-hints', { hasText: 'lastName' }).waitFor(WAIT);
    } finally {
      await context.close();
    }

    expect(requests.length).toBeGreaterThan(3);
    expect(requests.filter((url) => !isLocal(url))).toEqual([]);
    expect(requests).toContain(`${stack.urls.gateway}/graphql`);
  });
});

describe('sandbox switched off', () => {
  let stack: InProcessStack;

  beforeAll(async () => {
    stack = await startInProcessStack({ gatewayEnv: { TAILOR_SANDBOX: 'false' } });
  });

  afterAll(async () => {
    await stack?.close();
  });

  it('serves the plain landing page and no sandbox', async () => {
    const home = await fetch(`${stack.urls.gateway}/`);
    expect(home.status).toBe(200);
    const html = await home.text();
    expect(html).toContain('<h1>Tailor gateway</h1>');
    expect(html).not.toContain('sandbox.js');

    for (const asset of ['/sandbox/sandbox.js', '/sandbox/sandbox.css']) {
      expect((await fetch(`${stack.urls.gateway}${asset}`)).status).toBe(404);
    }
    const browserGet = await fetch(`${stack.urls.gateway}/graphql`, { headers: { accept: 'text/html', ...stack.auth } });
    expect(browserGet.headers.get('content-type')).not.toContain('text/html');
    await browserGet.arrayBuffer();
  });
});

/** The text of the CodeMirror editor under `selector`. */
async function editorValue(page: import('playwright-core').Page, selector: string): Promise<string> {
  const editor = selector.includes('.CodeMirror') ? page.locator(selector) : page.locator(`${selector} .CodeMirror`);
  return editor.first().evaluate((element) => (element as unknown as { CodeMirror: { getValue(): string } }).CodeMirror.getValue());
}
