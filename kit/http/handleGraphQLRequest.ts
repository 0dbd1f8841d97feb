import type { IncomingMessage, ServerResponse } from 'node:http';
import { HeaderMap, type ApolloServer, type BaseContext } from '@apollo/server';
import { Lexer, Source, TokenKind } from 'graphql';
import { ErrorCode } from '../errors';
import { parseRequestTarget } from './parseRequestTarget';
import { BodyTooLargeError, readBodyBytes } from './readBody';
import { sendGraphQLError } from './sendJson';

/** Why a request is refused before it runs: the HTTP status and the error a client gets. */
export interface Refusal {
  status: number;
  code: ErrorCode;
  message: string;
  extensions?: Record<string, unknown>;
  /** Headers of the answer, e.g. `Retry-After`. */
  headers?: Record<string, string>;
}

/** Options of `handleGraphQLRequest`. */
export interface GraphQLHttpOptions<TContext extends BaseContext> {
  maxBodyBytes: number;
  context: (req: IncomingMessage) => Promise<TContext>;
  /** Most operations in one HTTP-batched request (a JSON array); more get 413. Unset: no batches. */
  maxBatchOperations?: number;
  /**
   * Looks at every operation of a request (`{ query, operationName, variables, extensions }`, as sent,
   * from a POST body or a GET query string) before any of it runs; a returned refusal answers the
   * whole request with its status and a GraphQL error.
   */
  vetOperations?: (operations: unknown[]) => Refusal | undefined | Promise<Refusal | undefined>;
  /**
   * Deepest nesting of `{`, `[` and `(` an operation's text may have (default 64). graphql-js parses
   * by recursion, which costs milliseconds per thousand levels and overflows the stack past some
   * thousands; the lexer sees the nesting first, in microseconds.
   */
  maxNesting?: number;
  /** The parser's token limit, which also bounds the nesting scan (default 2,000). */
  maxTokens?: number;
  /**
   * Checks who sent the request before any of it is read as GraphQL: given the exact bytes that are
   * then parsed (a POST's body, read within `maxBodyBytes`; a GET's query string after `?`, as sent).
   * A returned refusal answers the request; nothing is parsed or run.
   */
  authenticate?: (req: IncomingMessage, signed: Buffer) => Refusal | undefined;
}

/**
 * Serves one GraphQL-over-HTTP request (GET or POST) through Apollo Server, with a body size limit
 * and a clear answer for a body that is not JSON.
 */
