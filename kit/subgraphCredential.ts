import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { z } from 'zod';

/**
 * The credential the gateway puts on every request to a subgraph, so that a subgraph answers the
 * gateway only (and stock's own call to behavior), not anyone who can reach its port:
 *
 *     Tailor-Gateway-Signature: t=<unix seconds>,n=<nonce>,k=<key id>,v1=<hex HMAC-SHA256>
 *
 * The HMAC, keyed with the shared secret of key id `k`, covers `v1`, the timestamp, the nonce, the key
 * id and the sha256 of the exact body bytes (for a GET, of the query string after `?`, as sent). A
 * subgraph accepts a credential once (the nonce), within a tolerance of its own clock.
 */
export const SIGNATURE_HEADER = 'tailor-gateway-signature';

/** The key id of a `TAILOR_SUBGRAPH_SECRET` that holds one secret without a key id. */
export const DEFAULT_KEY_ID = 'default';

/** Shortest secret accepted, in characters (`npm start` makes 64 hex digits). */
export const MIN_SECRET_LENGTH = 32;

/** One shared secret and its key id. */
export interface SubgraphKey {
  id: string;
  secret: string;
}

/** The secrets in use: the first signs, any verifies (rotation). */
export interface SubgraphKeyring {
  keys: readonly SubgraphKey[];
}

const KEY_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/;
const NONCE = /^[A-Za-z0-9_-]{16,64}$/;

/**
 * Parses `TAILOR_SUBGRAPH_SECRET`: one secret (key id `default`), or `kid=secret,kid2=secret2`.
 * Throws an `Error` whose message says what is wrong (and never echoes a secret).
 */
export function parseSubgraphKeys(raw: string): SubgraphKeyring {
  const parts = raw.split(',').map((p) => p.trim());
  if (parts.some((p) => p === '')) throw new Error('must be one secret, or kid=secret pairs separated by commas, with no empty entry');
  const keys: SubgraphKey[] = [];
  if (parts.length === 1 && !parts[0].includes('=')) {
    keys.push({ id: DEFAULT_KEY_ID, secret: parts[0] });
  } else {
    for (const [index, part] of parts.entries()) {
      const eq = part.indexOf('=');
      const id = eq > 0 ? part.slice(0, eq) : '';
      if (!KEY_ID.test(id)) throw new Error(`entry ${index + 1} is not kid=secret (a key id is 1-32 letters, digits, _ . -)`);
      if (keys.some((k) => k.id === id)) throw new Error(`key id "${id}" is given twice`);
      keys.push({ id, secret: part.slice(eq + 1) });
    }
  }
  for (const key of keys) {
    if (key.secret.length < MIN_SECRET_LENGTH) throw new Error(`the secret of key id "${key.id}" is ${key.secret.length} characters; it must be at least ${MIN_SECRET_LENGTH}`);
    if (/\s/.test(key.secret)) throw new Error(`the secret of key id "${key.id}" holds whitespace`);
  }
  return { keys };
}

/** The zod schema of the `TAILOR_SUBGRAPH_SECRET` setting (gateway and subgraphs): unset, or a keyring. */
export const subgraphSecretSchema = () =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined) return undefined;
      try {
        return parseSubgraphKeys(raw);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    });

const sha256Hex = (bytes: string | Buffer) => createHash('sha256').update(bytes).digest('hex');
const mac = (secret: string, t: string, nonce: string, kid: string, body: string | Buffer) =>
  createHmac('sha256', secret).update(`v1\n${t}\n${nonce}\n${kid}\n${sha256Hex(body)}`).digest();

/**
 * The header value for a request whose body (bytes as sent; a string is UTF-8) is `body`, signed with
 * the first key of `secret` (a keyring, or one secret string), at `now` (epoch ms), with a fresh nonce.
 */
export function signRequest(secret: SubgraphKeyring | string, body: string | Buffer, now: number = Date.now(), nonce: string = randomBytes(16).toString('hex')): string {
  const key = typeof secret === 'string' ? { id: DEFAULT_KEY_ID, secret } : secret.keys[0];
  if (!key) throw new Error('signRequest: the keyring holds no key');
  const t = String(Math.floor(now / 1000));
  return `t=${t},n=${nonce},k=${key.id},v1=${mac(key.secret, t, nonce, key.id, body).toString('hex')}`;
}

