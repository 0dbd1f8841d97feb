import fc from 'fast-check';
import { type LinkClaims, MAX_TOKEN_LENGTH, openLinkToken, sealLinkToken } from '../kit/linkToken';
import { parseSubgraphKeys } from '../kit/subgraphCredential';

const OLD = 'old-link-key-0123456789abcdef0123456789abcdef';
const NEW = 'new-link-key-0123456789abcdef0123456789abcdef';
const keys = parseSubgraphKeys(`k1=${OLD}`);
const claims: LinkClaims = {
  userId: 'u-00042',
  campaign: 'spring-sale',
  slot: 1,
  skus: ['SKU-00012', 'SKU-00345', 'SKU-01234', 'SKU-00001'],
  expiresAt: Date.parse('2026-12-28T12:00:00Z'),
};

describe('live link tokens', () => {
  it('open to the claims they were sealed with', () => {
    const token = sealLinkToken(keys, claims);
    expect(openLinkToken(keys, token)).toEqual({ ok: true, claims, keyId: 'k1' });
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it('round-trip any claims', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 64 }),
        fc.option(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/), { nil: null }),
        fc.array(fc.string({ minLength: 1, maxLength: 20 }), { minLength: 1, maxLength: 50 }),
        fc.nat(),
        fc.integer({ min: 0, max: 4_102_444_800 }),
        (userId, campaign, skus, slotSeed, expiresAtSeconds) => {
          const sealed: LinkClaims = { userId, campaign, skus, slot: slotSeed % skus.length, expiresAt: expiresAtSeconds * 1000 };
          expect(openLinkToken(keys, sealLinkToken(keys, sealed))).toEqual({ ok: true, claims: sealed, keyId: 'k1' });
        },
      ),
    );
  });

  it('hold nothing readable: no recipient, campaign or SKU appears in the token or its bytes', () => {
    const token = sealLinkToken(keys, claims);
    const bytes = Buffer.from(token, 'base64url').toString('latin1');
    for (const plain of [claims.userId, claims.campaign!, ...claims.skus, '00042', 'spring']) {
      expect(token).not.toContain(plain);
      expect(bytes).not.toContain(plain);
    }
  });

  it('are the same for the same claims, and differ for any other slot, product or recipient', () => {
    const token = sealLinkToken(keys, claims);
    expect(sealLinkToken(keys, { ...claims })).toBe(token);
    expect(sealLinkToken(keys, { ...claims, slot: 2 })).not.toBe(token);
    expect(sealLinkToken(keys, { ...claims, userId: 'u-00043' })).not.toBe(token);
    expect(sealLinkToken(keys, { ...claims, skus: [...claims.skus.slice(0, 3), 'SKU-00002'] })).not.toBe(token);
  });

  it('fail to open when any byte is changed', () => {
    const token = sealLinkToken(keys, claims);
    const bytes = Buffer.from(token, 'base64url');
    for (let i = 0; i < bytes.length; i++) {
      for (const flip of [0x01, 0x80, 0xff]) {
        const changed = Buffer.from(bytes);
        changed[i] ^= flip;
        const check = openLinkToken(keys, changed.toString('base64url'));
        expect(check.ok).toBe(false);
      }
    }
  });

  it('fail to open when any character is changed, cut off or added', () => {
    const token = sealLinkToken(keys, claims);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    fc.assert(
      fc.property(fc.nat({ max: token.length - 1 }), fc.constantFrom(...alphabet), (at, char) => {
        fc.pre(token[at] !== char);
        expect(openLinkToken(keys, token.slice(0, at) + char + token.slice(at + 1)).ok).toBe(false);
      }),
    );
    for (let cut = 0; cut < token.length; cut++) expect(openLinkToken(keys, token.slice(0, cut)).ok).toBe(false);
    expect(openLinkToken(keys, `${token}A`).ok).toBe(false);
  });

  it('say why a token does not open, and never throw on any string', () => {
    expect(openLinkToken(keys, '')).toEqual({ ok: false, reason: 'malformed' });
    expect(openLinkToken(keys, 'not a token!')).toEqual({ ok: false, reason: 'malformed' });
    expect(openLinkToken(keys, 'A'.repeat(MAX_TOKEN_LENGTH + 1))).toEqual({ ok: false, reason: 'malformed' });
    expect(openLinkToken(keys, sealLinkToken(parseSubgraphKeys(`k2=${NEW}`), claims))).toEqual({ ok: false, reason: 'unknown_key' });
    // The same key id with another secret: a forgery.
    expect(openLinkToken(keys, sealLinkToken(parseSubgraphKeys(`k1=${NEW}`), claims))).toEqual({ ok: false, reason: 'tampered' });
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (text) => {
        expect(openLinkToken(keys, text).ok).toBe(false);
      }),
    );
  });

  it('rotate: a new key seals, tokens of the old one open while it is listed, and fail once it is retired', () => {
    const old = sealLinkToken(keys, claims);
    const rotated = parseSubgraphKeys(`k2=${NEW},k1=${OLD}`);
    const fresh = sealLinkToken(rotated, claims);
    expect(openLinkToken(rotated, fresh)).toEqual({ ok: true, claims, keyId: 'k2' });
    expect(openLinkToken(rotated, old)).toEqual({ ok: true, claims, keyId: 'k1' });
    const retired = parseSubgraphKeys(`k2=${NEW}`);
    expect(openLinkToken(retired, fresh).ok).toBe(true);
    expect(openLinkToken(retired, old)).toEqual({ ok: false, reason: 'unknown_key' });
  });
});
