import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { Resvg, renderAsync, type ResvgRenderOptions } from '@resvg/resvg-js';
import satori, { type SatoriOptions } from 'satori';

/** Fixed size of every card, in pixels (the email shows it at half size, 240×320, for sharp screens). */
export const CARD_WIDTH = 480;
export const CARD_HEIGHT = 640;

/** A product picture as fetched: PNG, JPEG or SVG bytes and their content type. */
export interface CardPicture {
  bytes: Buffer;
  contentType: string;
}

/** What one card shows. */
export interface CardContent {
  /** The product name; a long one wraps to at most 2 lines and is cut with an ellipsis. */
  name: string;
  brand?: string;
  /** Already formatted, e.g. "£49.90". */
  price?: string;
  /** The product photo; without one (or with one that cannot be read) a neutral placeholder takes its place. */
  picture?: CardPicture;
  /** A pill over the picture's top-left corner, e.g. "Only 2 left" (urgent), "Back soon" (positive), "Picked for you" (neutral). */
  badge?: { text: string; tone: 'urgent' | 'positive' | 'neutral' };
}

/** Draws product cards. */
export interface CardRenderer {
  /** A PNG of exactly CARD_WIDTH×CARD_HEIGHT. Never fetches anything; a bad picture gives the placeholder, not an error. */
  render(content: CardContent): Promise<Buffer>;
}

/** The shipped fonts (Inter 4, SIL Open Font License: OFL.txt beside them). TTF, since resvg reads no WOFF. */
const FONT_FILES = { regular: 'Inter-Regular.ttf', bold: 'Inter-Bold.ttf' } as const;
const FONT_FAMILY = 'Inter';
const DEFAULT_FONTS_DIR = join(__dirname, '..', '..', 'assets', 'fonts');

const PICTURE_HEIGHT = 400;
/** The most pixels a PNG or JPEG picture may declare: decoding one costs 4 bytes a pixel, whatever its file size. */
const MAX_PICTURE_PIXELS = 4096 * 4096;

const INK = '#111827';
const MUTED = '#6b7280';
const BORDER = '#e5e7eb';
const PICTURE_BACKGROUND = '#f3f4f6';
const BADGE_COLOURS: Record<NonNullable<CardContent['badge']>['tone'], string> = {
  urgent: '#c81e1e',
  positive: '#15803d',
  neutral: '#1f2937',
};

/** Longest text laid out, in graphemes: two lines hold far fewer, so more would only cost layout time. */
const MAX_NAME_GRAPHEMES = 160;
const MAX_LINE_GRAPHEMES = 60;

/** A neutral picture-frame mark for a card without a usable picture. */
const PLACEHOLDER_ICON = `data:image/svg+xml;base64,${Buffer.from(
  '<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96" viewBox="0 0 24 24" fill="none" stroke="#c4c9d1" stroke-width="1.5" stroke-linecap="round" stroke-linejoin="round">' +
    '<rect x="3" y="4" width="18" height="16" rx="2"/><circle cx="9" cy="10" r="1.8"/><path d="M21 16l-5-5-9 9"/></svg>',
).toString('base64')}`;

/** One element of the tree satori lays out: what JSX would build, written as plain objects. */
interface CardNode {
  type: string;
  key: null;
  props: { style?: Record<string, string | number>; src?: string; width?: number; height?: number; children?: CardNode | string | (CardNode | string)[] };
}

function el(type: string, style: CardNode['props']['style'], children?: CardNode['props']['children'], attrs: Partial<CardNode['props']> = {}): CardNode {
  return { type, key: null, props: { style, children, ...attrs } };
}

/**
 * Lays out product cards with satori (text drawn as paths with the shipped fonts) and rasterizes them
 * with resvg. The fonts are read once, here: a missing one throws, naming the folder. Pictures reach
 * satori as data URIs only, and it is given no way to load more fonts or emoji images: it never fetches.
 */
