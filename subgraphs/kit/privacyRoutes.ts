import { isUtf8 } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../../kit/clock';
import { ErrorCode } from '../../kit/errors';
import { type Refusal, isJsonType } from '../../kit/http/handleGraphQLRequest';
import { BodyTooLargeError, readBodyBytes } from '../../kit/http/readBody';
import { sendError, sendJson } from '../../kit/http/sendJson';
import { isWellFormed } from '../../kit/isWellFormed';
import type { Logger } from '../../kit/logger';
import { formatDateTime } from './dateTime';

/**
 * What a subgraph does for the gateway's privacy operations (`eraseUser`, `exportUser`), which fan out
 * to every subgraph at `POST /privacy/erase` and `POST /privacy/export`. A subgraph without one holds
 * no personal data, and the kit answers so.
 */
export interface PrivacyHook {
  /** Deletes everything this subgraph holds of the user, drops every cache entry of theirs, and says how many records of each kind went; idempotent (a second call deletes 0). */
  erase(userId: string): Record<string, number> | Promise<Record<string, number>>;
  /** Everything this subgraph holds of the user, as JSON (an empty object when it holds nothing). */
  export(userId: string): Record<string, unknown> | Promise<Record<string, unknown>>;
}

/** The answer of `POST /privacy/erase`: the subgraph's receipt for one erasure. */
export interface ErasureReceipt {
  subgraph: string;
  /** False for a subgraph without a privacy hook: it holds no personal data, and deleted nothing. */
  holdsPersonalData: boolean;
  /** Records deleted, by kind (`{}` without a hook; every count 0 when nothing was left to delete). */
  deleted: Record<string, number>;
  /** When the erasure was done, by the subgraph's clock (ISO-8601, UTC). */
  erasedAt: string;
}

/** The answer of `POST /privacy/export`: what one subgraph holds of the user. */
export interface PersonalDataExport {
  subgraph: string;
  holdsPersonalData: boolean;
  /** The hook's export (`{}` without a hook, or when the subgraph holds nothing of the user). */
  data: Record<string, unknown>;
  /** When the export was read, by the subgraph's clock (ISO-8601, UTC). */
  exportedAt: string;
}

/** The privacy routes, and the operation each one runs. */
export const PRIVACY_ROUTES = { '/privacy/erase': 'erase', '/privacy/export': 'export' } as const;

/** Largest body a privacy route reads: `{"userId": …}` needs far less. */
export const PRIVACY_MAX_BODY_BYTES = 16 * 1024;

/** Longest `userId` accepted, in characters. */
export const PRIVACY_MAX_USER_ID_LENGTH = 256;

/** Options of `createPrivacyRoutes`. */
export interface PrivacyRouteOptions {
  /** The subgraph's name, as the receipts give it. */
  name: string;
  /** The subgraph's hook; absent: it holds no personal data. */
  hook?: PrivacyHook;
  logger: Logger;
  /** The clock of `erasedAt` and `exportedAt`. */
  clock: Clock;
  /** The gateway credential check of `/graphql`, over the exact body bytes; absent: every caller is let in. */
  authenticate?: (req: IncomingMessage, signed: Buffer) => Refusal | undefined;
}

/**
 * Creates the handlers of `POST /privacy/erase` and `POST /privacy/export`, by path. A request is
 * refused before the hook runs unless it is a POST of JSON, within `PRIVACY_MAX_BODY_BYTES`, with the
 * gateway credential over its exact bytes and a body `{"userId": "<id>"}`. The log gets one line per
 * operation with the counts, never the user id nor any value of theirs.
 */
