import { createCipheriv, createDecipheriv, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { type SubgraphKeyring, subgraphSecretSchema } from './subgraphCredential';

/**
 * The token of a live link (`/r/<token>`) and a live image (`/i/<token>.png`): which recipient, which
 * campaign, which slot of the email, every slot's product, and until when the link holds.
 *
 * An email's links end up in ESP logs, click trackers and forwarded mail, so the token is opaque and
 * holds no personal data in readable form. It is deterministic authenticated encryption (SIV): the
 * synthetic IV is an HMAC-SHA256 (truncated to 16 bytes) of the key id and the claims, under a key
 * derived for that purpose; the claims are encrypted with AES-256-CTR under that IV and a second derived
 * key. Opening decrypts and recomputes the HMAC: a change to any byte fails. The same claims give the
 * same token, so answers stay deterministic.
 *
 *     base64url( 0x01 | kid length | kid | IV (16) | ciphertext )
 *
 * Keys rotate like `TAILOR_SUBGRAPH_SECRET`: `TAILOR_LINK_KEYS=new=…,old=…`. The first key signs; every
 * key listed opens. A token of a key no longer listed (retired) fails to open.
 */

/** What a link token names. */
export interface LinkClaims {
  /** The recipient (`User.id`). */
  userId: string;
  /** The campaign or send the email belongs to, as the template named it; `null` when it named none. */
  campaign: string | null;
  /** The slot of this link in the email's list, from 0. */
  slot: number;
  /** The product of every slot of the email, in slot order: `skus[slot]` is this link's product. */
  skus: string[];
  /** Epoch ms after which the link only leads to the fallback page. */
  expiresAt: number;
}

/** Why a token does not open. */
export type LinkTokenRefusal = 'malformed' | 'unknown_key' | 'tampered';

/** The outcome of `openLinkToken`. */
export type LinkTokenCheck = { ok: true; claims: LinkClaims; keyId: string } | { ok: false; reason: LinkTokenRefusal };

const VERSION = 1;
const IV_BYTES = 16;
/** Longest token accepted, in characters: far above any real one (a few hundred), far below a URL limit. */
export const MAX_TOKEN_LENGTH = 4096;

/** The zod schema of `TAILOR_LINK_KEYS`: unset, or a keyring in the form of `TAILOR_SUBGRAPH_SECRET`. */
export const linkKeysSchema = subgraphSecretSchema;

interface DerivedKey {
  id: string;
  idBytes: Buffer;
  macKey: Buffer;
  encKey: Buffer;
}

const derived = new WeakMap<SubgraphKeyring, DerivedKey[]>();
function derive(keyring: SubgraphKeyring): DerivedKey[] {
  let keys = derived.get(keyring);
  if (!keys) {
    keys = keyring.keys.map((key) => ({
      id: key.id,
      idBytes: Buffer.from(key.id, 'latin1'),
      macKey: Buffer.from(hkdfSync('sha256', key.secret, 'tailor-link', 'mac', 32)),
      encKey: Buffer.from(hkdfSync('sha256', key.secret, 'tailor-link', 'enc', 32)),
    }));
    derived.set(keyring, keys);
  }
  return keys;
}

const syntheticIv = (key: DerivedKey, plaintext: Buffer) => createHmac('sha256', key.macKey).update(key.idBytes).update(plaintext).digest().subarray(0, IV_BYTES);
const ctr = (key: Buffer, iv: Buffer, input: Buffer, encrypt: boolean) => {
  const cipher = encrypt ? createCipheriv('aes-256-ctr', key, iv) : createDecipheriv('aes-256-ctr', key, iv);
  return Buffer.concat([cipher.update(input), cipher.final()]);
};

/** Seals `claims` with the first key of `keyring`. */
export function sealLinkToken(keyring: SubgraphKeyring, claims: LinkClaims): string {
  const key = derive(keyring)[0];
  if (!key) throw new Error('sealLinkToken: the keyring holds no key');
  const plaintext = Buffer.from(JSON.stringify([claims.userId, claims.campaign, claims.slot, claims.skus, Math.floor(claims.expiresAt / 1000)]), 'utf8');
  const iv = syntheticIv(key, plaintext);
  return Buffer.concat([Buffer.from([VERSION, key.idBytes.length]), key.idBytes, iv, ctr(key.encKey, iv, plaintext, true)]).toString('base64url');
}

/** Opens a token sealed by any key of `keyring`; says why when it cannot. Never throws. */
export function openLinkToken(keyring: SubgraphKeyring, token: string): LinkTokenCheck {
  if (token.length === 0 || token.length > MAX_TOKEN_LENGTH || !/^[A-Za-z0-9_-]+$/.test(token)) return { ok: false, reason: 'malformed' };
  const bytes = Buffer.from(token, 'base64url');
  // Base64url has one spelling per byte string: any other (stray trailing bits) is a changed token.
  if (bytes.toString('base64url') !== token) return { ok: false, reason: 'tampered' };
  if (bytes.length < 2 || bytes[0] !== VERSION) return { ok: false, reason: 'malformed' };
  const idLength = bytes[1];
  if (idLength === 0 || bytes.length <= 2 + idLength + IV_BYTES) return { ok: false, reason: 'malformed' };
  // latin1, not ascii: ascii decoding drops the top bit, and a changed byte would name the same key.
  const id = bytes.subarray(2, 2 + idLength).toString('latin1');
  const key = derive(keyring).find((k) => k.id === id);
  if (!key) return { ok: false, reason: 'unknown_key' };
  const iv = bytes.subarray(2 + idLength, 2 + idLength + IV_BYTES);
  const plaintext = ctr(key.encKey, iv, bytes.subarray(2 + idLength + IV_BYTES), false);
  if (!timingSafeEqual(syntheticIv(key, plaintext), iv)) return { ok: false, reason: 'tampered' };
  const claims = claimsOf(plaintext);
  // A token that authenticates but does not parse was sealed by something else holding the key.
  return claims ? { ok: true, claims, keyId: id } : { ok: false, reason: 'malformed' };
}

function claimsOf(plaintext: Buffer): LinkClaims | undefined {
  let value: unknown;
  try {
    value = JSON.parse(plaintext.toString('utf8'));
  } catch {
    return undefined;
  }
  if (!Array.isArray(value) || value.length !== 5) return undefined;
  const [userId, campaign, slot, skus, expiresAtSeconds] = value as unknown[];
  if (typeof userId !== 'string' || (campaign !== null && typeof campaign !== 'string')) return undefined;
  if (!Array.isArray(skus) || !skus.every((s) => typeof s === 'string')) return undefined;
  if (typeof slot !== 'number' || !Number.isInteger(slot) || slot < 0 || slot >= skus.length) return undefined;
  if (typeof expiresAtSeconds !== 'number' || !Number.isFinite(expiresAtSeconds)) return undefined;
  return { userId, campaign, slot, skus: skus as string[], expiresAt: expiresAtSeconds * 1000 };
}