export function createCardRenderer(options: { fontsDir?: string } = {}): CardRenderer {
  const fontsDir = options.fontsDir ?? DEFAULT_FONTS_DIR;
  const missing = Object.values(FONT_FILES).filter((file) => !existsSync(join(fontsDir, file)));
  if (missing.length > 0) {
    throw new Error(`Card fonts missing from ${fontsDir}: ${missing.join(', ')} (the folder must hold ${Object.values(FONT_FILES).join(' and ')}).`);
  }
  const fontPaths = Object.values(FONT_FILES).map((file) => join(fontsDir, file));
  // One array for every render: satori keeps the fonts it parsed per array.
  const fonts: SatoriOptions['fonts'] = [
    { name: FONT_FAMILY, data: readFileSync(join(fontsDir, FONT_FILES.regular)), weight: 400, style: 'normal' },
    { name: FONT_FAMILY, data: readFileSync(join(fontsDir, FONT_FILES.bold)), weight: 700, style: 'normal' },
  ];
  // Satori draws the card's own text as paths; these fonts are for text inside SVG pictures, whatever family they ask for.
  const rasterOptions: ResvgRenderOptions = {
    fitTo: { mode: 'original' },
    font: { fontFiles: fontPaths, loadSystemFonts: false, defaultFontFamily: FONT_FAMILY, sansSerifFamily: FONT_FAMILY, serifFamily: FONT_FAMILY },
    logLevel: 'off',
  };

  const layout = (content: CardContent, picture: string | undefined) =>
    satori(cardTree(content, picture), { width: CARD_WIDTH, height: CARD_HEIGHT, fonts });

  // Each picture is checked (and an SVG rasterized) once: the image source hands out the same object for the same URL.
  const prepared = new WeakMap<CardPicture, Promise<string | undefined>>();
  const prepare = (picture: CardPicture | undefined): Promise<string | undefined> => {
    if (!picture || typeof picture !== 'object') return Promise.resolve(undefined);
    let uri = prepared.get(picture);
    if (!uri) {
      uri = pictureDataUri(picture, rasterOptions).catch(() => undefined);
      prepared.set(picture, uri);
    }
    return uri;
  };

  return {
    async render(content) {
      const picture = await prepare(content.picture);
      let svg: string;
      try {
        svg = await layout(content, picture);
      } catch (error) {
        // Whatever satori could not take from a picture, the placeholder replaces it.
        if (picture === undefined) throw error;
        svg = await layout(content, undefined);
      }
      return (await renderAsync(svg, rasterOptions)).asPng();
    },
  };
}

