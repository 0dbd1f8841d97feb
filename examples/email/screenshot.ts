import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { ConfigError, type ConfigSource, type Settings, loadConfig, settingTypes } from '../../kit/config';

/** Settings of the screenshot script (flags, or `TAILOR_SCREENSHOT_*` variables). */
export const screenshotSettings = {
  input: { env: 'TAILOR_SCREENSHOT_IN', flag: 'in', schema: settingTypes.string('out/emails/u-00001.html'), doc: 'Rendered email (HTML file) to photograph.' },
  output: { env: 'TAILOR_SCREENSHOT_OUT', flag: 'out', schema: settingTypes.string('docs/images/picked-for-you.png'), doc: 'PNG file to write.' },
  width: { env: 'TAILOR_SCREENSHOT_WIDTH', flag: 'width', schema: settingTypes.positiveInt(640, 2000), doc: 'Viewport width in CSS pixels.' },
  chromium: { env: 'TAILOR_CHROMIUM', flag: 'chromium', schema: settingTypes.string('/usr/bin/chromium'), doc: 'Chromium executable.' },
} satisfies Settings;

/** Chromium flags: headless, and nothing that phones home (updates, sync, QUIC, background fetches). */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** True for a URL the page may load: files, data, and loopback hosts only. */
export function isLocalUrl(url: string): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (parsed.protocol === 'file:' || parsed.protocol === 'data:' || parsed.protocol === 'blob:') return true;
  return ['127.0.0.1', 'localhost', '[::1]'].includes(parsed.hostname);
}

/**
 * Opens a rendered email in headless Chromium and writes a full-page PNG. Every request to a host
 * other than 127.0.0.1/localhost is aborted, so the picture shows only what the local stack serves.
 * `chromium.launch` gives the browser a fresh temporary user-data-dir and deletes it on close.
 */
export async function screenshotEmail(options: { input: string; output: string; width?: number; chromium?: string }): Promise<{ output: string; blocked: string[] }> {
  if (!existsSync(options.input)) throw new Error(`No rendered email at ${options.input}: run npm run render first.`);
  const browser = await chromium.launch({ executablePath: options.chromium ?? '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
  const blocked: string[] = [];
  try {
    const page = await browser.newPage({ viewport: { width: options.width ?? 640, height: 800 }, deviceScaleFactor: 1 });
    await page.route('**/*', (route) => {
      const url = route.request().url();
      if (isLocalUrl(url)) return route.continue();
      blocked.push(url);
      return route.abort('blockedbyclient');
    });
    await page.goto(pathToFileURL(resolve(options.input)).href, { waitUntil: 'networkidle' });
    await mkdir(dirname(resolve(options.output)), { recursive: true });
    await page.screenshot({ path: options.output, fullPage: true });
    return { output: options.output, blocked };
  } finally {
    await browser.close();
  }
}

async function main(source: ConfigSource): Promise<void> {
  const config = loadConfig(screenshotSettings, source);
  const { output, blocked } = await screenshotEmail({ input: config.input, output: config.output, width: config.width, chromium: config.chromium });
  process.stdout.write(`Wrote ${output}${blocked.length ? ` (blocked ${blocked.length} off-machine requests, e.g. ${blocked[0]})` : ''}\n`);
}

if (require.main === module) {
  main({ env: process.env, argv: process.argv.slice(2) }).catch((error) => {
    process.stderr.write(error instanceof ConfigError ? `${error.message}\n` : `screenshot failed: ${(error as Error).message}\n`);
    process.exitCode = error instanceof ConfigError ? 2 : 1;
  });
}
