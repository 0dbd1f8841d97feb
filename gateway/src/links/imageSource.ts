import { LRUCache } from 'lru-cache';
import type { CardPicture } from './productCard';

/** Product pictures by URL, for the cards. */
export interface ImageSource {
  /** The picture at `url`, or undefined when it cannot be had (for whatever reason: this never throws). */
  get(url: string): Promise<CardPicture | undefined>;
}

/** Options of `createImageSource`. */
export interface ImageSourceOptions {
  /** Longest wait for one picture, headers and body together. */
  timeoutMs: number;
  /** Largest body accepted; a longer one is dropped, whether it says so in content-length or not. */
  maxBytes: number;
  /** Most URLs remembered (at least 1). */
  maxEntries: number;
  /** Most bytes of pictures remembered, all URLs together (default 64 MB); the least recently used go first. */
  maxTotalBytes?: number;
  /** How long a picture is remembered (more than 0); a failure, for at most 30 s. */
  ttlMs: number;
  /** The HTTP client; the global `fetch` by default. */
  fetch?: typeof fetch;
}

/** The picture types the card renderer draws. */
const ACCEPTED_TYPES = new Set(['image/png', 'image/jpeg', 'image/svg+xml']);
/** The default bound of all pictures remembered together. */
const DEFAULT_MAX_TOTAL_BYTES = 64 * 1024 * 1024;
/** A failed URL is retried after this long at most, so a picture that comes back shows again soon. */
const FAILURE_TTL_MS = 30_000;

/** What the cache holds for one URL: its picture, or none for a failure. */
interface Lookup {
  picture?: CardPicture;
}

/**
 * Fetches product pictures over http(s), bounded in time and size, and remembers each answer, good
 * or bad, in an LRU: a card rendered at every email open asks for the same few pictures again and
 * again. Concurrent gets of one URL share one request.
 */
export function createImageSource(options: ImageSourceOptions): ImageSource {
  // lru-cache reads a max of 0 as no bound and a ttl of 0 as forever.
  if (!Number.isSafeInteger(options.maxEntries) || options.maxEntries < 1 || !(options.ttlMs > 0)) {
    throw new RangeError(`An image source needs maxEntries of at least 1 and ttlMs above 0; got ${options.maxEntries} and ${options.ttlMs}.`);
  }
  const fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
  const failureTtl = Math.min(options.ttlMs, FAILURE_TTL_MS);
  const cache = new LRUCache<string, Lookup>({
    max: options.maxEntries,
    ttl: options.ttlMs,
    maxSize: options.maxTotalBytes ?? DEFAULT_MAX_TOTAL_BYTES,
    // A failure weighs one byte, so failures are bounded by maxEntries alone.
    sizeCalculation: (lookup) => Math.max(1, lookup.picture?.bytes.length ?? 1),
  });
  const inFlight = new Map<string, Promise<CardPicture | undefined>>();

  const load = async (url: string): Promise<CardPicture | undefined> => {
    const picture = await download(url, fetchImpl, options).catch(() => undefined);
    cache.set(url, picture ? { picture } : {}, picture ? undefined : { ttl: failureTtl });
    return picture;
  };

  return {
    async get(url) {
      const key = httpUrl(url);
      if (key === undefined) return undefined;
      const cached = cache.get(key);
      if (cached) return cached.picture;
      let pending = inFlight.get(key);
      if (!pending) {
        pending = load(key).finally(() => inFlight.delete(key));
        inFlight.set(key, pending);
      }
      return pending;
    },
  };
}

/** `url` in its normal form when it is an http: or https: URL; undefined for anything else. */
function httpUrl(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.href : undefined;
  } catch {
    return undefined;
  }
}

/** One fetch of a picture; undefined for a refused answer, and a rejection for a failed request. */
async function download(url: string, fetchImpl: typeof fetch, options: ImageSourceOptions): Promise<CardPicture | undefined> {
  const response = await fetchImpl(url, {
    signal: AbortSignal.timeout(options.timeoutMs),
    headers: { accept: [...ACCEPTED_TYPES].join(', ') },
  });
  const body = response.body;
  const contentType = (response.headers.get('content-type') ?? '').split(';')[0].trim().toLowerCase();
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (!response.ok || !body || !ACCEPTED_TYPES.has(contentType) || declared > options.maxBytes) {
    await body?.cancel().catch(() => undefined);
    return undefined;
  }
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > options.maxBytes) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  return size > 0 ? { bytes: Buffer.concat(chunks), contentType } : undefined;
}