/** Why a credential was refused. */
export type CredentialRefusal = 'missing' | 'malformed' | 'unknown_key' | 'expired' | 'future' | 'bad_signature' | 'replayed';

/** The outcome of `verifyRequest`. */
export type CredentialCheck = { ok: true; keyId: string } | { ok: false; reason: CredentialRefusal };

/** Nonces already accepted, each kept as long as a credential carrying it could still be in time. */
export interface NonceCache {
  /** True when `nonce` was seen; otherwise records it and answers false. */
  seen(nonce: string): boolean;
}

/** A bounded LRU of nonces, each dropped `ttlMs` after it was recorded (by `now`, epoch ms). */
export function createNonceCache(ttlMs: number, maxEntries = 200_000, now: () => number = Date.now): NonceCache {
  const cache = new LRUCache<string, true>({ max: maxEntries, ttl: Math.max(ttlMs, 1), ttlAutopurge: false, perf: { now } });
  return {
    seen(nonce) {
      if (cache.has(nonce)) return true;
      cache.set(nonce, true);
      return false;
    },
  };
}

/** What `verifyRequest` checks a credential against. */
export interface VerifyOptions {
  keyring: SubgraphKeyring;
  /** The header's value as received (`undefined` when absent; an array when sent more than once). */
  header: string | string[] | undefined;
  /** The exact bytes the request carried: the body, or for a GET the query string after `?`. */
  body: string | Buffer;
  /** Epoch ms. */
  now: number;
  /** How far the credential's timestamp may be from `now`, in seconds, either way. */
  toleranceSeconds: number;
  /** Accepted nonces (replay protection); without it a credential may be replayed within the tolerance. */
  nonces?: NonceCache;
}

/** Checks a request's credential; a nonce is recorded only once the signature is good. */
export function verifyRequest(options: VerifyOptions): CredentialCheck {
  const { header, keyring } = options;
  if (header === undefined || header === '') return { ok: false, reason: 'missing' };
  if (typeof header !== 'string' || header.length > 512) return { ok: false, reason: 'malformed' };
  const fields = new Map<string, string>();
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    const name = eq > 0 ? part.slice(0, eq).trim() : '';
    if (!['t', 'n', 'k', 'v1'].includes(name) || fields.has(name)) return { ok: false, reason: 'malformed' };
    fields.set(name, part.slice(eq + 1).trim());
  }
  const t = fields.get('t');
  const nonce = fields.get('n');
  const kid = fields.get('k');
  const signature = fields.get('v1');
  if (!t || !/^\d{1,12}$/.test(t) || !nonce || !NONCE.test(nonce) || !kid || !KEY_ID.test(kid) || !signature || !/^[0-9a-f]{64}$/.test(signature)) {
    return { ok: false, reason: 'malformed' };
  }
  const key = keyring.keys.find((k) => k.id === kid);
  if (!key) return { ok: false, reason: 'unknown_key' };
  const age = options.now / 1000 - Number(t);
  if (age > options.toleranceSeconds) return { ok: false, reason: 'expired' };
  if (age < -options.toleranceSeconds) return { ok: false, reason: 'future' };
  const expected = mac(key.secret, t, nonce, kid, options.body);
  if (!timingSafeEqual(expected, Buffer.from(signature, 'hex'))) return { ok: false, reason: 'bad_signature' };
  if (options.nonces?.seen(nonce)) return { ok: false, reason: 'replayed' };
  return { ok: true, keyId: kid };
}

/** A verifier with its own nonce cache: what a subgraph keeps for its lifetime. */
export interface CredentialVerifier {
  verify(header: string | string[] | undefined, body: string | Buffer): CredentialCheck;
}

/** Creates a verifier for `keyring`, remembering accepted nonces for twice the tolerance. */
export function createCredentialVerifier(options: { keyring: SubgraphKeyring; toleranceSeconds: number; now?: () => number; maxNonces?: number }): CredentialVerifier {
  const now = options.now ?? Date.now;
  // A credential is in time while |now - t| <= tolerance: a nonce first seen at t - tolerance may come
  // back until t + tolerance.
  const nonces = createNonceCache(2 * options.toleranceSeconds * 1000 + 1000, options.maxNonces, now);
  return {
    verify: (header, body) => verifyRequest({ keyring: options.keyring, header, body, now: now(), toleranceSeconds: options.toleranceSeconds, nonces }),
  };
}
