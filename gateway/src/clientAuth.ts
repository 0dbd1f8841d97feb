import { readFileSync, statSync } from 'node:fs';
import { type JWTPayload, type JWTVerifyGetKey, createLocalJWKSet, createRemoteJWKSet, errors as joseErrors, jwtVerify } from 'jose';
import type { Logger } from '../../kit/logger';
import type { KeyStore } from './clientKeys';

/** Who sent a request, and what they may do. */
export interface Client {
  /**
   * What logs, metrics, quotas and the audit log call the client: the key's name, or `jwt:<subject>`
   * (a key's name holds no `:`, so the two never meet).
   */
  name: string;
  /** How it authenticated; `internal`: the gateway itself (live links), which never crosses HTTP. */
  via: 'key' | 'jwt' | 'internal';
  scopes: ReadonlySet<string>;
  /** The key's own limits; `null` (and always for a JWT): the gateway's defaults. */
  ratePerMinute: number | null;
  dailyQuota: number | null;
}

/** The outcome of reading a request's credential. */
export type Authentication = { ok: true; client: Client } | { ok: false; reason: 'missing' | 'malformed' | 'key' | 'jwt'; message: string };

/** Where JWTs are checked against. */
export interface JwtOptions {
  /** A JWKS file path, or an http(s) URL that serves one. */
  jwks: string;
  issuer: string;
  audience: string;
  /** Seconds of clock difference allowed on `exp` and `nbf`. */
  clockToleranceSeconds: number;
}

/** Signature algorithms accepted for JWTs: asymmetric only, so that a public JWKS can never sign. */
const JWT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/** How often a JWKS file is checked for a new version, in ms. */
const JWKS_FILE_RECHECK_MS = 1000;

/**
 * Reads `Authorization: Bearer <credential>`: an API key of the key store (`tlr_…`), or a JWT signed
 * by a key of the configured JWKS with the configured issuer and audience, not expired. A JWT's
 * scopes are its `scope` claim (space-separated, RFC 9068) or `scp` (a list or a string).
 */
export function createClientAuthenticator(options: { keys?: KeyStore; jwt?: JwtOptions; logger: Logger }) {
  const { keys, jwt, logger } = options;
  const keySet = jwt ? jwksOf(jwt.jwks, logger) : undefined;

  return async function authenticate(header: string | string[] | undefined): Promise<Authentication> {
    if (header === undefined) return { ok: false, reason: 'missing', message: 'This request carries no credential: send Authorization: Bearer <API key or JWT>.' };
    const match = typeof header === 'string' ? /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header) : null;
    if (!match) return { ok: false, reason: 'malformed', message: 'The Authorization header must be "Bearer <API key or JWT>".' };
    const token = match[1];
    if (token.split('.').length === 3) {
      if (!keySet || !jwt) return { ok: false, reason: 'jwt', message: 'This gateway takes no JWTs (TAILOR_JWKS is not set); send an API key.' };
      return verifyJwt(token, keySet, jwt);
    }
    const key = keys?.verify(token);
    if (!key) return { ok: false, reason: 'key', message: 'The API key is unknown or revoked.' };
    return { ok: true, client: { name: key.name, via: 'key', scopes: new Set(key.scopes), ratePerMinute: key.ratePerMinute, dailyQuota: key.dailyQuota } };
  };
}

async function verifyJwt(token: string, keySet: JWTVerifyGetKey, options: JwtOptions): Promise<Authentication> {
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, keySet, {
      issuer: options.issuer,
      audience: options.audience,
      algorithms: JWT_ALGORITHMS,
      clockTolerance: options.clockToleranceSeconds,
      requiredClaims: ['exp', 'sub'],
    }));
  } catch (error) {
    return { ok: false, reason: 'jwt', message: `The JWT is not accepted: ${jwtRefusal(error)}.` };
  }
  const scopes = new Set<string>();
  const { scope, scp } = payload as { scope?: unknown; scp?: unknown };
  if (typeof scope === 'string') for (const s of scope.split(' ')) if (s) scopes.add(s);
  if (typeof scp === 'string') for (const s of scp.split(' ')) if (s) scopes.add(s);
  if (Array.isArray(scp)) for (const s of scp) if (typeof s === 'string' && s) scopes.add(s);
  return { ok: true, client: { name: `jwt:${String(payload.sub)}`, via: 'jwt', scopes, ratePerMinute: null, dailyQuota: null } };
}

/** Why jose refused a token, in words a client can act on (never the token's content). */
function jwtRefusal(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'it has expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `claim "${error.claim}" ${error.reason === 'check_failed' ? 'does not match' : 'is missing or invalid'}`;
  if (error instanceof joseErrors.JWKSNoMatchingKey) return 'no key of the JWKS matches its header';
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'the signature does not verify';
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'its algorithm is not accepted';
  if (error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JWKSInvalid) return 'the key set cannot be read at the moment';
  return 'it is malformed or not signed by a known key';
}

/** The key set of a JWKS file (read again when it changes) or URL (fetched and cached by jose). */
function jwksOf(source: string, logger: Logger): JWTVerifyGetKey {
  if (/^https?:\/\//.test(source)) return createRemoteJWKSet(new URL(source), { timeoutDuration: 2000, cooldownDuration: 30_000, cacheMaxAge: 600_000 });
  let current: { mtimeMs: number; keySet: JWTVerifyGetKey } | undefined;
  let checkedAt = 0;
  const load = (): JWTVerifyGetKey => {
    const now = Date.now();
    if (current && now - checkedAt < JWKS_FILE_RECHECK_MS) return current.keySet;
    checkedAt = now;
    const { mtimeMs } = statSync(source);
    if (current && current.mtimeMs === mtimeMs) return current.keySet;
    const keySet = createLocalJWKSet(JSON.parse(readFileSync(source, 'utf8')));
    if (current) logger.info({ jwks: source }, 'JWKS file changed: new keys in use');
    current = { mtimeMs, keySet };
    return keySet;
  };
  // Read once now, so that a missing or broken file stops the start-up instead of every request.
  try {
    load();
  } catch (error) {
    throw new Error(`The JWKS file ${source} cannot be read as a JSON Web Key Set: ${(error as Error).message}`);
  }
  return (header, token) => {
    let keySet: JWTVerifyGetKey;
    try {
      keySet = load();
    } catch (error) {
      logger.error({ jwks: source, err: { type: (error as Error).name } }, 'the JWKS file cannot be read; the last good keys stay in use');
      keySet = current!.keySet;
    }
    return keySet(header, token);
  };
}
