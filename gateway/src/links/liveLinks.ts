import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { Kind, parse } from 'graphql';
import { LRUCache } from 'lru-cache';
import { Counter, type Registry } from 'prom-client';
import type { Clock } from '../../../kit/clock';
import { ErrorCode } from '../../../kit/errors';
import { type LinkClaims, openLinkToken } from '../../../kit/linkToken';
import type { Logger } from '../../../kit/logger';
import { parseRequestTarget } from '../../../kit/http/parseRequestTarget';
import { sendError } from '../../../kit/http/sendJson';
import type { SubgraphKeyring } from '../../../kit/subgraphCredential';
import type { CardContent, CardRenderer } from './productCard';
import type { ImageSource } from './imageSource';

/**
 * Live links and live images: the gateway's answer when a shopper clicks a recommendation in an email
 * (`GET /r/<token>`) or their mail client loads its picture (`GET /i/<token>.png`), hours or days after
 * the send. Both read the graph again, live, and settle on the same product:
 *
 * 1. the slot's own product, if it is orderable now;
 * 2. else the recipient's best recommendation now (live ranking, the same rules and consent) that is
 *    orderable and not one of the email's slots;
 * 3. else the fallback page (or its card).
 *
 * An expired link, and one whose recipient the graph no longer knows (erased), go to the fallback and
 * record nothing. A click of a recipient with personalization consent is recorded as a `CLICK` event
 * of the slot's product, before the redirect, so the next query sees it.
 *
 * What the gateway reads and records are the operations of `schema/live-links.graphql`; the aliases
 * there (`recipient`, `picks`, `orderable`, `left`) are the shape this module reads.
 */

/** The operations file read at start-up (`TAILOR_LIVE_LINK_OPERATIONS`). */
export const LIVE_LINK_OPERATIONS_FILE = join(__dirname, '..', '..', '..', 'schema', 'live-links.graphql');

/** The operations of that file, by name. */
export const TARGET_OPERATION = 'LiveLinkTarget';
export const PICKS_OPERATION = 'LiveLinkPicks';
export const CLICK_OPERATION = 'LiveLinkClick';

/** How a link or image request ended: a label of the metrics. */
export type LinkOutcome = 'product' | 'replacement' | 'fallback' | 'expired' | 'unknown_recipient' | 'invalid';

/** What `LiveLinkTarget` answers: the recipient's consent and the slot's product, live. */
interface TargetAnswer {
  recipient: { consent: { personalization: boolean } | null } | null;
  product: LinkProduct | null;
}

/** What `LiveLinkPicks` answers: the recipient's live recommendations. */
interface PicksAnswer {
  recipient: { picks: { product: LinkProduct | null }[] | null } | null;
}

interface LinkProduct {
  sku: string;
  name: string;
  brand: string;
  url: string;
  imageUrl: string;
  orderable: boolean;
  price: { formatted: string } | null;
  left: { available: number } | null;
}

/** The live link operations: the document's text, checked to hold both operations. */
export interface LiveLinkOperations {
  document: string;
}

/** Reads the operations file; throws naming the file when it does not parse or lacks an operation. */
export function readLiveLinkOperations(file: string = LIVE_LINK_OPERATIONS_FILE): LiveLinkOperations {
  let document: string;
  try {
    document = readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`The live link operations ${file} cannot be read: ${(error as Error).message}`);
  }
  let names: string[];
  try {
    names = parse(document).definitions.flatMap((d) => (d.kind === Kind.OPERATION_DEFINITION && d.name ? [d.name.value] : []));
  } catch (error) {
    throw new Error(`The live link operations ${file} do not parse: ${(error as Error).message}`);
  }
  const missing = [TARGET_OPERATION, PICKS_OPERATION, CLICK_OPERATION].filter((name) => !names.includes(name));
  if (missing.length) throw new Error(`The live link operations ${file} hold no operation ${missing.join(' or ')}`);
  return { document };
}

