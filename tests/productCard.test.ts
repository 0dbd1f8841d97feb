import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, gzipSync } from 'node:zlib';
import { Resvg } from '@resvg/resvg-js';
import { createImageSource } from '../gateway/src/links/imageSource';
import { CARD_HEIGHT, CARD_WIDTH, type CardContent, type CardPicture, createCardRenderer } from '../gateway/src/links/productCard';
import { closeServer } from '../kit/http/closeServer';
import { listenOn } from '../kit/http/listenOn';

// Product cards for live images: a PNG of fixed size drawn at request time from text and a picture,
// with no network, and the pictures fetched over http(s) within bounds and cached.

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Width and height of a PNG, read from its IHDR chunk (which must come first). */
function pngSize(png: Buffer): { width: number; height: number } {
  expect(png.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
  expect(png.toString('latin1', 12, 16)).toBe('IHDR');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

function expectCard(png: Buffer): void {
  expect(pngSize(png)).toEqual({ width: CARD_WIDTH, height: CARD_HEIGHT });
}

/** A real PNG, drawn by resvg from an SVG. */
function pngOf(svg: string): Buffer {
  return new Resvg(svg).render().asPng();
}

const PHOTO_PNG = pngOf('<svg xmlns="http://www.w3.org/2000/svg" width="300" height="200"><rect width="300" height="200" fill="#3b82f6"/><circle cx="150" cy="100" r="60" fill="#f59e0b"/></svg>');
/** A 16×12 baseline JPEG. */
const PHOTO_JPEG = Buffer.from(
  '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAA0JCgsKCA0LCgsODg0PEyAVExISEyccHhcgLikxMC4pLSwzOko+MzZGNywtQFdBRkxOUlNSMj5aYVpQYEpRUk//2wBDAQ4ODhMREyYVFSZPNS01T09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT0//wAARCAAMABADASIAAhEBAxEB/8QAFQABAQAAAAAAAAAAAAAAAAAABQT/xAAYEAADAQEAAAAAAAAAAAAAAAAAAzEBAv/EABQBAQAAAAAAAAAAAAAAAAAAAAL/xAAZEQACAwEAAAAAAAAAAAAAAAAAAgMEBTH/2gAMAwEAAhEDEQA/AJkdQSR1AlGiKNgpbTCz14f/2Q==',
  'base64',
);
/** An SVG picture like the demo catalog's: its text asks for fonts the machine may not have. */
const svgPicture = (label: string) =>
  `<svg xmlns="http://www.w3.org/2000/svg" width="400" height="400"><rect width="400" height="400" fill="#ffffff"/><text x="200" y="200" font-family="Helvetica, Arial, sans-serif" font-size="40" text-anchor="middle" fill="#000000">${label}</text><text x="200" y="260" font-family="Georgia, serif" font-size="40" text-anchor="middle" fill="#000000">${label}</text></svg>`;

const picture = (bytes: Buffer | string, contentType: string): CardPicture => ({ bytes: Buffer.from(bytes), contentType });

const FULL: CardContent = {
  name: 'Merino Wool Crew Jumper in Oatmeal with Ribbed Cuffs',
  brand: 'Northfold',
  price: '£49.90',
  picture: picture(PHOTO_PNG, 'image/png'),
  badge: { text: 'Only 2 left', tone: 'urgent' },
};

describe('the product card renderer', () => {
  const renderer = createCardRenderer();
  const { picture: _picture, ...withoutPicture } = FULL;

  it('draws a PNG of exactly CARD_WIDTH×CARD_HEIGHT, with or without picture, badge, brand or price', async () => {
    expectCard(await renderer.render(FULL));
    expectCard(await renderer.render(withoutPicture));
    expectCard(await renderer.render({ ...FULL, badge: undefined }));
    expectCard(await renderer.render({ name: 'Tote' }));
    expectCard(await renderer.render({ ...FULL, picture: picture(PHOTO_JPEG, 'image/jpeg') }));
    expectCard(await renderer.render({ ...FULL, picture: picture(svgPicture('Tote'), 'image/svg+xml; charset=utf-8') }));
  });

  it('draws any name: empty, huge, garbage, emoji, right-to-left, markup', async () => {
    const garbage = Array.from({ length: 10_000 }, (_, i) => String.fromCharCode((i * 7919) % 0xffff)).join('');
    const names = [
      '',
      'x'.repeat(10_000),
      'word '.repeat(2_000),
      garbage,
      'lone \ud800 surrogate \udc00',
      '🔥👍🏽👨‍👩‍👧🇬🇧 1️⃣ ❤️'.repeat(500),
      'שלום עולם مرحبا بالعالم',
      'e\u0301'.repeat(3_000) + 'z\u0336\u0337\u0338'.repeat(1_000),
      '\u0000\u0007\n\t\r\u2028',
      '<b>&"</b><script>alert(1)</script>]]>',
    ];
    for (const name of names) {
      expectCard(await renderer.render({ ...FULL, name, brand: name, price: name, badge: { text: name, tone: 'neutral' } }));
    }
  });

  it('takes text as text: markup in a name is drawn, not read', async () => {
    // Satori would make bold text of <b>: drawn literally, the markup differs from its content alone.
    const literal = await renderer.render({ ...withoutPicture, name: '<b>&"' });
    expect(literal.equals(await renderer.render({ ...withoutPicture, name: '&"' }))).toBe(false);
    expect(literal.equals(await renderer.render({ ...withoutPicture, name: '&amp;&quot;' }))).toBe(false);
  });

  it('drops emoji and turns control characters into spaces, rather than show missing-glyph boxes', async () => {
    const plain = await renderer.render({ ...withoutPicture, name: 'Hot deal', brand: 'Northfold' });
    expect((await renderer.render({ ...withoutPicture, name: '🔥 Hot deal 👍🏽', brand: 'North❤️fold' })).equals(plain)).toBe(true);
    expect((await renderer.render({ ...withoutPicture, name: 'Hot\u0000deal\u0007', brand: 'North\u200dfold' })).equals(plain)).toBe(true);
    expect((await renderer.render({ ...withoutPicture, name: 'Hot deal™', brand: 'Northfold' })).equals(plain)).toBe(false);
  });

  it('is deterministic, and different content gives a different picture', async () => {
    const first = await renderer.render(FULL);
    expect((await renderer.render({ ...FULL, picture: picture(PHOTO_PNG, 'image/png') })).equals(first)).toBe(true);
    expect((await createCardRenderer().render(FULL)).equals(first)).toBe(true);
    const variants = [
      { ...FULL, badge: undefined },
      { ...FULL, badge: { text: 'Only 2 left', tone: 'positive' as const } },
      { ...FULL, badge: { text: 'Only 3 left', tone: 'urgent' as const } },
      { ...FULL, name: 'Merino Wool Crew Jumper' },
      { ...FULL, brand: undefined },
      { ...FULL, price: '£59.90' },
      withoutPicture,
      { ...FULL, picture: picture(PHOTO_JPEG, 'image/jpeg') },
    ];
    const all = [first, ...(await Promise.all(variants.map((content) => renderer.render(content))))].map((png) => png.toString('base64'));
    expect(new Set(all).size).toBe(all.length);
  });

  it('draws the placeholder for a picture it cannot use, instead of failing', async () => {
    const placeholder = await renderer.render(withoutPicture);
    const truncatedPng = PHOTO_PNG.subarray(0, PHOTO_PNG.length - 20);
    const flippedPng = Buffer.from(PHOTO_PNG);
    flippedPng[60] ^= 0xff;
    // Well formed, but lossless (SOF3), which satori cannot size.
    const losslessJpeg = Buffer.from(PHOTO_JPEG);
    losslessJpeg[losslessJpeg.indexOf(Buffer.from([0xff, 0xc0])) + 1] = 0xc3;
    const unusable: CardPicture[] = [
      picture('not an image at all', 'image/png'),
      picture(truncatedPng, 'image/png'),
      picture(flippedPng, 'image/png'),
      picture(PHOTO_PNG.subarray(0, PHOTO_PNG.length - 12), 'image/png'), // every chunk whole, but no IEND
      picture(PHOTO_JPEG.subarray(0, 200), 'image/jpeg'), // cut before the scan
      picture(PHOTO_JPEG.subarray(0, 300), 'image/jpeg'), // cut inside the scan
      picture(losslessJpeg, 'image/jpeg'),
      picture(PHOTO_PNG, 'image/jpeg'),
      picture(PHOTO_PNG, 'image/gif'),
      picture(PHOTO_PNG, 'text/html'),
      picture('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect', 'image/svg+xml'),
      picture('<html><body>nope</body></html>', 'image/svg+xml'),
      picture(Buffer.alloc(0), 'image/png'),
      { bytes: 'a string' as unknown as Buffer, contentType: 'image/png' },
    ];
    for (const bad of unusable) {
      const png = await renderer.render({ ...FULL, badge: undefined, picture: bad });
      expectCard(png);
      expect(png.equals(await renderer.render({ ...withoutPicture, badge: undefined }))).toBe(true);
    }
    expect(placeholder.equals(await renderer.render({ ...FULL, picture: picture('garbage', 'image/png') }))).toBe(true);
  });

  it('refuses a PNG that declares more pixels than it may decode, whatever its file size', async () => {
    // The IHDR of PHOTO_PNG, rewritten to 20 000 × 20 000 with a matching CRC.
    const huge = Buffer.from(PHOTO_PNG);
    huge.writeUInt32BE(20_000, 16);
    huge.writeUInt32BE(20_000, 20);
    huge.writeUInt32BE(crc32(huge.subarray(12, 29)), 29);
    const placeholder = await renderer.render(withoutPicture);
    expect((await renderer.render({ ...FULL, picture: picture(huge, 'image/png') })).equals(placeholder)).toBe(true);
  });

  it('draws the text inside an SVG picture with the shipped fonts, whatever family it asks for', async () => {
    const blank = await renderer.render({ ...FULL, picture: picture(svgPicture(''), 'image/svg+xml') });
    const labelled = await renderer.render({ ...FULL, picture: picture(svgPicture('Tote'), 'image/svg+xml') });
    expect(labelled.equals(blank)).toBe(false);
  });

  it('draws only self-contained SVG pictures: one that names a file or a URL, embeds data, has a DTD or comes gzipped gets the placeholder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'card-'));
    try {
      const file = join(dir, 'secret.png');
      writeFileSync(file, PHOTO_PNG);
      const placeholder = await renderer.render(withoutPicture);
      const svgs = [
        `<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"><image href="${file}" width="100" height="100"/></svg>`,
        `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="100" height="100"><image xlink:href='file://${file}' width="100" height="100"/></svg>`,
        `<svg xmlns="http://www.w3.org/2000/svg" xmlns:l="http://www.w3.org/1999/xlink" width="100" height="100"><image l:href="http://127.0.0.1:9/x.png" width="100" height="100"/></svg>`,
        `<!DOCTYPE svg [<!ENTITY f "${file}">]><svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"><image href="&f;" width="100" height="100"/></svg>`,
        `<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"><image href="data:image/png;base64,${PHOTO_PNG.toString('base64')}" width="100" height="100"/></svg>`,
        `<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"><image href="data:image/svg+xml;base64,${Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg"><image href="${file}"/></svg>`).toString('base64')}" width="100" height="100"/></svg>`,
      ];
      // resvg unpacks gzip: with "<svg>" in the gzip header's comment field, only the packed part names the file.
      const packed = gzipSync(svgs[0]);
      const commented = Buffer.concat([packed.subarray(0, 3), Buffer.from([packed[3] | 0x10]), packed.subarray(4, 10), Buffer.from('<svg>\0'), packed.subarray(10)]);
      for (const svg of [...svgs, commented]) {
        expect((await renderer.render({ ...FULL, picture: picture(svg, 'image/svg+xml') })).equals(placeholder)).toBe(true);
      }
      // References to its own elements are fine.
      const selfContained = `<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"><defs><rect id="r" width="50" height="50" fill="red"/></defs><use href="#r"/><use xlink:href='#r' x="50" xmlns:xlink="http://www.w3.org/1999/xlink"/></svg>`;
      expect((await renderer.render({ ...FULL, picture: picture(selfContained, 'image/svg+xml') })).equals(placeholder)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('needs no network: renders with fetch failing, and never calls it', async () => {
    const original = globalThis.fetch;
    const fetchSpy = jest.fn(() => {
      throw new Error('no network in a render');
    });
    globalThis.fetch = fetchSpy as unknown as typeof fetch;
    try {
      const fresh = createCardRenderer();
      for (const content of [FULL, { ...FULL, name: '🔥 Hot 👍🏽 שלום مرحبا 漢字 ☃', picture: picture(svgPicture('Tote'), 'image/svg+xml') }]) {
        expectCard(await fresh.render(content));
      }
    } finally {
      globalThis.fetch = original;
    }
    expect(fetchSpy).not.toHaveBeenCalled();
  });

  it('says which folder lacks the fonts', () => {
    const dir = mkdtempSync(join(tmpdir(), 'no-fonts-'));
    try {
      expect(() => createCardRenderer({ fontsDir: dir })).toThrow(`Card fonts missing from ${dir}: Inter-Regular.ttf, Inter-Bold.ttf`);
      writeFileSync(join(dir, 'Inter-Regular.ttf'), '');
      expect(() => createCardRenderer({ fontsDir: dir })).toThrow(`Card fonts missing from ${dir}: Inter-Bold.ttf`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the image source', () => {
  const SVG = svgPicture('Tote');
  const hits = new Map<string, number>();
  const held: ServerResponse[] = [];
  let firstHeld: () => void = () => undefined;
  let hungUp: () => void = () => undefined;
  let base = '';

  const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => void> = {
    '/photo.png': (_req, res) => res.writeHead(200, { 'content-type': 'image/png' }).end(PHOTO_PNG),
    '/picture.svg': (_req, res) => res.writeHead(200, { 'content-type': 'image/svg+xml; charset=utf-8' }).end(SVG),
    '/missing.png': (_req, res) => res.writeHead(404, { 'content-type': 'image/png' }).end(PHOTO_PNG),
    '/page.html': (_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html></html>'),
    '/untyped': (_req, res) => res.writeHead(200).end(PHOTO_PNG),
    '/declared-big.png': (_req, res) => res.writeHead(200, { 'content-type': 'image/png', 'content-length': 5_000 }).end(Buffer.alloc(5_000)),
    '/declared-big-held.png': (_req, res) => {
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': 5_000 }).flushHeaders();
      res.on('close', () => hungUp());
      held.push(res);
    },
    '/streamed-big.png': (_req, res) => {
      res.writeHead(200, { 'content-type': 'image/png' }); // chunked: no content-length to go by
      for (let i = 0; i < 5; i += 1) res.write(Buffer.alloc(1_000));
      res.end();
    },
    '/silent.png': (_req, res) => held.push(res),
    '/stalled.png': (_req, res) => {
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': PHOTO_PNG.length });
      res.write(PHOTO_PNG.subarray(0, 10));
      held.push(res);
    },
    '/held.png': (_req, res) => {
      held.push(res);
      firstHeld();
    },
  };

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    (routes[path] ?? ((_q: IncomingMessage, r: ServerResponse) => r.writeHead(404).end()))(req, res);
  });

  beforeAll(async () => {
    base = `http://127.0.0.1:${await listenOn(server, '127.0.0.1', 0)}`;
  });
  afterAll(async () => {
    for (const res of held) res.destroy();
    await closeServer(server);
  });
  beforeEach(() => hits.clear());

  const source = (overrides: Partial<Parameters<typeof createImageSource>[0]> = {}) =>
    createImageSource({ timeoutMs: 10_000, maxBytes: 4_096, maxEntries: 100, ttlMs: 60_000, ...overrides });

  it('returns a PNG or an SVG with its content type', async () => {
    const pictures = source({ maxBytes: 1_000_000 });
    expect(await pictures.get(`${base}/photo.png`)).toEqual({ bytes: PHOTO_PNG, contentType: 'image/png' });
    expect(await pictures.get(`${base}/picture.svg`)).toEqual({ bytes: Buffer.from(SVG), contentType: 'image/svg+xml' });
  });

  it('gives undefined for a 404, a wrong or missing content type, and a body over maxBytes (declared or streamed)', async () => {
    const pictures = source();
    for (const path of ['/missing.png', '/page.html', '/untyped', '/declared-big.png', '/streamed-big.png']) {
      expect(await pictures.get(`${base}${path}`)).toBeUndefined();
      expect(hits.get(path)).toBe(1);
    }
    expect(await source({ maxBytes: 10_000 }).get(`${base}/streamed-big.png`)).toBeDefined();
  });

  it('refuses a body whose content-length is over maxBytes without waiting for it', async () => {
    // The body never comes and the timeout is longer than the test's: only the declared length can refuse it.
    const closed = new Promise<void>((resolve) => {
      hungUp = resolve;
    });
    expect(await source({ timeoutMs: 600_000 }).get(`${base}/declared-big-held.png`)).toBeUndefined();
    await closed;
  });

  it('gives undefined when the answer, or the rest of its body, does not come within timeoutMs', async () => {
    const pictures = source({ timeoutMs: 200, maxBytes: 1_000_000 });
    expect(await pictures.get(`${base}/silent.png`)).toBeUndefined();
    expect(await pictures.get(`${base}/stalled.png`)).toBeUndefined();
    expect(hits.get('/silent.png')).toBe(1);
    expect(hits.get('/stalled.png')).toBe(1);
  });

  it('fetches only http: and https: URLs', async () => {
    const pictures = source();
    for (const url of ['file:///etc/hosts', `ftp://127.0.0.1:${new URL(base).port}/photo.png`, 'data:image/png;base64,AAAA', 'not a url', '', `//127.0.0.1:${new URL(base).port}/photo.png`]) {
      expect(await pictures.get(url)).toBeUndefined();
    }
    expect(hits.size).toBe(0);
  });

  it('never throws, whatever fetch does', async () => {
    const failing = source({
      fetch: async () => {
        throw new TypeError('fetch failed');
      },
    });
    await expect(failing.get(`${base}/photo.png`)).resolves.toBeUndefined();
  });

  it('remembers answers, good and bad, within ttlMs and maxEntries', async () => {
    const pictures = source({ maxBytes: 1_000_000, maxEntries: 3 });
    const first = await pictures.get(`${base}/photo.png`);
    expect(await pictures.get(`${base}/photo.png`)).toBe(first);
    expect(await pictures.get(`${base}/missing.png`)).toBeUndefined();
    expect(await pictures.get(`${base}/missing.png`)).toBeUndefined();
    expect([hits.get('/photo.png'), hits.get('/missing.png')]).toEqual([1, 1]);

    // Three other URLs push the first out of a cache of three.
    for (const path of ['/picture.svg', '/page.html', '/untyped']) await pictures.get(`${base}${path}`);
    await pictures.get(`${base}/photo.png`);
    expect(hits.get('/photo.png')).toBe(2);
  });

  it('keeps at most maxTotalBytes of pictures, whatever maxEntries allows', async () => {
    const both = PHOTO_PNG.length + Buffer.byteLength(SVG);
    const pictures = source({ maxBytes: 1_000_000, maxEntries: 100, maxTotalBytes: both - 1 });
    await pictures.get(`${base}/photo.png`);
    await pictures.get(`${base}/picture.svg`);
    // The two do not fit together: the least recently used is fetched again.
    await pictures.get(`${base}/photo.png`);
    expect([hits.get('/photo.png'), hits.get('/picture.svg')]).toEqual([2, 1]);
    const roomy = source({ maxBytes: 1_000_000, maxEntries: 100, maxTotalBytes: both });
    for (const path of ['/photo.png', '/picture.svg', '/photo.png', '/picture.svg']) await roomy.get(`${base}${path}`);
    expect([hits.get('/photo.png'), hits.get('/picture.svg')]).toEqual([3, 2]);
  });

  it('forgets an answer once ttlMs has passed', async () => {
    const pictures = source({ maxBytes: 1_000_000, ttlMs: 5 });
    await pictures.get(`${base}/photo.png`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await pictures.get(`${base}/photo.png`);
    expect(hits.get('/photo.png')).toBe(2);
  });

  it('refuses a cache that lru-cache would leave unbounded or never expire', () => {
    expect(() => source({ maxEntries: 0 })).toThrow(RangeError);
    expect(() => source({ ttlMs: 0 })).toThrow(RangeError);
  });

  it('shares one request among concurrent gets of the same URL', async () => {
    const pictures = source({ maxBytes: 1_000_000 });
    const arrived = new Promise<void>((resolve) => {
      firstHeld = resolve;
    });
    const gets = Array.from({ length: 5 }, () => pictures.get(`${base}/held.png`));
    await arrived;
    // Let any second request arrive before the first is answered.
    await new Promise((resolve) => setTimeout(resolve, 50));
    held.pop()?.writeHead(200, { 'content-type': 'image/png' }).end(PHOTO_PNG);
    const answers = await Promise.all(gets);
    expect(hits.get('/held.png')).toBe(1);
    expect(answers.every((answer) => answer?.bytes.equals(PHOTO_PNG))).toBe(true);
  });
});