export function createPrivacyRoutes(options: PrivacyRouteOptions): Map<string, (req: IncomingMessage, res: ServerResponse) => Promise<void>> {
  const { name, hook, logger, clock, authenticate } = options;

  async function erase(userId: string): Promise<ErasureReceipt> {
    const deleted = hook ? await hook.erase(userId) : {};
    logger.info({ subgraph: name, operation: 'erase', holdsPersonalData: hook !== undefined, deleted }, 'erased a user');
    return { subgraph: name, holdsPersonalData: hook !== undefined, deleted, erasedAt: formatDateTime(clock.now()) };
  }

  async function exportData(userId: string): Promise<PersonalDataExport> {
    const data = hook ? await hook.export(userId) : {};
    logger.info({ subgraph: name, operation: 'export', holdsPersonalData: hook !== undefined, exported: countsOf(data) }, 'exported a user');
    return { subgraph: name, holdsPersonalData: hook !== undefined, data, exportedAt: formatDateTime(clock.now()) };
  }

  const run = { erase, export: exportData };
  const handlers = new Map<string, (req: IncomingMessage, res: ServerResponse) => Promise<void>>();
  for (const [path, operation] of Object.entries(PRIVACY_ROUTES)) {
    handlers.set(path, async (req, res) => {
      if (req.method !== 'POST') {
        req.resume();
        res.setHeader('allow', 'POST');
        return sendError(res, 405, ErrorCode.METHOD_NOT_ALLOWED, `Use POST for ${path}, with the body {"userId": "<id>"}.`);
      }
      // No Content-Type is read as JSON, as on /ingest/*; any other type is refused.
      if (req.headers['content-type'] !== undefined && !isJsonType(req.headers['content-type'])) {
        req.resume();
        return sendError(res, 415, ErrorCode.UNSUPPORTED_MEDIA_TYPE, `Send the body of ${path} as JSON, with Content-Type: application/json.`);
      }
      let bytes: Buffer;
      try {
        bytes = await readBodyBytes(req, PRIVACY_MAX_BODY_BYTES);
      } catch (error) {
        if (!(error instanceof BodyTooLargeError)) throw error;
        return sendError(res, 413, ErrorCode.BATCH_TOO_LARGE, `${error.message} The body of ${path} is {"userId": "<id>"}.`, { limitBytes: PRIVACY_MAX_BODY_BYTES });
      }
      // The exact bytes received are checked before anything of them is parsed, and nothing is read or deleted without it.
      const refused = authenticate?.(req, bytes);
      if (refused) {
        for (const [header, value] of Object.entries(refused.headers ?? {})) res.setHeader(header, value);
        return sendError(res, refused.status, refused.code, refused.message, refused.extensions);
      }
      const input = readUserId(bytes);
      if ('problem' in input) return sendError(res, 400, ErrorCode.BAD_USER_INPUT, input.problem, input.field ? { field: input.field } : {});
      let answer: ErasureReceipt | PersonalDataExport;
      try {
        answer = await run[operation](input.userId);
      } catch (error) {
        logger.error({ subgraph: name, operation, ...errorFacts(error) }, `the privacy ${operation} hook failed`);
        return sendError(res, 500, ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error. The details are in the server log.');
      }
      sendJson(res, 200, answer, { 'cache-control': 'no-store' });
    });
  }
  return handlers;
}

/** The `userId` of a privacy body, or what is wrong with the body, said so the caller can fix it. */
function readUserId(bytes: Buffer): { userId: string } | { problem: string; field?: string } {
  const shape = 'The body must be a JSON object {"userId": "<id>"}.';
  // Only well-formed UTF-8 stands for exactly one id: other bytes would decode to U+FFFD.
  if (!isUtf8(bytes)) return { problem: `The body is not well-formed UTF-8. ${shape}` };
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { problem: `The request body is not valid JSON. ${shape}` };
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return { problem: shape };
  const unknown = Object.keys(body).filter((key) => key !== 'userId');
  if (unknown.length > 0) return { problem: `Unknown field${unknown.length === 1 ? '' : 's'} ${unknown.map((k) => JSON.stringify(k)).join(', ')}: ${shape}` };
  const { userId } = body as { userId?: unknown };
  if (userId === undefined) return { problem: `userId is missing. ${shape}`, field: 'userId' };
  if (typeof userId !== 'string') return { problem: `userId must be a string, not ${userId === null ? 'null' : typeof userId}.`, field: 'userId' };
  if (userId.length === 0) return { problem: 'userId must not be empty.', field: 'userId' };
  if (userId.length > PRIVACY_MAX_USER_ID_LENGTH) return { problem: `userId must be at most ${PRIVACY_MAX_USER_ID_LENGTH} characters.`, field: 'userId' };
  if (!isWellFormed(userId)) return { problem: 'userId must be well-formed Unicode text (it holds a lone UTF-16 surrogate).', field: 'userId' };
  return { userId };
}

/** How many entries of each kind an export holds: a list counts its items, a value 1, null 0. */
function countsOf(data: Record<string, unknown>): Record<string, number> {
  return Object.fromEntries(Object.entries(data).map(([kind, value]) => [kind, Array.isArray(value) ? value.length : value === null || value === undefined ? 0 : 1]));
}

/** What may be logged of an error: its type, code and stack frames, never its message, which may quote a user's data. */
function errorFacts(error: unknown): { errorType: string; errorCode?: string; frames: string[] } {
  const err = error instanceof Error ? error : undefined;
  const frames = err?.stack?.split('\n').filter((line) => /^\s+at /.test(line)).map((line) => line.trim()) ?? [];
  return { errorType: err?.name ?? typeof error, errorCode: (err as NodeJS.ErrnoException | undefined)?.code, frames };
}