/** Runs an operation of a document against the gateway's own graph, as the live links' internal client. */
export type RunOperation = (
  document: string,
  operationName: string,
  variables: Record<string, unknown>,
) => Promise<{ data?: Record<string, unknown> | null; errors?: readonly { message: string }[] }>;

/** Clicks of one token within this window are one event (its `eventId`), across gateway replicas too. */
export const CLICK_DEDUPE_WINDOW_MS = 10 * 60_000;

export interface LiveLinksOptions {
  keyring: SubgraphKeyring;
  fallbackUrl: string;
  operations: LiveLinkOperations;
  run: RunOperation;
  renderer: CardRenderer;
  pictures: ImageSource;
  /** "Only N left" at this many or fewer; 0: never. */
  lowStockBadge: number;
  /** `max-age` of a live image. */
  imageMaxAgeSeconds: number;
  /** Rendered cards kept. */
  renderCacheEntries: number;
  /** Text of the card shown when nothing is left. */
  fallbackCardText: string;
  /** Most slots a recommendation list may have (the cap of `recommendations(limit:)`). */
  maxSlots: number;
  /** Takes one of the gateway's operation slots; `undefined` when none frees up in time. */
  admit: () => Promise<(() => void) | undefined>;
  registry: Registry;
  clock: Clock;
  logger: Logger;
}

export interface LiveLinks {
  /** Serves `path` if it is under `/r/` or `/i/`, and says whether it did. */
  handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean>;
}

/** Where a link leads now, and why. */
interface Destination {
  outcome: LinkOutcome;
  product?: LinkProduct;
  /** The recipient is known, consents to personalization: the click is recorded. */
  record: boolean;
}