/** The card: picture area on top (badge over its corner), then brand, name and price on white, in a light border. */
function cardTree(content: CardContent, picture: string | undefined): CardNode {
  const brand = cleanText(content.brand, MAX_LINE_GRAPHEMES);
  const name = cleanText(content.name, MAX_NAME_GRAPHEMES);
  const price = cleanText(content.price, MAX_LINE_GRAPHEMES);
  const badgeText = cleanText(content.badge?.text, MAX_LINE_GRAPHEMES);
  const oneLine = { whiteSpace: 'nowrap', overflow: 'hidden', textOverflow: 'ellipsis' };

  const pictureArea = el(
    'div',
    { display: 'flex', position: 'relative', width: CARD_WIDTH, height: PICTURE_HEIGHT, alignItems: 'center', justifyContent: 'center', backgroundColor: PICTURE_BACKGROUND },
    [
      picture
        ? el('img', { width: CARD_WIDTH, height: PICTURE_HEIGHT, objectFit: 'contain' }, undefined, { src: picture, width: CARD_WIDTH, height: PICTURE_HEIGHT })
        : el('img', { width: 96, height: 96 }, undefined, { src: PLACEHOLDER_ICON, width: 96, height: 96 }),
      ...(content.badge && badgeText
        ? [
            el(
              'div',
              {
                display: 'flex',
                position: 'absolute',
                top: 20,
                left: 20,
                maxWidth: CARD_WIDTH - 40,
                boxSizing: 'border-box',
                padding: '8px 18px',
                borderRadius: 999,
                backgroundColor: BADGE_COLOURS[content.badge.tone] ?? BADGE_COLOURS.neutral,
                color: '#ffffff',
                fontSize: 22,
                fontWeight: 700,
                lineHeight: 1.2,
              },
              el('div', { display: 'block', ...oneLine }, badgeText),
            ),
          ]
        : []),
    ],
  );

  const details = el('div', { display: 'flex', flexDirection: 'column', flexGrow: 1, padding: '26px 32px 28px' }, [
    ...(brand
      ? [el('div', { display: 'block', fontSize: 19, color: MUTED, letterSpacing: 1.5, textTransform: 'uppercase', lineHeight: 1.3, marginBottom: 8, ...oneLine }, brand)]
      : []),
    el('div', { display: 'block', fontSize: 30, fontWeight: 700, color: INK, lineHeight: 1.25, lineClamp: 2, wordBreak: 'break-word' }, name),
    ...(price ? [el('div', { display: 'block', marginTop: 'auto', fontSize: 30, color: INK, lineHeight: 1.2, ...oneLine }, price)] : []),
  ]);

  return el(
    'div',
    { display: 'flex', flexDirection: 'column', position: 'relative', width: CARD_WIDTH, height: CARD_HEIGHT, backgroundColor: '#ffffff', fontFamily: FONT_FAMILY, fontWeight: 400 },
    [pictureArea, details, el('div', { position: 'absolute', top: 0, left: 0, width: CARD_WIDTH, height: CARD_HEIGHT, boxSizing: 'border-box', border: `1px solid ${BORDER}` })],
  );
}

/** Control characters and line separators, which the fonts would draw as missing-glyph boxes. */
const CONTROL = /[\u0000-\u001F\u007F-\u009F\u2028\u2029]+/g;
/** Emoji (no emoji font is shipped, so each would show as a missing-glyph box) and what joins or modifies them. */
const EMOJI = /\p{Emoji_Presentation}|\p{Extended_Pictographic}\uFE0F|[\u200D\uFE0F\u20E3\u{1F3FB}-\u{1F3FF}\u{E0020}-\u{E007F}]/gu;
const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * Text as the card shows it: on one line, without emoji, and cut to `maxGraphemes`
 * (with an ellipsis) before layout, so a name of any length costs the same. Satori takes it as text:
 * markup in it is drawn, never read.
 */
function cleanText(text: string | undefined, maxGraphemes: number): string {
  if (!text) return '';
  // Cut first, with room to spare, so the replacements below never walk a huge string.
  const rough = text.length > maxGraphemes * 16 ? text.slice(0, maxGraphemes * 16) : text;
  const clean = rough.replace(CONTROL, ' ').replace(EMOJI, '').replace(/\s+/g, ' ').trim();
  let cut = '';
  let count = 0;
  for (const { segment } of graphemes.segment(clean)) {
    if (count === maxGraphemes) return `${cut.trimEnd()}…`;
    cut += segment;
    count += 1;
  }
  return rough.length < text.length ? `${cut.trimEnd()}…` : cut;
}

/**
 * The picture as a data URI for satori, or undefined when it is not one the card can draw: an
 * unsupported type, bytes that are not what the type says, a damaged or oversized PNG or JPEG, or
 * an SVG that is malformed or draws from outside itself (resvg would read files named in it). An SVG
 * is rasterized here, with the shipped fonts, to the size it is shown at: resvg draws no text in an
 * SVG nested as an image, so embedded as it is, its text would be blank.
 */