export async function handleGraphQLRequest<TContext extends BaseContext>(
  server: ApolloServer<TContext>,
  req: IncomingMessage,
  res: ServerResponse,
  options: GraphQLHttpOptions<TContext>,
): Promise<void> {
  const target = parseRequestTarget(req.url);
  const searchParams = target?.searchParams ?? new URLSearchParams();
  const search = target?.search ?? '';
  let body: unknown;
  if (req.method !== 'GET' && req.method !== 'POST') {
    res.setHeader('allow', 'GET, POST');
    return sendGraphQLError(res, 405, ErrorCode.METHOD_NOT_ALLOWED, `Use POST (or GET) for GraphQL, not ${req.method}.`);
  }
  if (req.method === 'GET' && options.authenticate) {
    const raw = req.url ?? '';
    const refused = options.authenticate(req, Buffer.from(raw.includes('?') ? raw.slice(raw.indexOf('?') + 1) : '', 'latin1'));
    if (refused) return sendGraphQLError(res, refused.status, refused.code, refused.message, refused.extensions);
  }
  if (req.method === 'POST') {
    let bytes: Buffer;
    try {
      bytes = await readBodyBytes(req, options.maxBodyBytes);
    } catch (error) {
      if (error instanceof BodyTooLargeError) {
        return sendGraphQLError(res, 413, ErrorCode.BATCH_TOO_LARGE, error.message);
      }
      throw error;
    }
    const refused = options.authenticate?.(req, bytes);
    if (refused) return sendGraphQLError(res, refused.status, refused.code, refused.message, refused.extensions);
    const text = bytes.toString('utf8');
    if (!isJsonType(req.headers['content-type'])) {
      return sendGraphQLError(res, 415, ErrorCode.UNSUPPORTED_MEDIA_TYPE, 'Send the operation as JSON, with Content-Type: application/json.');
    }
    try {
      body = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      return sendGraphQLError(res, 400, ErrorCode.BAD_USER_INPUT, 'The request body is not valid JSON.');
    }
  }
  const operations: unknown[] = req.method === 'POST' ? (Array.isArray(body) ? body : [body]) : [operationFromSearch(searchParams)];
  if (Array.isArray(body) && options.maxBatchOperations !== undefined && body.length > options.maxBatchOperations) {
    return sendGraphQLError(
      res,
      413,
      ErrorCode.BATCH_TOO_LARGE,
      `The batch has ${body.length} operations; the limit is ${options.maxBatchOperations}. Split it into smaller batches.`,
    );
  }
  const refusal = shapeProblem(operations, options.maxNesting ?? 64, options.maxTokens ?? 2000) ?? (await options.vetOperations?.(operations));
  if (refusal) {
    for (const [name, value] of Object.entries(refusal.headers ?? {})) res.setHeader(name, value);
    return sendGraphQLError(res, refusal.status, refusal.code, refusal.message, refusal.extensions);
  }
  const headers = new HeaderMap();
  for (const [key, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
  }
  const response = await server.executeHTTPGraphQLRequest({
    httpGraphQLRequest: { method: req.method ?? 'GET', headers, search, body },
    context: () => options.context(req),
  });
  for (const [key, value] of response.headers) res.setHeader(key, value);
  res.statusCode = response.status ?? 200;
  // Apollo gives a batch the status of one of its failed operations; but each operation of a batch
  // carries its own errors, so the batch as a whole succeeded.
  if (Array.isArray(body) && response.body.kind === 'complete' && response.body.string.startsWith('[')) res.statusCode = 200;
  if (response.body.kind === 'complete') {
    res.end(response.body.string);
    return;
  }
  for await (const chunk of response.body.asyncIterator) res.write(chunk);
  res.end();
}

/** A GET request's operation, as a POST body would carry it (`variables` and `extensions` JSON-decoded). */
function operationFromSearch(search: URLSearchParams): { query?: string; operationName?: string; variables?: unknown; extensions?: unknown } {
  const json = (name: string): unknown => {
    try {
      return search.has(name) ? JSON.parse(search.get(name)!) : undefined;
    } catch {
      return undefined; // Apollo Server answers the malformed parameter itself
    }
  };
  return { query: search.get('query') ?? undefined, operationName: search.get('operationName') ?? undefined, variables: json('variables'), extensions: json('extensions') };
}

/** True for `application/json` and `application/<anything>+json`, with any parameters. */
export function isJsonType(header: string | undefined): boolean {
  const type = (header ?? '').split(';')[0].trim().toLowerCase();
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}

/**
 * What is wrong with the shape of any operation of a request before Apollo Server reads it: an empty
 * `operationName`, a persisted-query hash that is not a string, or text nested deeper than `maxNesting`.
 */
function shapeProblem(operations: unknown[], maxNesting: number, maxTokens: number): Refusal | undefined {
  for (const raw of operations) {
    if (!raw || typeof raw !== 'object') continue;
    const { query, operationName } = raw as { query?: unknown; operationName?: unknown };
    if (operationName === '') {
      return { status: 400, code: ErrorCode.OPERATION_RESOLUTION_FAILURE, message: 'Unknown operation named "": leave operationName out, or name an operation of the document.' };
    }
    const hash = persistedHashOf(raw);
    if (hash !== undefined && typeof hash !== 'string') {
      return { status: 400, code: ErrorCode.BAD_REQUEST, message: 'extensions.persistedQuery.sha256Hash must be a string: the hex sha256 of the operation text.' };
    }
    if (typeof query !== 'string') continue;
    const nesting = nestingOf(query, maxTokens);
    if (nesting > maxNesting) {
      return { status: 400, code: ErrorCode.GRAPHQL_PARSE_FAILED, message: `Syntax Error: the document nests ${nesting} levels deep; the limit is ${maxNesting}.`, extensions: { limit: maxNesting } };
    }
  }
  return undefined;
}

/**
 * The deepest nesting of `{`, `[` and `(` within the first `maxTokens` tokens of `text` (the parser
 * refuses a longer document anyway); 0 when the lexer cannot read it (the parser will say why).
 */
function nestingOf(text: string, maxTokens: number): number {
  const lexer = new Lexer(new Source(text));
  let depth = 0;
  let deepest = 0;
  try {
    for (let n = 0; n < maxTokens; n++) {
      const token = lexer.advance();
      if (token.kind === TokenKind.EOF) break;
      if (token.kind === TokenKind.BRACE_L || token.kind === TokenKind.BRACKET_L || token.kind === TokenKind.PAREN_L) deepest = Math.max(deepest, ++depth);
      else if (token.kind === TokenKind.BRACE_R || token.kind === TokenKind.BRACKET_R || token.kind === TokenKind.PAREN_R) depth--;
    }
  } catch {
    return 0;
  }
  return deepest;
}

/** `extensions.persistedQuery.sha256Hash` of an operation as sent, whatever its type; `undefined` when absent. */
export function persistedHashOf(operation: unknown): unknown {
  const persisted = (operation as { extensions?: { persistedQuery?: unknown } } | null | undefined)?.extensions?.persistedQuery;
  return persisted && typeof persisted === 'object' ? (persisted as { sha256Hash?: unknown }).sha256Hash : undefined;
}