export function createLiveLinks(options: LiveLinksOptions): LiveLinks {
  const clicks = new Counter({
    name: 'tailor_live_link_clicks_total',
    help: 'Clicks (GETs) of live links, by where they led: product (the slot\'s own, orderable), replacement (sold out, led to another), fallback (nothing left, or the graph could not answer), expired, unknown_recipient (erased or unknown), invalid (400).',
    labelNames: ['outcome'],
    registers: [options.registry],
  });
  const images = new Counter({
    name: 'tailor_live_images_total',
    help: 'Live images served, by what they showed: product, replacement, fallback, expired, unknown_recipient, invalid (400).',
    labelNames: ['outcome'],
    registers: [options.registry],
  });
  const renders = new Counter({
    name: 'tailor_live_image_renders_total',
    help: 'Look-ups of rendered product cards: hit (served from the render cache) or miss (rendered).',
    labelNames: ['result'],
    registers: [options.registry],
  });
  const renderCache = new LRUCache<string, Promise<Buffer>>({ max: options.renderCacheEntries });
  /** Click events this gateway recorded, for as long as a repeat would carry the same `eventId`. */
  const recorded = new LRUCache<string, true>({ max: 100_000, ttl: CLICK_DEDUPE_WINDOW_MS, perf: { now: () => options.clock.now() } });

  const fallbackLocation = (search: URLSearchParams) => withTracking(options.fallbackUrl, search);

  /** Runs one of the operations; `undefined` when the graph could not answer it (logged). */
  async function read<T>(operation: string, variables: Record<string, unknown>): Promise<T | undefined> {
    try {
      const result = await options.run(options.operations.document, operation, variables);
      if (result.errors?.length) options.logger.warn({ operation, errors: result.errors.map((e) => e.message) }, 'live link: the graph answered with errors');
      return (result.data ?? undefined) as T | undefined;
    } catch (error) {
      options.logger.warn({ operation, err: error }, 'live link: the graph could not be read');
      return undefined;
    }
  }

  /**
   * Reads the graph for `claims` and settles where the link leads. Most clicks find their product
   * orderable: only the others pay for a live ranking.
   */
  async function destinationOf(claims: LinkClaims): Promise<Destination> {
    const target = await read<TargetAnswer>(TARGET_OPERATION, { recipient: claims.userId, sku: claims.skus[claims.slot] });
    if (!target) return { outcome: 'fallback', record: false };
    if (!target.recipient) return { outcome: 'unknown_recipient', record: false };
    const record = target.recipient.consent?.personalization === true;
    if (target.product && target.product.orderable && isHttpUrl(target.product.url)) return { outcome: 'product', product: target.product, record };
    const picks = await read<PicksAnswer>(PICKS_OPERATION, { recipient: claims.userId, limit: Math.min(options.maxSlots, claims.skus.length + 1) });
    const shown = new Set(claims.skus);
    const next = (picks?.recipient?.picks ?? []).map((r) => r.product).find((p) => p && p.orderable && !shown.has(p.sku) && isHttpUrl(p.url));
    return next ? { outcome: 'replacement', product: next, record } : { outcome: 'fallback', record };
  }

  async function recordClick(token: string, claims: LinkClaims): Promise<void> {
    const now = options.clock.now();
    const tokenHash = createHash('sha256').update(token).digest('base64url').slice(0, 22);
    const eventId = `click-${tokenHash}-${Math.floor(now / CLICK_DEDUPE_WINDOW_MS)}`;
    // A repeat this gateway recorded already would only be counted a duplicate: it is not sent.
    if (recorded.has(eventId)) return;
    const event = {
      eventId,
      userId: claims.userId,
      sku: claims.skus[claims.slot],
      type: 'CLICK',
      occurredAt: new Date(now).toISOString(),
    };
    try {
      const result = await options.run(options.operations.document, CLICK_OPERATION, { events: [event] });
      if (result.errors?.length) options.logger.warn({ errors: result.errors.map((e) => e.message) }, 'live link: the click was not recorded');
      else recorded.set(eventId, true);
    } catch (error) {
      options.logger.warn({ err: error }, 'live link: the click was not recorded');
    }
  }

  /** Opens the token of `/r/<token>` or `/i/<token>.png`; answers 400 itself when it does not open. */
  function open(res: ServerResponse, token: string, count: (outcome: LinkOutcome) => void): LinkClaims | undefined {
    const check = openLinkToken(options.keyring, token);
    if (check.ok) return check.claims;
    count('invalid');
    sendError(res, 400, ErrorCode.BAD_REQUEST, 'This link is not valid: it was changed or cut short, or its key was retired.');
    return undefined;
  }

  /** Counts a click: a GET. A HEAD (a link checker, a prefetch) is answered the same, and neither counted nor recorded. */
  const clickCounter = (req: IncomingMessage) => (outcome: LinkOutcome) => {
    if (req.method === 'GET') clicks.inc({ outcome });
  };

  async function click(req: IncomingMessage, res: ServerResponse, token: string): Promise<void> {
    const count = clickCounter(req);
    const claims = open(res, token, count);
    if (!claims) return;
    const search = parseRequestTarget(req.url)?.searchParams ?? new URLSearchParams();
    if (claims.expiresAt <= options.clock.now()) {
      count('expired');
      return redirect(res, fallbackLocation(search));
    }
    const destination = await destinationOf(claims);
    if (destination.record && req.method === 'GET') await recordClick(token, claims);
    count(destination.outcome);
    redirect(res, destination.product ? withTracking(destination.product.url, search) : fallbackLocation(search));
  }

  async function image(req: IncomingMessage, res: ServerResponse, token: string): Promise<void> {
    const claims = open(res, token, (outcome) => images.inc({ outcome }));
    if (!claims) return;
    const destination: Destination = claims.expiresAt <= options.clock.now() ? { outcome: 'expired', record: false } : await destinationOf(claims);
    images.inc({ outcome: destination.outcome });
    const png = await cardOf(destination);
    res.writeHead(200, {
      'content-type': 'image/png',
      'content-length': png.length,
      'cache-control': `private, max-age=${options.imageMaxAgeSeconds}`,
      'x-content-type-options': 'nosniff',
    });
    res.end(req.method === 'HEAD' ? undefined : png);
  }

  /** The card of a destination, from the render cache when the same content was rendered before. */
  async function cardOf(destination: Destination): Promise<Buffer> {
    const product = destination.product;
    const content: CardContent = product
      ? { name: product.name, brand: product.brand, ...(product.price ? { price: product.price.formatted } : {}), ...badgeOf(product, destination.outcome) }
      : { name: options.fallbackCardText };
    const key = JSON.stringify([content, product?.imageUrl ?? null]);
    const cached = renderCache.get(key);
    if (cached) {
      renders.inc({ result: 'hit' });
      return cached;
    }
    renders.inc({ result: 'miss' });
    const rendering = (async () => {
      const picture = product && isHttpUrl(product.imageUrl) ? await options.pictures.get(product.imageUrl) : undefined;
      return options.renderer.render(picture ? { ...content, picture } : content);
    })();
    renderCache.set(key, rendering);
    rendering.catch(() => renderCache.delete(key));
    return rendering;
  }

  function badgeOf(product: LinkProduct, outcome: LinkOutcome): Partial<Pick<CardContent, 'badge'>> {
    const available = product.left?.available;
    if (options.lowStockBadge > 0 && available !== undefined && available <= options.lowStockBadge) {
      return { badge: { text: `Only ${available} left`, tone: 'urgent' } };
    }
    if (outcome === 'replacement') return { badge: { text: 'Picked for you', tone: 'neutral' } };
    return {};
  }

  return {
    async handle(req, res, path) {
      const isClick = path.startsWith('/r/');
      const isImage = path.startsWith('/i/');
      if (!isClick && !isImage) return false;
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('allow', 'GET, HEAD');
        sendError(res, 405, ErrorCode.METHOD_NOT_ALLOWED, `Use GET for ${isClick ? '/r/<token>' : '/i/<token>.png'}.`);
        return true;
      }
      if (isImage && !path.endsWith('.png')) {
        images.inc({ outcome: 'invalid' });
        sendError(res, 400, ErrorCode.BAD_REQUEST, 'A live image is /i/<token>.png.');
        return true;
      }
      const release = await options.admit();
      if (!release) {
        // A shopper who clicked is never shown an error page: at its limit the gateway sends them on.
        if (isClick) {
          clickCounter(req)('fallback');
          redirect(res, fallbackLocation(parseRequestTarget(req.url)?.searchParams ?? new URLSearchParams()));
        } else {
          res.setHeader('retry-after', '1');
          sendError(res, 503, ErrorCode.OVERLOADED, 'The gateway is at its limit of operations in flight; retry in 1 s.');
        }
        return true;
      }
      try {
        if (isClick) await click(req, res, path.slice('/r/'.length));
        else await image(req, res, path.slice('/i/'.length, -'.png'.length));
      } finally {
        release();
      }
      return true;
    },
  };
}

/** `url` with the click's query string (the campaign's tracking parameters) added, replacing the same names. */
export function withTracking(url: string, search: URLSearchParams): string {
  if ([...search.keys()].length === 0) return url;
  const target = new URL(url);
  for (const name of new Set(search.keys())) {
    target.searchParams.delete(name);
    for (const value of search.getAll(name)) target.searchParams.append(name, value);
  }
  return target.toString();
}

function isHttpUrl(url: string | undefined): url is string {
  return typeof url === 'string' && /^https?:\/\/[^\s]+$/i.test(url);
}

function redirect(res: ServerResponse, location: string): void {
  res.writeHead(302, { location, 'cache-control': 'no-store', 'referrer-policy': 'no-referrer', 'content-length': 0 });
  res.end();
}