async function pictureDataUri(picture: CardPicture, rasterOptions: ResvgRenderOptions): Promise<string | undefined> {
  const { bytes } = picture;
  if (!Buffer.isBuffer(bytes) || bytes.length === 0 || typeof picture.contentType !== 'string') return undefined;
  const type = picture.contentType.split(';')[0].trim().toLowerCase();
  if (type === 'image/png' || type === 'image/jpeg') {
    const sound = type === 'image/png' ? isSoundPng(bytes) : isSoundJpeg(bytes);
    return sound ? `data:${type};base64,${bytes.toString('base64')}` : undefined;
  }
  if (type !== 'image/svg+xml' || !isSelfContainedSvg(bytes)) return undefined;
  const { width, height } = new Resvg(bytes, { font: { loadSystemFonts: false }, logLevel: 'off' });
  if (!(width > 0 && height > 0)) return undefined;
  const zoom = Math.min(CARD_WIDTH / width, PICTURE_HEIGHT / height);
  const png = (await renderAsync(bytes, { ...rasterOptions, fitTo: { mode: 'zoom', value: zoom } })).asPng();
  return `data:image/png;base64,${png.toString('base64')}`;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** A PNG whose chunks are all whole with matching CRCs, from IHDR (of a sane size) to IEND. */
function isSoundPng(bytes: Buffer): boolean {
  if (bytes.length < 8 + 25 + 12 || !bytes.subarray(0, 8).equals(PNG_SIGNATURE)) return false;
  let offset = 8;
  let first = true;
  while (offset + 12 <= bytes.length) {
    const length = bytes.readUInt32BE(offset);
    const end = offset + 12 + length;
    if (end > bytes.length) return false;
    const type = bytes.toString('latin1', offset + 4, offset + 8);
    if (crc32(bytes.subarray(offset + 4, offset + 8 + length)) !== bytes.readUInt32BE(offset + 8 + length)) return false;
    if (first) {
      if (type !== 'IHDR' || length !== 13) return false;
      const width = bytes.readUInt32BE(offset + 8);
      const height = bytes.readUInt32BE(offset + 12);
      if (width === 0 || height === 0 || width * height > MAX_PICTURE_PIXELS) return false;
      first = false;
    }
    if (type === 'IEND') return true;
    offset = end;
  }
  return false;
}

/** A JPEG from its start marker through a frame header (of a sane size) to an end marker after the scan. */
function isSoundJpeg(bytes: Buffer): boolean {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8 || bytes[2] !== 0xff) return false;
  let offset = 2;
  let sized = false;
  while (offset + 4 <= bytes.length) {
    if (bytes[offset] !== 0xff) return false;
    const marker = bytes[offset + 1];
    if (marker === 0xff) {
      offset += 1; // fill byte
      continue;
    }
    const length = bytes.readUInt16BE(offset + 2);
    if (length < 2 || offset + 2 + length > bytes.length) return false;
    const isFrame = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isFrame) {
      if (length < 8) return false;
      const height = bytes.readUInt16BE(offset + 5);
      const width = bytes.readUInt16BE(offset + 7);
      if (width === 0 || height === 0 || width * height > MAX_PICTURE_PIXELS) return false;
      sized = true;
    }
    if (marker === 0xda) {
      const scanStart = offset + 2 + length;
      return sized && bytes.lastIndexOf(Buffer.from([0xff, 0xd9])) >= scanStart;
    }
    offset += 2 + length;
  }
  return false;
}

/**
 * An SVG that draws only from itself: not compressed (resvg would unpack what this check cannot
 * read), no DTD (entities could spell a path), and every href a fragment: never a file, a URL, nor
 * embedded data (a nested image would escape the pixel limit). Whether resvg can parse it is found
 * out when it is drawn.
 */
function isSelfContainedSvg(bytes: Buffer): boolean {
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) return false;
  const text = bytes.toString('utf8');
  if (!/<svg[\s>]/i.test(text) || /<!(DOCTYPE|ENTITY)/i.test(text)) return false;
  for (const match of text.matchAll(/(?:^|[\s"'])(?:[\w.-]+:)?href\s*=\s*(["'])(.*?)\1/gis)) {
    if (!match[2].trim().startsWith('#')) return false;
  }
  return true;
}
